package app

import (
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// consoleServices are the services the console pages call: the admin API's own, so the pages and the
// API apply the same rules. Surfaces this build does not have yet stay nil, and their pages say so.
func (a *App) consoleServices() console.Services {
	return console.Services{}
}

// consoleHandler serves /console/.
func (a *App) consoleHandler() http.Handler {
	c, err := console.New(console.Config{Local: a.Config.Local}, a.consoleServices(), a.Catalog,
		&postgres.ConsoleSessions{Pool: a.Pool}, a.Log, nil)
	if err != nil {
		// The templates are embedded and parsed in the console's tests; this cannot happen in a build
		// that passed them.
		panic(err)
	}
	return c
}
