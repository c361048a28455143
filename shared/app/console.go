package app

import (
	"context"
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// ConsoleServices are the services the console pages call: the admin API's own and the corpus
// service, so the pages and the API apply the same rules.
func (a *App) ConsoleServices() console.Services {
	return console.Services{
		Admin:  a.AdminService(),
		Series: &postgres.UsageStore{Pool: a.Pool},
		Corpora: console.ReembedCorpora{Service: a.Corpora, Kick: func(ctx context.Context, reason string) {
			if a.Kick != nil {
				a.Kick(ctx, reason)
			}
		}},
	}
}

// consoleHandler serves /console/.
func (a *App) consoleHandler() http.Handler {
	c, err := console.New(console.Config{Local: a.Config.Local, Throttle: a.Throttle}, a.ConsoleServices(), a.Catalog,
		&console.PGSessions{Pool: a.Pool}, a.Log, nil)
	if err != nil {
		// The templates are embedded and parsed by the console's tests; a build that passed them
		// cannot get here.
		panic(err)
	}
	return c
}
