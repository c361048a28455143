package corpusapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
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
