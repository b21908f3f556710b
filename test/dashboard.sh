#!/usr/bin/env bash
# test/dashboard.sh - `make dashboard`: segkpi's dashboard over the demo
# warehouse, from nothing.
#
# Installs what is missing (Debian packages, the dashboard's npm packages
# from doc/dashboard/package-lock.json), builds and installs segkpi, starts
# a throwaway cluster as the postgres user, builds the demo warehouse with
# one snapshot per quarter (test/dashboard/lib.sh), creates the dashboard
# role through segkpi.grant_dashboard_access, builds the Observable
# Framework dashboard in doc/dashboard as that role and prints where to
# open it.  DEMO_SCALE and DEMO_SEED as for `make demo`; KEEP=1 leaves the
# cluster running (to connect another BI tool); SERVE=1 serves the pages
# on http://127.0.0.1:${PORT:-3000}/ until Ctrl-C.
set -eu
cd "$(dirname "$0")/.." || exit 2
. test/lib/common.sh
. test/dashboard/lib.sh

sk_ensure_packages
dash_ensure_node
dash_npm_install || {
	sk_log "npm ci failed: the npm registry must be reachable the first time"
	exit 1
}
sk_log "building and installing segkpi"
sk_build_install
sk_log "starting a throwaway cluster"
sk_cluster_start
if [ "${KEEP:-0}" != 1 ]; then
	trap sk_cluster_stop EXIT
fi

dash_warehouse "${DEMO_SCALE:-20000}" "${DEMO_SEED:-42}"
sk_log "building the dashboard as role $DASH_ROLE"
start=$(date +%s)
dash_build
took=$(($(date +%s) - start))

echo
echo "dashboard built in $took s: $DASH_DIR/dist ($(du -sh "$DASH_DIR/dist" | cut -f1); npm packages $(du -sh "$DASH_DIR/node_modules" | cut -f1))"
echo "pages: $(cd "$DASH_DIR/dist" && ls ./*.html | sed 's,^\./,,' | tr '\n' ' ')"
echo "open it: node doc/dashboard/serve.mjs, then http://127.0.0.1:3000/"
echo "         (ES modules do not load from file://; or run: make dashboard SERVE=1)"
if [ "${KEEP:-0}" = 1 ]; then
	echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$DASH_ROLE psql (the dashboard role)"
	echo "stop it with: runuser -u postgres -- $SK_PGBIN/pg_ctl -D $SK_CLUSTER_DIR/data stop"
fi
if [ "${SERVE:-0}" = 1 ]; then
	node "$DASH_DIR/serve.mjs" "$DASH_DIR/dist" "${PORT:-3000}"
fi
