#!/bin/sh
# SPDX-License-Identifier: MIT
# lv2lint (OpenMusicKontrollers) on the built bundle, as a distribution
# packager (-Mpack) and as a plugin author (-Mnopack) runs it. Fails on any
# FAIL or WARN, without exceptions: in -Mnopack that includes "Plugin
# Linking", the warning that the binary links a library outside lv2lint's
# list (the plugin links only libc and libm). Notes are printed, not
# counted.
#
# Exit status: 0 passed, 1 failed, 77 lv2lint is not installed (skipped).
# Environment: BUNDLE (default build/rnnmidi.lv2), LV2LINT (default lv2lint),
# LV2_SPEC_DIR (the folder holding core.lv2 and the other LV2 specifications).
set -u

BUNDLE=${BUNDLE:-build/rnnmidi.lv2}
LV2LINT=${LV2LINT:-lv2lint}
URI=https://rnnmidi.org/plugins/rnnmidi

if ! command -v "$LV2LINT" >/dev/null 2>&1; then
    echo "SKIP lv2lint: not installed"
    exit 77
fi
if [ ! -f "$BUNDLE/manifest.ttl" ] || [ ! -f "$BUNDLE/rnnmidi.so" ]; then
    echo "lv2lint: no bundle in $BUNDLE; run 'make lv2' first"
    exit 1
fi
if [ -z "${LV2_SPEC_DIR:-}" ]; then
    for d in /usr/lib/lv2 /usr/local/lib/lv2 /usr/lib/*/lv2; do
        if [ -d "$d/core.lv2" ]; then LV2_SPEC_DIR=$d; break; fi
    done
fi
if [ -z "${LV2_SPEC_DIR:-}" ] || [ ! -d "$LV2_SPEC_DIR/core.lv2" ]; then
    echo "lv2lint: no LV2 specifications (core.lv2) found; install lv2-dev or set LV2_SPEC_DIR"
    exit 1
fi

# Only this bundle and the specifications on the LV2 path, so that a copy
# installed in ~/.lv2 or /usr/local/lib/lv2 is not the one tested.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/path" && ln -s "$(cd "$BUNDLE" && pwd)" "$tmp/path/rnnmidi.lv2" || exit 1
LV2_PATH="$tmp/path:$LV2_SPEC_DIR"
export LV2_PATH
if command -v lv2info >/dev/null 2>&1; then
    got=$(lv2info "$URI" 2>/dev/null | sed -n 's/^[[:space:]]*Bundle:[[:space:]]*//p')
    if [ "$got" != "file://$tmp/path/rnnmidi.lv2/" ]; then
        echo "lv2lint: lilv reads $URI from '${got:-nowhere}', not from $BUNDLE"
        echo "  (another copy in $LV2_SPEC_DIR?)"
        exit 1
    fi
fi

# check MODE: run lv2lint -MMODE, print its report, and count what fails it.
failed=0
check() {
    mode=$1
    out="$tmp/$mode.txt"
    "$LV2LINT" -q -M"$mode" -Swarn -Snote "$URI" >"$out" 2>&1
    rc=$?
    # -q drops the banner, not the report
    sed 's/^/  /' "$out"
    bad=$(awk '
        /^[[:space:]]*\[(FAIL|WARN)\]/ {
            level = $1; gsub(/[][]/, "", level)
            name = $0; sub(/^[[:space:]]*\[[A-Z]+\][[:space:]]*/, "", name)
            print level ": " name
        }
    ' "$out")
    fails=$(grep -c '\[FAIL\]' "$out")
    warns=$(grep -c '\[WARN\]' "$out")
    notes=$(grep -c '\[NOTE\]' "$out")
    if ! grep -q "^<$URI>" "$out"; then
        bad="${bad:+$bad
}lv2lint did not report on <$URI>"
    fi
    if [ "$rc" -ne 0 ]; then
        bad="${bad:+$bad
}lv2lint exited with status $rc"
    fi
    if [ -n "$bad" ]; then
        echo "FAIL lv2lint -M$mode: $fails FAIL, $warns WARN, $notes NOTE"
        echo "$bad" | sed 's/^/  - /'
        failed=1
    else
        echo "PASS lv2lint -M$mode: $fails FAIL, $warns WARN, $notes NOTE"
    fi
}

echo "== $("$LV2LINT" -v 2>&1 | head -n 1) on $BUNDLE"
check pack
check nopack
if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "lv2lint: passed (no FAIL, no WARN in -Mpack and -Mnopack)"
exit 0
