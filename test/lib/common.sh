# test/lib/common.sh - shared by `make test`, `make demo` and the benchmarks.
#
# Sourced, not run.  Provides:
#   sk_ensure_packages  install missing Debian packages (required ones fail
#                       the run; optional ones only warn)
#   sk_build_install    build with -Werror and install into PostgreSQL 15
#   sk_cluster_start    throwaway cluster in a temporary directory, run as
#                       the postgres user when we are root (initdb refuses
#                       root), reachable only through a private Unix socket
#   sk_cluster_stop     stop it and delete the directory
# After sk_cluster_start, PGHOST/PGPORT/PGUSER/PGDATABASE point at it.

SK_PGVER=${SK_PGVER:-15}
SK_PG_CONFIG=/usr/lib/postgresql/$SK_PGVER/bin/pg_config
# SK_PREFIX=/some/dir runs everything against a private copy of the
# PostgreSQL tree (made on first use; PostgreSQL finds its files relative to
# its binaries), so parallel work does not share one installed segkpi.
SK_PREFIX=${SK_PREFIX:-}
SK_PGBIN=$SK_PREFIX/usr/lib/postgresql/$SK_PGVER/bin
SK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

sk_log() { printf '%s\n' "== $*" >&2; }

sk_have_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# sk_apt_install PKG...: install what is missing; returns apt's status.
sk_apt_install() {
	local missing=() p
	for p in "$@"; do
		sk_have_pkg "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		sk_log "missing packages: ${missing[*]} (run as root, or install them)"
		return 1
	fi
	sk_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/segkpi-apt.log 2>&1; then
		apt-get update -q >>/tmp/segkpi-apt.log 2>&1
		apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/segkpi-apt.log 2>&1 || {
			tail -n 20 /tmp/segkpi-apt.log >&2
			return 1
		}
	fi
}

# Required to build, install and run the server; fails the run when absent.
sk_ensure_packages() {
	sk_apt_install gcc make libc6-dev "postgresql-$SK_PGVER" \
		"postgresql-server-dev-$SK_PGVER" || return 1
	# server-dev pulls clang/llvm for bitcode on Debian; make sure they exist
	# when PGXS wants them (with_llvm = yes).
	if grep -q '^with_llvm.*yes' "$($SK_PG_CONFIG --pgxs | sed 's,src/makefiles/pgxs.mk,src/Makefile.global,')" 2>/dev/null; then
		local clang
		clang=$(sed -n 's/^CLANG = //p' "$($SK_PG_CONFIG --pgxs | sed 's,src/makefiles/pgxs.mk,src/Makefile.global,')")
		[ -n "$clang" ] && [ ! -x "$clang" ] && sk_apt_install "$(basename "$clang")"
	fi
	return 0
}

# Optional: each enables more tests; their absence is reported as a skip.
sk_ensure_optional() {
	local p
	for p in "$@"; do
		sk_apt_install "$p" || sk_log "optional package $p unavailable; its tests will skip"
	done
}

sk_private_tree() {
	[ -z "$SK_PREFIX" ] || [ -x "$SK_PGBIN/postgres" ] && return 0
	mkdir -p "$SK_PREFIX/usr/lib/postgresql" "$SK_PREFIX/usr/share/postgresql"
	cp -a "/usr/lib/postgresql/$SK_PGVER" "$SK_PREFIX/usr/lib/postgresql/" &&
		cp -a "/usr/share/postgresql/$SK_PGVER" "$SK_PREFIX/usr/share/postgresql/" &&
		chmod -R a+rX "$SK_PREFIX"
}

sk_build_install() {
	local log
	log=$(mktemp /tmp/segkpi-build.XXXXXX)
	sk_private_tree &&
		(cd "$SK_ROOT" &&
			make -s PG_CONFIG="$SK_PG_CONFIG" WERROR=-Werror >"$log" 2>&1 &&
			make -s PG_CONFIG="$SK_PG_CONFIG" DESTDIR="$SK_PREFIX" install >>"$log" 2>&1) || {
		cat "$log" >&2
		rm -f "$log"
		return 1
	}
	rm -f "$log"
}

# Run a command as the cluster owner.
sk_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# sk_cluster_start [extra postgres -c settings...]
sk_cluster_start() {
	SK_CLUSTER_DIR=$(mktemp -d /tmp/segkpi-cluster.XXXXXX)
	chmod 755 "$SK_CLUSTER_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$SK_CLUSTER_DIR"
	local opts="-c listen_addresses='' -k $SK_CLUSTER_DIR -p 5432 -c fsync=off"
	local s
	for s in "$@"; do
		opts="$opts -c $s"
	done
	sk_as_owner "$SK_PGBIN/initdb" -D "$SK_CLUSTER_DIR/data" -A trust -U postgres \
		--no-sync -E UTF8 --locale=C >"$SK_CLUSTER_DIR/initdb.log" 2>&1 || {
		cat "$SK_CLUSTER_DIR/initdb.log" >&2
		return 1
	}
	sk_as_owner "$SK_PGBIN/pg_ctl" -D "$SK_CLUSTER_DIR/data" -o "$opts" \
		-l "$SK_CLUSTER_DIR/server.log" -w start >/dev/null || {
		cat "$SK_CLUSTER_DIR/server.log" >&2
		return 1
	}
	export PGHOST=$SK_CLUSTER_DIR PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	export PATH=$SK_PGBIN:$PATH
}

sk_cluster_stop() {
	[ -n "${SK_CLUSTER_DIR:-}" ] && [ -d "$SK_CLUSTER_DIR" ] || return 0
	sk_as_owner "$SK_PGBIN/pg_ctl" -D "$SK_CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$SK_CLUSTER_DIR"
	SK_CLUSTER_DIR=
}

# Where the shared real data sets are, if anywhere: $SEGKPI_DATA_DIR, or
# ../shared/data beside the checkout.  Prints nothing when absent.
sk_data_dir() {
	local d=${SEGKPI_DATA_DIR:-$SK_ROOT/../shared/data}
	[ -r "$d/cdnowElog.csv" ] && (cd "$d" && pwd)
}
