#!/bin/sh
# lambda-goarch.sh <LogicalId> prints the GOARCH (arm64 or amd64) to build that Lambda function for.
#
# `sam build` runs `make build-<LogicalId>` with its own environment plus ARTIFACTS_DIR, and nothing
# about the function: no architecture (aws-lambda-builders, workflows/custom_make/actions.py). Before
# building, it writes its build graph, with the architecture it resolved for each function (the
# template's Architectures, after parameter overrides), to build.toml beside the build directory
# (SAM CLI, samcli/lib/build/build_graph.py: Path(build_dir).parent / "build.toml"; ARTIFACTS_DIR is
# <build_dir>/<LogicalId>). This script reads it there.
#
# LAMBDA_ARCH (arm64, x86_64 or amd64), when set, wins: for builds outside sam build (make lambdas).
set -eu
id=${1:?usage: lambda-goarch.sh <LogicalId>}
arch=${LAMBDA_ARCH:-}
graph=
if [ -z "$arch" ]; then
	: "${ARTIFACTS_DIR:?ARTIFACTS_DIR is not set: run this through sam build, or set LAMBDA_ARCH}"
	graph=$(dirname "$(dirname "$ARTIFACTS_DIR")")/build.toml
	if [ -f "$graph" ]; then
		# One table per build definition; its architecture and functions keys may come in any order.
		arch=$(awk -v id="$id" '
			function flush() { if (hit && a != "" && !done) { print a; done = 1 } }
			/^[ \t]*\[/ { flush(); a = ""; hit = 0; next }
			/^[ \t]*architecture[ \t]*=/ { v = $0; sub(/^[^=]*=[ \t]*/, "", v); gsub(/["\047 \t]/, "", v); a = v }
			/^[ \t]*functions[ \t]*=/ && (index($0, "\"" id "\"") || index($0, "/" id "\"")) { hit = 1 }
			END { flush() }' "$graph")
	fi
fi
case $arch in
arm64 | aarch64) echo arm64 ;;
x86_64 | amd64) echo amd64 ;;
"")
	echo "lambda-goarch.sh: no architecture for $id: sam build's build graph ($graph) does not name it; build with sam build, or set LAMBDA_ARCH=arm64 or x86_64" >&2
	exit 1
	;;
*)
	echo "lambda-goarch.sh: unknown architecture \"$arch\" for $id (want arm64 or x86_64)" >&2
	exit 1
	;;
esac
