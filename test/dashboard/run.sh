#!/usr/bin/env bash
# test/dashboard/run.sh - the dashboard suite of `make test`.
#
# On a throwaway cluster with the demo warehouse (test/dashboard/lib.sh):
#   access   as the dashboard role, every dashboard view reads and has
#            rows; every other relation of schema segkpi (customer_features,
#            customer_segments, segment_kpis, kpi_cells, the tables) and the
#            warehouse's own tables are refused; revoke_dashboard_access
#            takes the views back and a second grant restores them
#   build    the dashboard builds as that role (data loaders over the views)
#   browser  test/dashboard/check.mjs in headless Debian chromium
# Prints "ok"/"not ok" lines and "N passed, N failed".  Without the npm
# packages and with the npm registry unreachable it skips, saying so,
# except on CI (CI=true), where that is a failure.
set -u
cd "$(dirname "$0")/../.." || exit 2
. test/lib/common.sh
. test/dashboard/lib.sh

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }
finish() {
	sk_cluster_stop
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
skip() {
	echo "skip: dashboard tests: $*"
	echo "0 passed, 0 failed"
	exit 0
}

# ---- tools ----------------------------------------------------------------
sk_ensure_packages || { notok "PostgreSQL packages"; finish; }
dash_ensure_node || { notok "Node.js 18 or later with npm"; finish; }
if ! dash_npm_ready && [ "${CI:-}" != true ] && ! timeout 30 npm ping >/dev/null 2>&1; then
	skip "the npm registry is unreachable and doc/dashboard/node_modules is not installed"
fi
dash_npm_install && ok "npm packages installed from package-lock.json" || { notok "npm ci in doc/dashboard"; finish; }
sk_apt_install chromium && [ -x /usr/bin/chromium ] && ok "Debian chromium installed" ||
	{ notok "Debian package chromium"; finish; }
sk_build_install || { notok "segkpi builds and installs"; finish; }

# ---- warehouse --------------------------------------------------------------
sk_cluster_start || { notok "cluster starts"; finish; }
trap sk_cluster_stop EXIT
dash_warehouse "${DASH_TEST_SCALE:-20000}" 42 && ok "demo warehouse, quarterly snapshots, dashboard role granted" ||
	{ notok "demo warehouse"; finish; }

# ---- access -----------------------------------------------------------------
# as_role SQL: run as the dashboard role; prints rows, or the error.
as_role() {
	psql -X -At -U "$DASH_ROLE" -v ON_ERROR_STOP=1 -c "$1" 2>&1
}
views=$(psql -X -At -c "SELECT v::text FROM segkpi.dashboard_views() v ORDER BY 1")
want="segkpi.before_after segkpi.cluster_profiles segkpi.engagement_by_kind segkpi.kpi_history segkpi.kpi_latest segkpi.kpi_trends segkpi.rfm_grid segkpi.segment_migration"
[ "$(echo $views)" = "$want" ] && ok "the eight dashboard views" || notok "the eight dashboard views: $(echo $views)"
for v in $views; do
	n=$(as_role "SELECT count(*) FROM $v")
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] && ok "$DASH_ROLE reads $v ($n rows)" || notok "$DASH_ROLE reads $v: $n"
done
# Everything else segkpi stores, and the warehouse itself, is refused, but
# for what PUBLIC reads by design and holds no customer: the RFM rule table
# (segment names and score ranges, which segkpi.rfm_segment reads for
# anyone).  A new relation is refused until it is named here.
public_by_design="segkpi.rfm_rules"
others=$(psql -X -At -c "
	SELECT c.oid::regclass::text FROM pg_class c
	 WHERE c.relnamespace = ANY (ARRAY['segkpi'::regnamespace, 'demo'::regnamespace])
	   AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
	   AND c.oid NOT IN (SELECT segkpi.dashboard_views())
	 ORDER BY 1")
for must in segkpi.customer_features segkpi.customer_segments segkpi.segment_kpis segkpi.kpi_cells demo.customers; do
	echo "$others" | grep -qx "$must" && ok "$must is among the relations checked" || notok "$must is among the relations checked"
done
for r in $others; do
	if [[ " $public_by_design " == *" $r "* ]]; then
		out=$(as_role "SELECT count(*) FROM $r WHERE false")
		[ "$out" = 0 ] && ok "$r reads for PUBLIC by design (no customer data)" || notok "$r: $out"
		continue
	fi
	out=$(as_role "SELECT 1 FROM $r LIMIT 1")
	echo "$out" | grep -q 'permission denied' && ok "$DASH_ROLE cannot read $r" || notok "$DASH_ROLE cannot read $r: ${out:-rows}"
done
psql -X -q -c "SELECT segkpi.revoke_dashboard_access('$DASH_ROLE')" >/dev/null
out=$(as_role "SELECT count(*) FROM segkpi.kpi_latest")
echo "$out" | grep -q 'permission denied' && ok "revoke_dashboard_access takes the views back" || notok "revoke_dashboard_access: $out"
psql -X -q -c "SELECT segkpi.grant_dashboard_access('$DASH_ROLE')" >/dev/null
n=$(as_role "SELECT count(*) FROM segkpi.segment_migration")
[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] && ok "a second grant restores them" || notok "a second grant: $n"

# ---- build ------------------------------------------------------------------
# With no network at all where a network namespace can be made (root).
offline=
if unshare -n true 2>/dev/null; then
	offline=offline
elif [ "${CI:-}" = true ]; then
	notok "unshare -n (a network namespace for the offline build) works on CI"
else
	echo "note: unshare -n unavailable (not root?): the build runs with the network"
fi
start=$(date +%s)
if dash_build $offline; then
	ok "dashboard builds as $DASH_ROLE${offline:+ with no network} in $(($(date +%s) - start)) s ($(du -sh "$DASH_DIR/dist" | cut -f1))"
else
	notok "dashboard builds as $DASH_ROLE"
	finish
fi
# A loader that read anything but the views would have failed the build as
# the role; the built data must hold no customer-level column either.
if grep -lqE '"(customer_id|customer)"' "$DASH_DIR"/dist/_file/data/*.json; then
	notok "built data holds no customer-level column"
else
	ok "built data holds no customer-level column"
fi

# ---- browser ----------------------------------------------------------------
out=$(node test/dashboard/check.mjs --dist "$DASH_DIR/dist" --shots "$SK_ROOT/test/out/dashboard" 2>&1)
echo "$out" | grep -v '^ok '
line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
if [ -n "$line" ]; then
	passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
	failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
	echo "browser: $line"
else
	notok "browser check ran"
fi
finish
