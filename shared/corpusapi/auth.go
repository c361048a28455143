package corpusapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reqlog"
)

// Snapshots hands out the current catalogue (catalog.Source does).
type Snapshots interface {
	Get(ctx context.Context) (*catalog.Snapshot, error)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// SnapshotKeyAuth is a plain KeyAuth over the catalogue snapshot: the bearer key looked up by its hash.
// The gateway brings its own (with the request log); this one serves tests and local wiring.
func SnapshotKeyAuth(src Snapshots) KeyAuth {
	return func(r *http.Request) (*catalog.Key, *catalog.Snapshot, *apierror.Error) {
		snap, err := src.Get(r.Context())
		if err != nil {
			return nil, nil, apierror.Internal("")
		}
		if k := snap.Keys[catalog.HashSecret(bearer(r))]; k != nil {
			return k, snap, nil
		}
		return nil, nil, apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAPIKey, "",
			"the API key is missing, unknown or revoked; send it as Authorization: Bearer sk-...")
	}
}

// SnapshotAdminAuth is a plain AdminAuth over the catalogue snapshot: the bearer token looked up by
// its hash. The admin function uses AdminAuthFrom over the admin API's own check instead.
func SnapshotAdminAuth(src Snapshots) AdminAuth {
	return AdminAuthFrom(nil, func(r *http.Request) (*catalog.Admin, error) {
		snap, err := src.Get(r.Context())
		if err != nil {
			return nil, err
		}
		a := snap.Admins[catalog.HashSecret(bearer(r))]
		if a == nil {
			return nil, apierror.New(http.StatusUnauthorized, apierror.AuthenticationError, apierror.CodeInvalidAdminToken, "",
				"the admin token is missing, unknown or revoked; send it as Authorization: Bearer <token>")
		}
		return a, nil
	})
}

// AdminAuthFrom is the AdminAuth of an admin check (admin.Handler.Authenticate, which also
// throttles failures): the admin it finds, its role checked on the catalogue area. An error that
// is not SPEC's is logged to log (when not nil) and answered as an internal error.
func AdminAuthFrom(log *slog.Logger, authenticate func(r *http.Request) (*catalog.Admin, error)) AdminAuth {
	return func(r *http.Request, write bool) (*catalog.Admin, *apierror.Error) {
		a, err := authenticate(r)
		if err != nil {
			if e, ok := apierror.As(err); ok {
				return nil, e
			}
			if log != nil {
				reqlog.Logger(r.Context(), log).Error("authenticate an admin", "err", err)
			}
			return nil, apierror.Internal(reqlog.ID(r.Context()))
		}
		if !a.Role.Can(catalog.AreaCatalog, write) {
			return nil, apierror.New(http.StatusForbidden, apierror.PermissionError, apierror.CodeForbidden, "",
				"role %s may not change corpora or re-embeds", a.Role)
		}
		return a, nil
	}
}
