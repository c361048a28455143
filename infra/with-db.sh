#!/usr/bin/env bash
# with-db.sh CMD...: runs CMD with DATABASE_URL pointing at a Postgres with pgvector.
# When DATABASE_URL is already set it is used as is; otherwise this checkout's local cluster is
# installed if needed, started, and stopped again when CMD ends (if this script started it).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${DATABASE_URL:-}" ]; then
	exec "$@"
fi
started=0
if ! "$here/pg.sh" status >/dev/null 2>&1; then
	"$here/pg.sh" start
	started=1
fi
DATABASE_URL=$("$here/pg.sh" url)
export DATABASE_URL
stop() { if [ "$started" = 1 ]; then "$here/pg.sh" stop || true; fi; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
set +e
"$@" &
child=$!
# Forward Ctrl-C and TERM to the command, then wait for it to finish before stopping Postgres.
trap 'kill -INT $child 2>/dev/null; wait $child; exit 130' INT
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 143' TERM
wait $child
exit $?
