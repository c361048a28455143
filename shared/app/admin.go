package app

import (
	"context"
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/postgres"
	"github.com/switchyard-ai/switchyard/shared/upstream"
)

// AdminService builds the operator services on the app's pool: the console calls them directly.
// Provider credentials are sealed with a.Sealer; a.Upstream verifies providers and probes models.
func (a *App) AdminService() *admin.Service {
	svc := &admin.Service{
		Store:      &postgres.CatalogStore{Pool: a.Pool, Sealer: a.Sealer},
		UsageStore: &postgres.UsageStore{Pool: a.Pool},
		Limits:     &postgres.CapacityStore{Pool: a.Pool},
		Health:     &postgres.HealthStore{Pool: a.Pool},
		CheckBaseURL: func(u string) error {
			return upstream.CheckBaseURLHost(u, a.Config.AllowLoopback)
		},
		CheckCABundle: upstream.CheckCABundle,
		Log:           a.Log,
	}
	if a.Upstream != nil {
		svc.Verifier, svc.Prober = a.Upstream, a.Upstream
	}
	return svc
}

// CorpusService builds the operator's corpus service on a.Corpora: the admin API and the console
// call it, and it checks roles itself.
func (a *App) CorpusService() *admin.Corpora {
	return &admin.Corpora{Reembed: a.Corpora, Catalog: a.Catalog, Kick: func(ctx context.Context, reason string) {
		if a.Kick != nil {
			a.Kick(ctx, reason)
		}
	}}
}

// AdminHandler serves /admin/*, authenticating admins against the catalogue snapshot, with failed
// tokens throttled by a.Throttle. Corpus and re-embed routes are served by the same handler, so they
// share its authentication, decoder, errors, fallback and the OpenAPI check.
func (a *App) AdminHandler() http.Handler {
	return admin.NewHandler(a.AdminService(), a.Catalog, a.Log).Throttle(a.Throttle).ServeCorpora(a.CorpusService())
}
