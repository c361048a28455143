#!/usr/bin/env bash
# Chromium for the console's browser tests (shared/console drives it headless through chromedp).
#
#   infra/chromium.sh ensure   install Debian's chromium when no Chromium is found (as root; otherwise print the command)
#   infra/chromium.sh path     print the binary the tests will use, or fail
#
# The tests look for SWITCHYARD_CHROMIUM first, then chromium, chromium-browser, google-chrome on PATH.
set -euo pipefail

log() { printf 'chromium.sh: %s\n' "$*" >&2; }

find_chromium() {
	if [ -n "${SWITCHYARD_CHROMIUM:-}" ] && [ -x "$SWITCHYARD_CHROMIUM" ]; then
		echo "$SWITCHYARD_CHROMIUM"
		return 0
	fi
	local n
	for n in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$n" >/dev/null 2>&1; then
			command -v "$n"
			return 0
		fi
	done
	return 1
}

case "${1:-ensure}" in
ensure)
	if p=$(find_chromium); then
		exit 0
	fi
	cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"
	if [ "$(id -u)" != 0 ]; then
		log "Chromium is missing and this is not root; run as root: $cmd"
		exit 1
	fi
	log "installing Chromium (a few minutes on a fresh machine)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	p=$(find_chromium) || { log "apt-get installed chromium but no binary was found"; exit 1; }
	log "installed $("$p" --version 2>/dev/null || echo "$p")"
	;;
path)
	find_chromium || { log "no Chromium found; run infra/chromium.sh ensure (as root)"; exit 1; }
	;;
*)
	echo "usage: infra/chromium.sh ensure|path" >&2
	exit 2
	;;
esac
