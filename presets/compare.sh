#!/bin/sh
# SPDX-License-Identifier: MIT
# rnnmidi: the structure comparison of the model card (presets/structure.md):
# the same small net (GRU 2 x 128, embed 32, the metric position, melody also
# the harmony), the same corpus, budget (1056 optimiser steps, one thread)
# and seed, trained plain, with lookback inputs and with attention over the
# last 16, 32 and 64 outputs, for melody and drums; each evaluated on the test
# split (rnnmidi-eval) and by the musicality measure (rnnmidi-musicality, 10
# takes of 32 bars from a zero state and takes primed by the test files).
# Not part of `make presets`; 5 to 10 minutes a run on one core, two runs side
# by side. Environment: BUILD (build), CORPUS (data/corpus), WORK
# (build/compare), OUT (presets/structure.md); COMPARE_SKIP_TRAINING=1 keeps
# the runs already measured in WORK.
set -eu

BUILD=${BUILD:-build}
CORPUS=${CORPUS:-data/corpus}
WORK=${WORK:-$BUILD/compare}
OUT=${OUT:-presets/structure.md}
mkdir -p "$WORK"

MELODY_PATHS=
for d in "$CORPUS"/*/; do
    case $d in
    */mma-grooves/) ;;
    *) MELODY_PATHS="$MELODY_PATHS ${d%/}" ;;
    esac
done
paths_of() { [ "$1" = melody ] && echo "$MELODY_PATHS" || echo "$CORPUS"; }
cond_of() { [ "$1" = melody ] && echo metric,harmony || echo metric; }

run() { # KIND NAME OPTIONS...: train, evaluate, measure
    kind=$1 name=$2
    shift 2
    data=$(for p in $(paths_of $kind); do printf -- '--data %s ' "$p"; done)
    $BUILD/rnnmidi-train $data --kind $kind --conditions $(cond_of $kind) --cell gru --layers 2 \
        --hidden 128 --embed 32 --max-steps 1056 --threads 1 --seed 1 --quiet "$@" \
        --out "$WORK/$kind-$name.rnnw" > "$WORK/$kind-$name.train.txt" 2>&1
    $BUILD/rnnmidi-eval --model "$WORK/$kind-$name.rnnw" --split test $(paths_of $kind) \
        > "$WORK/$kind-$name.test.txt"
    $BUILD/rnnmidi-musicality --model "$WORK/$kind-$name.rnnw" --seeds 10 --bars 32 --quiet \
        $(paths_of $kind) > "$WORK/$kind-$name.mus.txt"
}
variants="plain: lookback:--lookback attn16:--attention,16 attn32:--attention,32 attn64:--attention,64"
running=0
for kind in drums melody; do
    for v in $variants; do
        name=${v%%:*} opts=$(echo "${v#*:}" | tr , ' ')
        if [ -n "${COMPARE_SKIP_TRAINING:-}" ] && [ -f "$WORK/$kind-$name.mus.txt" ]; then
            continue
        fi
        # two runs side by side
        run $kind $name $opts &
        running=$((running + 1))
        if [ $running -ge 2 ]; then
            wait
            running=0
        fi
    done
done
wait

# The table.
field() { tr ' ' '\n' < "$1" | grep "^$2=" | cut -d= -f2; }
mus() { # FILE FEATURE: zero state / primed (mean_overlap: its two figures)
    awk -v f="$2" '$1 == f { if (f == "mean_overlap") print $2 " / " $3; else print $2 " / " $4; exit }' "$1"
}
train() { awk -v f="$2" '$1 == f { print $6; exit }' "$1"; }
table() { # KIND FEATURES...
    kind=$1
    shift
    printf '| %s | test NLL |' "$kind"
    for f in "$@"; do printf ' %s |' "$f"; done
    printf ' mean overlap |\n|---|---|'
    for f in "$@" x; do printf -- '---|'; done
    printf '\n'
    for v in $variants; do
        name=${v%%:*} opts=$(echo "${v#*:}" | tr , ' ')
        m=$WORK/$kind-$name.mus.txt
        printf '| %s | %s |' "${opts:-plain}" "$(field "$WORK/$kind-$name.test.txt" nll_nats)"
        for f in "$@"; do printf ' %s |' "$(mus "$m" $f)"; done
        printf ' %s |\n' "$(mus "$m" mean_overlap)"
    done
    m=$WORK/$kind-plain.mus.txt
    printf '| train split | |'
    for f in "$@"; do printf ' %s |' "$(train "$m" $f)"; done
    printf ' |\n'
}
{
cat <<END
# Lookback and attention, compared

Written by \`presets/compare.sh\`. One small net (GRU 2 x 128, embed 32; the
metric position, melody also the harmony), the same corpus (melody without
mma-grooves, as the presets), the same budget (1056 optimiser steps on one
thread) and seed 1, trained plain, with \`--lookback\` and with
\`--attention N\` (A = 64); test NLL from \`rnnmidi-eval --split test\`,
features (zero state / primed by the test files) and mean overlap from
\`rnnmidi-musicality --seeds 10 --bars 32\`, beside the train split.

END
table drums hits_per_bar consistency backbeat hat_on_8ths repeated_bars
echo
table melody notes_per_bar repeated_bars leap_ratio in_key chord_tones
} > "$OUT"
echo "compare: wrote $OUT"
