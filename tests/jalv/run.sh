#!/bin/sh
# SPDX-License-Identifier: MIT
# rnnmidi inside jalv (1.6.6, console), headless, on JACK's dummy driver: a
# private JACK server (jackd --no-realtime -d dummy), jalv running the bundle
# with its output connected to jack_midi_dump, and jalv's console driven
# through a FIFO. Checked: the plugin plays notes (the default melody model,
# MIDI channel 1); loading the bundle's "Drums GRU" preset through the console
# (`preset URI`) sets its control values (temperature 0.9) and its model
# (state:state), after which the notes are drums on channel 10.
#
# jalv 1.6.6 applies a preset's control values through its UI queue when the
# plugin declares state:threadSafeRestore, and reads that queue only when it
# has a UI; a console jalv has one only with -s, so this runs `jalv -s`
# (without it, `preset` changes the model but no control value).
#
# Exits 77 (skipped) when jackd, jalv or a JACK example client it uses
# (jack_midi_dump, jack_lsp, jack_connect, jack_transport) is missing. Run from
# the top folder: `make test-jalv`; KEEP=1 keeps the scratch folder (logs, the
# MIDI dump) for a look.
set -eu
BUILD=${BUILD:-build}
FIXTURE=${FIXTURE:-$BUILD/test/ardour_fixture}
URI=https://rnnmidi.org/plugins/rnnmidi
for tool in jackd jalv jack_midi_dump jack_lsp jack_connect jack_transport stdbuf; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP test-jalv: $tool is not installed"; exit 77; }
done
TMP=$(mktemp -d /tmp/rnnmidi-jalv-XXXXXX)
SERVER=rnnmidi-jalv-$$
JACKD="" DUMP="" JALV=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    for p in $JALV $DUMP $JACKD; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in $JALV $DUMP $JACKD; do kill -9 "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"; [ -z "${KEEP:-}" ] || echo "kept $TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$TMP/lv2"
cp -r "$BUILD/rnnmidi.lv2" "$TMP/lv2/"
if [ ! -e "$TMP/lv2/rnnmidi.lv2/melody-lstm.rnnw" ]; then
    "$FIXTURE" "$TMP/lv2/rnnmidi.lv2/melody-lstm.rnnw"
fi
if [ ! -e "$TMP/lv2/rnnmidi.lv2/drums-gru.rnnw" ]; then
    echo "SKIP test-jalv: no drums model in the bundle (presets/drums-gru.rnnw)"; exit 77
fi
export JACK_DEFAULT_SERVER=$SERVER JACK_NO_AUDIO_RESERVATION=1

jackd --no-realtime -n "$SERVER" -d dummy -r 48000 -p 1024 >"$TMP/jackd.txt" 2>&1 &
JACKD=$!
wait_for() { # seconds, command...
    n=$(($1 * 4)); shift
    while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; n=$((n - 1)); done
    return 1
}
wait_for 10 jack_lsp || { echo "test-jalv: FAIL (jackd did not start)"; cat "$TMP/jackd.txt"; exit 1; }

stdbuf -oL jack_midi_dump rnnmidi-dump >"$TMP/dump.txt" 2>&1 &
DUMP=$!
mkfifo "$TMP/console"
LV2_PATH="$TMP/lv2" stdbuf -oL jalv -s -n rnnmidi-jalv -x "$URI" <"$TMP/console" >"$TMP/jalv.txt" 2>&1 &
JALV=$!
exec 3>"$TMP/console"
has_ports() { jack_lsp | grep -q '^rnnmidi-jalv:' && jack_lsp | grep -q '^rnnmidi-dump:'; }
wait_for 15 has_ports || { echo "test-jalv: FAIL (jalv did not start)"; cat "$TMP/jalv.txt"; exit 1; }
OUT=$(jack_lsp -t | awk '/^rnnmidi-jalv:/ { p = $0 } /midi/ && p { print p; p = "" } /^[^ \t]/ && !/^rnnmidi-jalv:/ { p = "" }' | \
      while read -r port; do jack_lsp -p "$port" | grep -q output && echo "$port"; done | head -1)
IN=$(jack_lsp | grep '^rnnmidi-dump:' | head -1)
[ -n "$OUT" ] && [ -n "$IN" ] || { echo "test-jalv: FAIL (no MIDI output port)"; jack_lsp -t; exit 1; }
jack_connect "$OUT" "$IN"
echo "test-jalv: $OUT -> $IN"
# the plugin follows the host's transport: roll JACK's
echo play | jack_transport >/dev/null 2>&1

# jack_midi_dump prints "<time>: 90 3c 64"-style lines; the status byte's low
# nibble is the channel (0 = channel 1, 9 = channel 10)
ons() { # dump file, from line: note-ons per channel kind
    tail -n +"$2" "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^9[0-9a-f]$/ && $(i+2) != "00") { if ($i == "99") d++; else m++; break } }
                              END { printf "%d %d\n", m + 0, d + 0 }'
}
sleep 4
before=$(ons "$TMP/dump.txt" 1)
echo "test-jalv: default model: $before (melody drums) note-ons"
mark=$(($(wc -l <"$TMP/dump.txt") + 1))
echo "preset $URI#preset-drums-gru" >&3
sleep 1
echo "controls" >&3
sleep 4
after=$(ons "$TMP/dump.txt" "$mark")
echo "test-jalv: after the Drums GRU preset: $after (melody drums) note-ons"
echo "quit" >&3
wait_for 10 sh -c "! kill -0 $JALV" || true
temp=$(grep '^temperature = \|> temperature = ' "$TMP/jalv.txt" | tail -1 | sed 's/.*= //')
echo "test-jalv: temperature after the preset: $temp"
set -- $before; bm=$1 bd=$2
set -- $after; ad=$2
ok=1
[ "$bm" -ge 4 ] && [ "$bd" -eq 0 ] || { echo "test-jalv: the default model did not play melody notes"; ok=""; }
[ "$ad" -ge 4 ] || { echo "test-jalv: no drums after the preset"; ok=""; }
case "$temp" in 0.9*) ;; *) echo "test-jalv: the preset's temperature (0.9) was not applied"; ok="" ;; esac
[ -n "$ok" ] || { echo "test-jalv: FAIL"; tail -20 "$TMP/jalv.txt"; exit 1; }
echo "test-jalv: PASS"
