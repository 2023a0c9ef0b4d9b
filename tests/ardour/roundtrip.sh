#!/bin/sh
# SPDX-License-Identifier: MIT
# Sessions carry their models, in Ardour 7 headless (ardour7-lua, Dummy
# backend): tests/ardour/session_roundtrip.lua saves a session whose rnnmidi
# plays a drums model that a user preset took from outside the session
# (PHASE=save); this script then moves the session folder and deletes the
# original model; the session is reopened and recorded (PHASE=reopen). The
# notes must come from the drums model the session saved: every note on
# MIDI channel 10 with a GM drum pitch of the drums encoding, where the
# bundle's default melody model plays channel 1. The saved copy must be a
# regular file inside the session, not a link; saved again after reopening,
# the session gets no second copy of the model's bytes.
#
# Needs presets/drums-gru.rnnw in the bundle (exit 77, skipped, without it).
# Run from the top folder: `make test-ardour-session`.
set -eu
BUILD=${BUILD:-build}
FIXTURE=${FIXTURE:-$BUILD/test/ardour_fixture}
URI=https://rnnmidi.org/plugins/rnnmidi
LABEL="Session round trip"
DRUMS="$BUILD/rnnmidi.lv2/drums-gru.rnnw"
if [ ! -e "$DRUMS" ]; then
    echo "SKIP test-ardour-session: no drums model in the bundle ($DRUMS)"
    exit 77
fi
TMP=$(mktemp -d /tmp/rnnmidi-ardour-session-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/lv2" "$TMP/home" "$TMP/models" "$TMP/moved"
cp -r "$BUILD/rnnmidi.lv2" "$TMP/lv2/"
if [ ! -e "$TMP/lv2/rnnmidi.lv2/melody-lstm.rnnw" ]; then
    "$FIXTURE" "$TMP/lv2/rnnmidi.lv2/melody-lstm.rnnw"
fi
# the model the session must carry, outside the bundle and the session
cp "$DRUMS" "$TMP/models/drums.rnnw"

# a user preset naming it, in a bundle of its own (as a host saves one)
P="$TMP/lv2/rnnmidi-roundtrip.lv2"
mkdir -p "$P"
cat >"$P/manifest.ttl" <<TTL
@prefix lv2: <http://lv2plug.in/ns/lv2core#> .
@prefix pset: <http://lv2plug.in/ns/ext/presets#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<roundtrip.ttl> a pset:Preset ; lv2:appliesTo <$URI> ; rdfs:seeAlso <roundtrip.ttl> .
TTL
cat >"$P/roundtrip.ttl" <<TTL
@prefix lv2: <http://lv2plug.in/ns/lv2core#> .
@prefix pset: <http://lv2plug.in/ns/ext/presets#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix state: <http://lv2plug.in/ns/ext/state#> .
<> a pset:Preset ; lv2:appliesTo <$URI> ; rdfs:label "$LABEL" ;
    state:state [ <$URI#model> <file://$TMP/models/drums.rnnw> ] .
TTL

# Ardour 7.3 headless aborts now and then while it sets up ports
# ("basic_string: construction from null is not valid"); a run that ends so,
# before printing what this script waits for, is retried. A wrong result, or
# any other failure, is not.
ardour() { # PHASE DIR WANTED-LINE
    for attempt in 1 2 3; do
        if HOME="$TMP/home" LV2_PATH="$TMP/lv2:/usr/lib/lv2" SESSION_DIR="$2" PHASE="$1" \
           PRESET_LABEL="$LABEL" REC_SECONDS=${REC_SECONDS:-6} \
           timeout 180 ardour7-lua tests/ardour/session_roundtrip.lua >"$TMP/$1.txt" 2>&1; then
            grep -q "^$3" "$TMP/$1.txt" && return 0
        fi
        if grep -q "^$3" "$TMP/$1.txt" ||
           ! grep -q "basic_string: construction from null is not valid" "$TMP/$1.txt"; then
            echo "test-ardour-session: Ardour ($1) failed:"; tail -5 "$TMP/$1.txt"; return 1
        fi
        echo "test-ardour-session: Ardour ($1) aborted while starting (run $attempt), again"
        [ "$1" = save ] && rm -rf "$2"
        [ "$1" = reopen ] && { rm -rf "$2"; cp -a "$TMP/pristine" "$2"; }
    done
    echo "test-ardour-session: FAIL (Ardour did not complete $1)"; return 1
}

ardour save "$TMP/session" SAVED || exit 1
grep -E '^PRESET' "$TMP/save.txt"

# the session goes elsewhere; the original model goes away
mv "$TMP/session" "$TMP/moved/session"
rm "$TMP/models/drums.rnnw"
copies=$(find "$TMP/moved/session" -name 'drums*.rnnw' -type f | wc -l)
links=$(find "$TMP/moved/session" -name 'drums*.rnnw' -type l | wc -l)
echo "test-ardour-session: the moved session holds $copies copy(ies) and $links link(s) of the model"
carried=1
if [ "$copies" -lt 1 ] || [ "$links" -gt 0 ]; then
    find "$TMP/moved/session/plugins" 2>/dev/null | tail -10
    echo "test-ardour-session: the session does not carry its model (the notes will tell)"
    carried=""
fi
cp -a "$TMP/moved/session" "$TMP/pristine"

ardour reopen "$TMP/moved/session" REGIONS || exit 1
# saved again after reopening: the model is not copied again (a hard link to
# the session's copy in the new state folder, or no new folder at all)
grep -q '^RESAVED' "$TMP/reopen.txt" || { echo "test-ardour-session: FAIL (no second save)"; exit 1; }
files=$(find "$TMP/moved/session" -name 'drums*.rnnw' -type f | wc -l)
inodes=$(find "$TMP/moved/session" -name 'drums*.rnnw' -type f -printf '%i\n' | sort -u | wc -l)
echo "test-ardour-session: after saving the reopened session: $files file(s) of the model, $inodes distinct"
[ "$inodes" -eq 1 ] || carried=""
awk '
  $1 == "REGIONS" { regions = $2 }
  $1 == "NOTE" {
      n++
      if ($5 != 9) { other++ }
      if ($3 != 36 && $3 != 38 && $3 != 42 && $3 != 46 && $3 != 45 && $3 != 48 &&
          $3 != 50 && $3 != 49 && $3 != 51) { notdrum++ }
  }
  END {
      printf "test-ardour-session: %d region(s), %d notes, %d off channel 10, %d not drum pitches\n", regions, n, other, notdrum
      if (regions < 1 || n < 8 || other > 0 || notdrum > 0) exit 1
  }' "$TMP/reopen.txt" && [ -n "$carried" ] || { echo "test-ardour-session: FAIL"; exit 1; }
echo "test-ardour-session: PASS"
