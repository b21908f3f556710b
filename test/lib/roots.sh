# test/lib/roots.sh - Debian roots for testing on other PostgreSQL majors.
#
# Sourced by test/matrix, after common.sh.  Provides:
#   sk_release_of MAJOR    the Debian release whose postgresql-MAJOR we test
#   sk_is_native MAJOR     true when that release is the one we run on
#   sk_root_ensure MAJOR   build (once) and cache a root of that release
#                          with PostgreSQL MAJOR, its server headers and
#                          every package the suites use
#   sk_root_run MAJOR      run test/run-tests on a copy of the checkout
#                          (and ../shared/data) inside that root
#
# Roots live outside the checkout, under $SK_ROOTS (default
# /var/cache/segkpi/roots/<release>), because they are 1-2 GB each and
# outlive any clone.  A root is only used once a stamp file says it is
# complete for exactly the package list we ask for; anything less is built
# again from scratch, so a run cut short never leaves a half root that
# later runs trust.  SK_ROOT_REFRESH=1 rebuilds it (newer packages).
#
# Everything that mounts runs in a private mount namespace (unshare -m):
# /proc and /dev disappear with the last process of the run, however it
# ends, and concurrent runs from other checkouts never see each other's
# mounts.  Needs root (debootstrap, chroot, mount).

SK_ROOTS=${SK_ROOTS:-/var/cache/segkpi/roots}
SK_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# sk_release_of MAJOR: the Debian release that ships postgresql-MAJOR as
# its own PostgreSQL.  19 is a release candidate, only in "experimental",
# whose packages are built against sid.
sk_release_of() {
	case "$1" in
		15) echo bookworm ;;
		17) echo trixie ;;
		18) echo forky ;;
		19) echo experimental ;;
		*) return 1 ;;
	esac
}

sk_host_release() {
	(. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

sk_is_native() {
	[ "$(sk_release_of "$1")" = "$(sk_host_release)" ]
}

# The Debian mirror this machine's apt uses (so a root reaches the same
# registry the host does), unless SK_MIRROR says otherwise.  Handles both
# the one-line and the deb822 source formats; the security archive is not
# a mirror of the main one, so it is skipped.
sk_mirror() {
	if [ -n "${SK_MIRROR:-}" ]; then
		echo "$SK_MIRROR"
		return
	fi
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -nE 's,^deb(\s+\[[^]]*\])?\s+(https?://\S+/debian)/?\s.*,\2,p; s,^URIs:\s*(https?://\S+/debian)/?\s*$,\1,p' |
		head -n 1)
	echo "${m:-http://deb.debian.org/debian}"
}

# sk_root_packages MAJOR: what a root needs, one per line.  The same
# optional packages the native run installs are required here: a root is
# built for testing, so every suite runs in full on every major.
sk_root_packages() {
	printf '%s\n' gcc make libc6-dev "postgresql-$1" "postgresql-server-dev-$1" \
		libipc-run-perl python3-numpy python3-scipy python3-sklearn
}

# sk_chroot ROOT CMD...: CMD inside ROOT with /proc and /dev mounted, in a
# mount namespace of its own (see the header), with a clean environment.
sk_chroot() {
	local root=$1
	shift
	unshare --mount --propagation private -- \
		bash -c 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && exec chroot "$@"' \
		sk_chroot "$root" "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive ${CI:+CI=$CI} "$@"
}

# sk_root_bootstrap MAJOR DIR LOG: a fresh minimal root in DIR, apt set up.
sk_root_bootstrap() {
	local major=$1 dir=$2 log=$3 rel suite script mirror
	rel=$(sk_release_of "$major")
	mirror=$(sk_mirror)
	suite=$rel
	[ "$rel" = experimental ] && suite=sid
	# debootstrap knows the releases up to its own; a newer testing release
	# bootstraps like sid (same layout), named by its own suite.
	script=/usr/share/debootstrap/scripts/$suite
	[ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
	sk_log "debootstrap $suite from $mirror into $dir"
	debootstrap --variant=minbase --keyring="$SK_KEYRING" "$suite" "$dir" "$mirror" "$script" \
		>>"$log" 2>&1 || return 1
	# The registry serves dated snapshots: a testing or unstable Release file
	# can be past its Valid-Until while still being the newest there is.
	echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99segkpi"
	echo 'APT::Install-Recommends "false";' >>"$dir/etc/apt/apt.conf.d/99segkpi"
	# experimental is a suite beside sid, not a whole release: PostgreSQL and
	# its client libraries come from there (apt's default priority for it is
	# 1, never chosen), everything else stays sid's.
	if [ "$rel" = experimental ]; then
		echo "deb $mirror experimental main" >>"$dir/etc/apt/sources.list"
		printf '%s\n' "Package: postgresql-$major* postgresql-client-$major postgresql-server-dev-$major libpq5 libpq-dev" \
			'Pin: release a=experimental' 'Pin-Priority: 500' >"$dir/etc/apt/preferences.d/segkpi"
	fi
	# Package scripts must not start services in the root: postgresql's
	# would start a cluster nobody stops.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null
	return 0
}

# sk_root_install MAJOR DIR LOG: install what the suites need.  pg_cron
# comes when the release has a build of it for this major.
sk_root_install() {
	local major=$1 dir=$2 log=$3 pkgs
	pkgs=$(sk_root_packages "$major" | paste -sd " ")
	sk_chroot "$dir" apt-get update -q >>"$log" 2>&1 || return 1
	if sk_chroot "$dir" apt-cache show "postgresql-$major-cron" >/dev/null 2>&1; then
		pkgs="$pkgs postgresql-$major-cron"
	fi
	# shellcheck disable=SC2086
	sk_chroot "$dir" apt-get install -y -q $pkgs >>"$log" 2>&1 || return 1
	sk_chroot "$dir" apt-get clean >>"$log" 2>&1
	echo "$pkgs"
}

# sk_root_ensure MAJOR: prints the root's directory once it is usable;
# fails (saying which release could not be had) otherwise.
sk_root_ensure() {
	local major=$1 rel dir stamp log pkgs
	rel=$(sk_release_of "$major") || {
		sk_log "no Debian release known for PostgreSQL $major"
		return 1
	}
	if [ "$(id -u)" -ne 0 ]; then
		sk_log "PostgreSQL $major is tested in a Debian $rel root: that needs root (debootstrap, chroot)"
		return 1
	fi
	sk_apt_install debootstrap debian-archive-keyring util-linux || return 1
	dir=$SK_ROOTS/$rel
	stamp=$dir/.segkpi-root
	mkdir -p "$SK_ROOTS"
	# One builder per release at a time; others wait for its result.
	exec {lockfd}>"$SK_ROOTS/.$rel.lock"
	flock "$lockfd"
	if [ -z "${SK_ROOT_REFRESH:-}" ] && [ -f "$stamp" ] &&
		[ "$(head -n 1 "$stamp")" = "$(sk_root_packages "$major" | tr '\n' ' ')" ]; then
		exec {lockfd}>&-
		echo "$dir"
		return 0
	fi
	log=$SK_ROOTS/$rel.log
	: >"$log"
	sk_log "building a Debian $rel root for PostgreSQL $major (log: $log)"
	rm -rf "$dir" "$dir.new"
	if ! sk_root_bootstrap "$major" "$dir.new" "$log" ||
		! pkgs=$(sk_root_install "$major" "$dir.new" "$log"); then
		tail -n 20 "$log" >&2
		sk_log "Debian $rel: could not build a root with postgresql-$major from $(sk_mirror) (see $log)"
		rm -rf "$dir.new"
		exec {lockfd}>&-
		return 1
	fi
	{
		sk_root_packages "$major" | tr '\n' ' '
		echo
		echo "installed: $pkgs"
		date -u +'built: %Y-%m-%dT%H:%M:%SZ'
	} >"$dir.new/.segkpi-root"
	mv "$dir.new" "$dir"
	exec {lockfd}>&-
	echo "$dir"
}

# sk_root_run MAJOR DIR: test/run-tests of a copy of this checkout inside
# the root DIR; its output goes to stdout, its status is returned.  Each
# run has a directory of its own in the root (and its own SK_PREFIX
# there), removed afterwards, so runs never share an installed segkpi.
sk_root_run() {
	local major=$1 dir=$2 run rc data
	# what runs killed half-way left behind (no run lasts a day)
	find "$dir/tmp" -maxdepth 1 -name 'segkpi-run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null
	run=$(mktemp -d "$dir/tmp/segkpi-run.XXXXXX") || return 1
	chmod 755 "$run"
	mkdir -p "$run/segkpi"
	sk_copy_checkout "$run/segkpi" || {
		rm -rf "$run"
		return 1
	}
	# data-driven tests find ../shared/data beside the checkout, as at home
	if data=$(sk_data_dir); then
		mkdir -p "$run/shared"
		cp -r "$data" "$run/shared/data"
	fi
	sk_chroot "$dir" env SK_PGVER="$major" SK_PREFIX="${run#"$dir"}/pfx" SK_DASHBOARD=0 \
		bash "${run#"$dir"}/segkpi/test/run-tests"
	rc=$?
	rm -rf "$run"
	return $rc
}

# sk_copy_checkout DEST: the files of this checkout as they are now
# (uncommitted edits included), without git's data or build products.
sk_copy_checkout() {
	if git -C "$SK_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$SK_ROOT" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
			tar --null -T - -cf -) | tar -xf - -C "$1"
	else
		tar -C "$SK_ROOT" --exclude=.git -cf - . | tar -xf - -C "$1"
	fi
}
