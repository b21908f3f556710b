# test/dashboard/lib.sh - shared by `make dashboard` (test/dashboard.sh) and
# the dashboard suite of `make test` (test/dashboard/run.sh).  Sourced after
# test/lib/common.sh, not run.  Provides:
#   dash_ensure_node    Node.js >= 18 and npm (Debian's nodejs/npm if missing)
#   dash_npm_ready      doc/dashboard/node_modules matches package-lock.json
#   dash_npm_install    npm ci from package-lock.json (pinned versions)
#   dash_warehouse      the demo warehouse in the running cluster: data,
#                       pipeline, one snapshot per quarter, the dashboard
#                       role through segkpi.grant_dashboard_access
#   dash_build          build the dashboard as the dashboard role

DASH_DIR=$SK_ROOT/doc/dashboard
DASH_ROLE=${SEGKPI_DASHBOARD_ROLE:-segkpi_dashboard}
# as_of of the quarterly snapshots; two or more, so migration and history
# have data.  The demo's orders run 2022-01-01 .. 2024-12-31.
DASH_SNAPSHOTS=${DASH_SNAPSHOTS:-"2022-07-01 2022-10-01 2023-01-01 2023-04-01 2023-07-01 2023-10-01 2024-01-01 2024-04-01 2024-07-01 2024-10-01 2025-01-01"}

dash_node_major() {
	node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

dash_ensure_node() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		sk_apt_install nodejs npm || return 1
	fi
	if [ "$(dash_node_major)" -lt 18 ]; then
		sk_log "Node.js $(node --version) is too old: Observable Framework needs 18 or later"
		return 1
	fi
}

dash_npm_ready() {
	[ -x "$DASH_DIR/node_modules/.bin/observable" ] &&
		[ -f "$DASH_DIR/node_modules/.package-lock.json" ] &&
		! [ "$DASH_DIR/package-lock.json" -nt "$DASH_DIR/node_modules/.package-lock.json" ]
}

dash_npm_install() {
	dash_npm_ready && return 0
	sk_log "installing the dashboard's npm packages (npm ci, versions from package-lock.json)"
	(cd "$DASH_DIR" && npm ci --no-audit --no-fund --loglevel=error >/tmp/segkpi-npm.log 2>&1) || {
		tail -n 20 /tmp/segkpi-npm.log >&2
		return 1
	}
}

# dash_warehouse [scale] [seed]: needs a running cluster (sk_cluster_start).
dash_warehouse() {
	local scale=${1:-20000} seed=${2:-42} a
	sk_log "demo warehouse: $scale customers, seed $seed"
	psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" -v seed="$seed" -f "$SK_ROOT/test/demo/generate.sql" >/dev/null || return 1
	psql -X -q -v ON_ERROR_STOP=1 -v seed="$seed" -f "$SK_ROOT/test/demo/engagement.sql" >/dev/null || return 1
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || return 1
CREATE EXTENSION segkpi;
\i $SK_ROOT/test/demo/pipeline.sql
SELECT segkpi.bind_engagement('demo.engagement', 'customer_id', 'at', 'kind', value => 'value');
UPDATE segkpi.settings SET period_grain = 'quarter', launch_date = '2024-01-01';
SQL
	sk_log "refreshing one snapshot per quarter: $DASH_SNAPSHOTS"
	for a in $DASH_SNAPSHOTS; do
		psql -X -q -v ON_ERROR_STOP=1 -c "SET timezone = 'UTC'" -c "SELECT segkpi.refresh('$a')" >/dev/null || return 1
	done
	# The one documented step: a login role, then the grant.
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || return 1
CREATE ROLE $DASH_ROLE LOGIN;
SELECT segkpi.grant_dashboard_access('$DASH_ROLE');
SQL
}

# dash_build [offline]: the data loaders connect with the libpq variables
# the cluster set (PGHOST, PGPORT, PGDATABASE) as the dashboard role.  The
# loader cache goes first, so the pages never show an older warehouse.
# "offline" builds in a network namespace of its own (unshare -n: no
# network but the cluster's Unix socket), proving the build fetches nothing.
dash_build() {
	local log=/tmp/segkpi-dashboard-build.log wrap=
	[ "${1:-}" = offline ] && wrap="unshare -n"
	rm -rf "$DASH_DIR/src/.observablehq/cache" "$DASH_DIR/dist"
	(cd "$DASH_DIR" && PGUSER=$DASH_ROLE OBSERVABLE_TELEMETRY_DISABLE=true \
		$wrap ./node_modules/.bin/observable build >"$log" 2>&1) || {
		grep -v '^build \|^copy \|^render ' "$log" | tail -n 40 >&2
		return 1
	}
}
