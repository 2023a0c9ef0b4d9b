#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's two commands on a fresh Debian 12: a minbase debootstrap of
# bookworm, `apt-get install git make` in it, a `git clone` of the current
# branch, then plain `make` (must stop, install nothing and name `make deps`),
# `make run` (renders to files: the chroot has no sound card) and `make test`.
# Prints the packages each step installed, the time of each command and the
# closing line of `make test`; exits non-zero when any step fails.
#
#   tests/fresh-debian.sh [DIR]     as root, from the top folder; not part of `make test`
#
# DIR (default /tmp/rnnmidi-fresh-debian) holds base/ (the debootstrap, made
# once and reused: nothing is ever installed into it), root/ (a fresh copy of
# base/ for this run) and logs/. It must be outside the repository. The clone
# is of the committed branch (BRANCH, default the current one); uncommitted
# changes are not in it. MIRROR defaults to the Debian mirror of
# /etc/apt/sources.list(.d). KEEP=1 leaves root/ in place afterwards.
set -eu

DIR=${1:-/tmp/rnnmidi-fresh-debian}
SUITE=bookworm
REPO=$(git rev-parse --show-toplevel)
BRANCH=${BRANCH:-$(git -C "$REPO" rev-parse --abbrev-ref HEAD)}

die() { echo "fresh-debian: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, mount and chroot need it)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: apt-get install debootstrap"
case "$(realpath -m "$DIR")/" in "$REPO"/*) die "DIR must be outside the repository ($REPO)" ;; esac

if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -o 'https\?://[^ ]*/debian/\?\( \|$\)' | grep -v security | head -n 1 | tr -d ' ')
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

mkdir -p "$DIR/logs"
DIR=$(realpath "$DIR")
BASE=$DIR/base
ROOT=$DIR/root
LOGS=$DIR/logs

# base/: minbase, plus the update and security suites a Debian 12 install lists.
if [ ! -x "$BASE/usr/bin/apt-get" ]; then
    echo "== debootstrap --variant=minbase $SUITE ($MIRROR)"
    rm -rf "$BASE.tmp"
    debootstrap --variant=minbase "$SUITE" "$BASE.tmp" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 ||
        die "debootstrap failed, see $LOGS/debootstrap.log"
    SEC=$(echo "$MIRROR" | sed 's|/debian/*$|/debian-security|')
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
        "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SEC" "$SUITE" >"$BASE.tmp/etc/apt/sources.list"
    mv "$BASE.tmp" "$BASE"
fi

unmount_root() {
    for m in dev/shm dev/pts sys proc; do
        if mountpoint -q "$ROOT/$m" 2>/dev/null; then umount -l "$ROOT/$m"; fi
    done
}
cleanup() {
    unmount_root
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$ROOT"; fi
}

unmount_root
rm -rf "$ROOT"
cp -a "$BASE" "$ROOT"
trap cleanup EXIT
trap 'exit 130' INT TERM
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev/pts "$ROOT/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# No daemon starts inside the chroot (the usual policy for chroots).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

git -C "$REPO" bundle create "$ROOT/tmp/rnnmidi.bundle" "$BRANCH" 2>/dev/null
COMMIT=$(git -C "$REPO" rev-parse --short "$BRANCH")
[ -z "$(git -C "$REPO" status --porcelain --untracked-files=no)" ] ||
    echo "fresh-debian: note: uncommitted changes are not tested (the clone is of $BRANCH at $COMMIT)"

# Run a shell command as root inside the chroot, with a login-like environment.
inroot() {
    chroot "$ROOT" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/sh TERM=dumb \
        LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "$1"
}
npkgs() { inroot "dpkg-query -W -f '\${db:Status-Abbrev}\n' | grep -c '^ii'"; }
now() { date +%s; }
# step NAME COMMAND: run COMMAND in the chroot's clone, log to logs/NAME.log,
# set STEP_RC and STEP_SECS.
step() {
    echo "== $1: $2"
    t0=$(now)
    STEP_RC=0
    inroot "cd /root/rnnmidi && $2" >"$LOGS/$1.log" 2>&1 || STEP_RC=$?
    STEP_SECS=$(($(now) - t0))
    echo "   exit $STEP_RC after ${STEP_SECS}s; last lines of $LOGS/$1.log:"
    tail -n 4 "$LOGS/$1.log" | sed 's/^/   | /'
}

failed=""
N0=$(npkgs)
echo "== apt-get install git make (minbase has $N0 packages)"
inroot "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y git make" >"$LOGS/apt.log" 2>&1 ||
    die "apt-get install git make failed, see $LOGS/apt.log"
N1=$(npkgs)
inroot "git clone -q --branch $BRANCH /tmp/rnnmidi.bundle /root/rnnmidi" || die "git clone failed"

# A packager's `make`: stops before building, installs nothing, names `make deps`.
step make "make"
N2=$(npkgs)
if [ "$STEP_RC" = 0 ] || [ "$N2" != "$N1" ] || ! grep -q 'make deps' "$LOGS/make.log" ||
    grep -q 'apt-get update\|Unpacking' "$LOGS/make.log"; then
    failed="$failed make"
    echo "   FAIL: plain make must stop, install nothing and name 'make deps'"
fi

step make-run "make run"
RUN_RC=$STEP_RC RUN_SECS=$STEP_SECS
N3=$(npkgs)
[ "$RUN_RC" = 0 ] || failed="$failed make-run"
for f in build/demo/rnnmidi-demo.wav build/demo/rnnmidi-demo.mid build/demo/rnnmidi-demo.png \
    /root/.lv2/rnnmidi.lv2/rnnmidi.so /root/.lv2/rnnmidi.lv2/manifest.ttl; do
    if ! inroot "cd /root/rnnmidi && test -s $f"; then
        echo "   FAIL: make run left no $f"
        failed="$failed make-run:$f"
    fi
done

step make-test "make test"
TEST_RC=$STEP_RC TEST_SECS=$STEP_SECS
N4=$(npkgs)
CLOSING=$(grep '^tests: ' "$LOGS/make-test.log" | tail -n 1 || true)
[ "$TEST_RC" = 0 ] && [ -n "$CLOSING" ] || failed="$failed make-test"

echo
echo "fresh Debian 12 ($SUITE minbase, $MIRROR), branch $BRANCH at $COMMIT:"
echo "  packages: minbase $N0, +git make $N1, after make $N2, after make run $N3, after make test $N4"
echo "  make run:  exit $RUN_RC, ${RUN_SECS}s, installed $((N3 - N2)) packages"
echo "  make test: exit $TEST_RC, ${TEST_SECS}s, installed $((N4 - N3)) more packages"
echo "  closing line: ${CLOSING:-(none)}"
# the "not run:" block right above the closing line (test_makefile prints others)
awk '/^not run:$/ { b = ""; inb = 1; next }
     inb && /^  / { b = b "  " $0 "\n"; next }
     /^tests: / { last = inb ? "  not run:\n" b : "" }
     { inb = 0 }
     END { printf "%s", last }' "$LOGS/make-test.log"
echo "  logs: $LOGS"
if [ -n "$failed" ]; then
    echo "fresh-debian: FAILED:$failed"
    exit 1
fi
echo "fresh-debian: OK"
