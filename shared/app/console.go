package app

import (
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/reembed"
)

// ConsoleServices are the services the console pages call: the admin API's own, so the pages and
// the API apply the same rules, and the corpus service (insert-only here: the worker embeds).
func (a *App) ConsoleServices() console.Services {
	s := console.Services{
		Admin:  a.AdminService(),
		Series: &postgres.UsageStore{Pool: a.Pool},
	}
	if rs, err := reembed.New(a.Pool, a.Catalog, nil, reembed.Config{InsertOnly: true, Log: a.Log}); err != nil {
		a.Log.Error("console: corpora are unavailable", "err", err)
	} else {
		s.Corpora = console.ReembedCorpora{Service: rs}
	}
	return s
}

// consoleHandler serves /console/.
func (a *App) consoleHandler() http.Handler {
	c, err := console.New(console.Config{Local: a.Config.Local}, a.ConsoleServices(), a.Catalog,
		&console.PGSessions{Pool: a.Pool}, a.Log, nil)
	if err != nil {
		// The templates are embedded and parsed by the console's tests; a build that passed them
		// cannot get here.
		panic(err)
	}
	return c
}
