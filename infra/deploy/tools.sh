#!/usr/bin/env bash
# The template checks' tools (infra/deploy's tests): cfn-lint and the SAM translator (samtranslator,
# which cfn-lint depends on), both Python packages.
#
#   infra/deploy/tools.sh ensure   install them with pip when missing; fail saying what is missing otherwise
set -euo pipefail

log() { printf 'tools.sh: %s\n' "$*" >&2; }

have() { command -v cfn-lint >/dev/null 2>&1 && python3 -c 'import samtranslator' >/dev/null 2>&1; }

case "${1:-ensure}" in
ensure)
	have && exit 0
	command -v python3 >/dev/null 2>&1 || { log "python3 is missing: the template checks need it (apt-get install python3 python3-pip)"; exit 1; }
	log "installing cfn-lint and the SAM translator with pip"
	python3 -m pip install --quiet cfn-lint aws-sam-translator || true
	have || { log "cfn-lint or the SAM translator is still missing (pip install cfn-lint aws-sam-translator); the template checks cannot run"; exit 1; }
	;;
*)
	echo "usage: $0 ensure" >&2
	exit 2
	;;
esac
