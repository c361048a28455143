package app

import (
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/console"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// ConsoleServices are the services the console pages call: the admin API's own and the corpus
// service, so the pages and the API apply the same rules.
func (a *App) ConsoleServices() console.Services {
	return console.Services{
		Admin:   a.AdminService(),
		Series:  &postgres.UsageStore{Pool: a.Pool},
		Corpora: a.CorpusService(),
	}
}

// mountConsole serves /console and /console/ with the console. /console is the console's own (a
// redirect under the public base path), not the mux's, whose redirect would leave the stage.
func (a *App) mountConsole(mux *http.ServeMux) {
	c, err := console.New(console.Config{Local: a.Config.Local, PublicBasePath: a.Config.PublicBasePath, Throttle: a.Throttle}, a.ConsoleServices(), a.Catalog,
		&console.Sessions{Rows: &postgres.ConsoleSessionStore{Pool: a.Pool}}, a.Log, nil)
	if err != nil {
		// The templates are embedded and parsed by the console's tests, and config.Load checks the
		// base path; a build that passed them cannot get here.
		panic(err)
	}
	mux.Handle("/console", c)
	mux.Handle("/console/", c)
}
