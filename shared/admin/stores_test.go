package admin_test

import (
	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

// The Postgres stores shared/app wires are the stores the services use.
var (
	_ admin.CatalogStore = (*postgres.CatalogStore)(nil)
	_ admin.UsageStore   = (*postgres.UsageStore)(nil)
	_ admin.HealthStore  = (*postgres.HealthStore)(nil)
	_ admin.LimitsStore  = (*postgres.CapacityStore)(nil)
)
