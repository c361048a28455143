package console

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/usage"
)

// The pages call the admin API's own services (*admin.Service, *admin.Corpora) directly, not its
// HTTP, so a page and the API apply the same rules, check the same roles and answer the same errors:
// *apierror.Error with Param naming the field at fault, which the pages show next to that field.
// Surfaces that live in other packages are reached through the small interfaces below, defined
// here where they are used.

// UsageSeries buckets the request log over time for the usage chart.
type UsageSeries interface {
	// Series buckets requests in [from, to) by step, oldest first, every bucket present.
	Series(ctx context.Context, from, to time.Time, step time.Duration) ([]usage.Point, error)
}

// Services is everything the pages call. A nil Corpora shows its pages as not available in this
// build rather than failing.
type Services struct {
	Admin *admin.Service
	// Corpora checks roles itself, as Admin does.
	Corpora *admin.Corpora
	Series  UsageSeries
}
