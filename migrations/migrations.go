// Package migrations embeds Switchyard's SQL migrations, NNNN_name.sql, applied in order by
// postgres.Migrate. A migration file is never edited after it lands: a change is a new file.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
