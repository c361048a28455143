#!/usr/bin/env bash
# Local Postgres with pgvector for `make dev` and `make test`.
#
#   infra/pg.sh ensure   install Postgres and pgvector when missing (as root; otherwise print the commands)
#   infra/pg.sh start    start this checkout's throwaway cluster (created on first use); prints nothing
#   infra/pg.sh url      print the cluster's DATABASE_URL
#   infra/pg.sh stop     stop the cluster
#   infra/pg.sh status   say whether it runs
#
# The cluster's data lives under /var/tmp, keyed by the checkout's path, so that the `postgres` user can reach it
# even when the checkout sits in a home folder of mode 0700, and so that it survives a restart of `make dev`.
# When DATABASE_URL is set, none of this is used: the Makefile passes it straight to the programs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
key=$(printf '%s' "$here" | sha256sum | cut -c1-12)
base="${SWITCHYARD_PG_DIR:-/var/tmp/switchyard-pg-$key}"
data="$base/data"
sock="$base/sock"
log="$base/postgres.log"

log() { printf 'pg.sh: %s\n' "$*" >&2; }

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
		if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

pg_version() { basename "$(dirname "$1")"; }

have_vector() {
	local bindir=$1 ver
	ver=$(pg_version "$bindir")
	[ -f "/usr/share/postgresql/$ver/extension/vector.control" ] && [ -f "/usr/lib/postgresql/$ver/lib/vector.so" ]
}

# Debian bookworm ships no pgvector binary package; Debian's own source package (trixie, 0.8.0) builds
# against postgresql-server-dev-15 in seconds.
install_commands() {
	local ver=${1:-15}
	cat <<EOF
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql postgresql-server-dev-$ver build-essential dpkg-dev ca-certificates
echo 'deb-src http://deb.debian.org/debian trixie main' > /etc/apt/sources.list.d/switchyard-pgvector-src.list
apt-get update
cd "\$(mktemp -d)" && apt-get source --download-only pgvector && dpkg-source -x pgvector_*.dsc src && cd src && make PG_CONFIG=/usr/lib/postgresql/$ver/bin/pg_config && make install PG_CONFIG=/usr/lib/postgresql/$ver/bin/pg_config
EOF
}

ensure() {
	local bindir ver
	if bindir=$(pg_bindir) && have_vector "$bindir"; then
		return 0
	fi
	ver=15
	if bindir=$(pg_bindir); then ver=$(pg_version "$bindir"); fi
	if [ "$(id -u)" != 0 ]; then
		log "Postgres with the pgvector extension is missing. Run these as root (or set DATABASE_URL to a Postgres with pgvector):"
		install_commands "$ver" | sed 's/^/    /' >&2
		exit 1
	fi
	log "installing Postgres $ver and building pgvector from Debian's source package (first run only)"
	local cmds
	cmds=$(install_commands "$ver")
	# apt's source download runs as the _apt user: give it a folder it may write.
	local work
	work=$(mktemp -d)
	chmod 0777 "$work"
	(cd "$work" && bash -euo pipefail -c "$cmds") >"$work/install.log" 2>&1 || {
		log "install failed; the last lines of $work/install.log:"
		tail -n 30 "$work/install.log" >&2
		exit 1
	}
	bindir=$(pg_bindir) && have_vector "$bindir" || { log "pgvector still missing after the install"; exit 1; }
	log "Postgres $(pg_version "$bindir") with pgvector is installed"
}

# as_owner runs a command as the cluster's owner: postgres when we are root (initdb refuses root), else ourselves.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local p
	for p in $(seq 54329 54429); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	log "no free port in 54329-54429"
	exit 1
}

running() {
	[ -f "$data/postmaster.pid" ] && as_owner "$(pg_bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
	ensure
	local bindir
	bindir=$(pg_bindir)
	if running; then return 0; fi
	mkdir -p "$base"
	if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$base"; fi
	chmod 0700 "$base"
	if [ ! -f "$data/PG_VERSION" ]; then
		as_owner mkdir -p "$sock"
		as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 || {
			log "initdb failed:"; cat "$base/initdb.log" >&2; exit 1; }
		# A throwaway cluster: durability traded for speed, and room for parallel tests.
		as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
EOF
	fi
	# A killed `make dev` leaves postmaster.pid behind; when no server answers for it, it is stale.
	if [ -f "$data/postmaster.pid" ]; then
		log "removing a stale postmaster.pid"
		rm -f "$data/postmaster.pid"
	fi
	local port
	port=$(cat "$base/port" 2>/dev/null || true)
	if [ -z "$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		port=$(free_port)
		echo "$port" >"$base/port"
	fi
	as_owner "$bindir/pg_ctl" -D "$data" -o "-p $port" -l "$log" -w -t 60 start >/dev/null || {
		log "Postgres did not start; the end of $log:"; tail -n 20 "$log" >&2; exit 1; }
}

stop() {
	if running; then
		as_owner "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	fi
}

url() {
	local port
	port=$(cat "$base/port" 2>/dev/null) || { log "no cluster yet: run infra/pg.sh start"; exit 1; }
	echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

case "${1:-}" in
ensure) ensure ;;
start) start ;;
stop) stop ;;
url) url ;;
status) if running; then echo "running at $(url)"; else echo "stopped"; exit 3; fi ;;
*) echo "usage: $0 ensure|start|stop|url|status" >&2; exit 2 ;;
esac
