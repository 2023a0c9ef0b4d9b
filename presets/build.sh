#!/bin/sh
# SPDX-License-Identifier: MIT
# rnnmidi: build the shipped presets from scratch (`make presets` runs this
# from the repo top after building the tools; it is not part of `make test`).
#
# Trains presets/melody-lstm.rnnw (the plugin's default), drums-gru.rnnw and,
# with the LSTM's parameter budget, melody-gru.rnnw and melody-rnn.rnnw on the
# development corpus data/corpus (`make corpus`), with fixed seeds and step
# counts (no wall-clock limits), so a run repeats the figures; evaluates each
# on the test split with rnnmidi-eval; generates the examples of
# presets/examples/ with rnnmidi-gen (MIDI) and rnnmidi-demo (piano roll);
# and writes the model card presets/README.md. Working files (checkpoints,
# logs, renders) go to build/presets/. About 75 minutes on 2 cores.
# Environment: BUILD (build), CORPUS (data/corpus); PRESETS_SKIP_TRAINING=1
# keeps the presets already in presets/ and redoes the rest; PRESETS_TRAIN
# (e.g. "drums-gru") trains only the presets it names, and
# PRESETS_TRAIN_ONLY=1 stops after the training (to train on several
# machines, or several runs side by side).
set -eu

BUILD=${BUILD:-build}
CORPUS=${CORPUS:-data/corpus}
WORK=$BUILD/presets
OUT=presets
EX=$OUT/examples
TRAIN=$BUILD/rnnmidi-train
EVAL=$BUILD/rnnmidi-eval
GEN=$BUILD/rnnmidi-gen
DEMO=$BUILD/rnnmidi-demo

for t in $TRAIN $EVAL $GEN $DEMO; do
    [ -x "$t" ] || { echo "presets: $t is missing (make presets builds it)" >&2; exit 1; }
done
[ -d "$CORPUS" ] || { echo "presets: no corpus in $CORPUS (make corpus)" >&2; exit 1; }
mkdir -p "$WORK" "$EX"

# The training runs. Each command line is stored in its preset's metadata
# (key 'command'); keep them literal. The melody presets learn from every
# package but MMA's rendered groove library, whose tracks are drum patterns
# and accompaniment figures, not melodies (MELODY_DATA); the drums learn from
# the whole corpus. Every preset takes the metric position (the step's place
# in beat and bar); the melody presets also hear the harmony of the other
# voices, zeroed on 30% of the windows (the trainer's default) so they play
# with and without a player.
MELODY_PATHS= MELODY_DATA=
for d in "$CORPUS"/*/; do
    case $d in
    */mma-grooves/) ;;
    *) MELODY_PATHS="$MELODY_PATHS ${d%/}" MELODY_DATA="$MELODY_DATA --data ${d%/}" ;;
    esac
done
data_of() { # PRESET: the corpus paths it learns from
    case $1 in
    melody-*) echo "$MELODY_PATHS" ;;
    *) echo "$CORPUS" ;;
    esac
}
train_melody_lstm() {
    $TRAIN $MELODY_DATA --kind melody --conditions metric,harmony --attention 32 --cell lstm --layers 2 --hidden 256 --embed 64 --epochs 45 --patience 5 --seed 1 --threads 2 --name melody-lstm --out $WORK/melody-lstm.rnnw
}
train_drums_gru() {
    $TRAIN --data $CORPUS --kind drums --conditions metric --attention 32 --cell gru --layers 2 --hidden 256 --embed 64 --epochs 60 --patience 6 --seed 1 --threads 2 --name drums-gru --out $WORK/drums-gru.rnnw
}
# Near the LSTM's budget (2 x 256, embed 64: 944,898 parameters with the 46
# condition columns) for the other cells: GRU 2 x 296 (936,706), vanilla RNN
# 2 x 512 (919,810). These two run side by side, one thread each.
train_melody_gru() {
    $TRAIN $MELODY_DATA --kind melody --conditions metric,harmony --cell gru --layers 2 --hidden 296 --embed 64 --epochs 12 --patience 5 --seed 1 --threads 1 --name melody-gru --out $WORK/melody-gru.rnnw
}
train_melody_rnn() {
    $TRAIN $MELODY_DATA --kind melody --conditions metric,harmony --cell rnn --layers 2 --hidden 512 --embed 64 --epochs 12 --patience 5 --seed 1 --threads 1 --name melody-rnn --out $WORK/melody-rnn.rnnw
}

run() { # NAME: train into $WORK, log there, copy the preset and its curve
    name=$1
    echo "presets: training $name (log: $WORK/$name.log)"
    start=$(date +%s)
    "train_$(echo "$name" | tr - _)" > "$WORK/$name.log" 2>&1 || {
        tail -5 "$WORK/$name.log" >&2
        exit 1
    }
    echo "presets: $name trained in $(($(date +%s) - start)) s"
    cp "$WORK/$name.rnnw" "$OUT/$name.rnnw"
    cp "$WORK/$name.svg" "$OUT/$name.svg"
}

wanted() { # NAME: trained in this run (PRESETS_TRAIN, default all)
    case " ${PRESETS_TRAIN:-melody-lstm drums-gru melody-gru melody-rnn} " in
    *" $1 "*) return 0 ;;
    esac
    return 1
}
if [ "${PRESETS_SKIP_TRAINING:-0}" != 1 ]; then
    ! wanted melody-lstm || run melody-lstm
    ! wanted drums-gru || run drums-gru
    gru= rnn=
    if wanted melody-gru; then run melody-gru & gru=$!; fi
    if wanted melody-rnn; then run melody-rnn & rnn=$!; fi
    [ -z "$gru" ] || wait $gru
    [ -z "$rnn" ] || wait $rnn
fi
[ "${PRESETS_TRAIN_ONLY:-0}" != 1 ] || exit 0

# Evaluation on the test and valid splits; the melody presets also with the
# harmony zeroed (as without a player), and, when the repository's history is
# at hand, the unconditioned presets of commit $BASELINE on the same files.
BASELINE=5048757
for name in melody-lstm melody-gru melody-rnn drums-gru; do
    for split in test valid; do
        $EVAL --model $OUT/$name.rnnw --split $split $(data_of $name) > "$WORK/$name.$split.txt"
    done
    case $name in
    melody-*) $EVAL --model $OUT/$name.rnnw --split test --no-harmony $(data_of $name) \
                  > "$WORK/$name.test-noharm.txt" ;;
    esac
    rm -f "$WORK/$name.v1.test.txt"
    if git cat-file -e "$BASELINE:presets/$name.rnnw" 2> /dev/null; then
        git show "$BASELINE:presets/$name.rnnw" > "$WORK/$name.v1.rnnw"
        $EVAL --model "$WORK/$name.v1.rnnw" --split test $(data_of $name) > "$WORK/$name.v1.test.txt"
    fi
    echo "presets: $name test: $(cat "$WORK/$name.test.txt")"
done

# Each preset with its matrices in bf16 and int8 (rnnmidi-quantize), on the
# same test files.
for name in melody-lstm melody-gru melody-rnn drums-gru; do
    for d in bf16 int8; do
        $BUILD/rnnmidi-quantize $OUT/$name.rnnw --dtype $d --out "$WORK/$name.$d.rnnw" > /dev/null
        $EVAL --model "$WORK/$name.$d.rnnw" --split test $(data_of $name) > "$WORK/$name.$d.test.txt"
    done
done

# The musicality measure: 10 zero-state takes of 32 bars and 4-bar takes
# primed by each test file (hearing its harmony and meter) beside the train
# split; the melody LSTM also with the harmony zeroed, the real test split
# for the real chord-tone share, and the unconditioned presets of $BASELINE.
MUS=$BUILD/rnnmidi-musicality
for name in melody-lstm melody-gru melody-rnn drums-gru; do
    $MUS --model $OUT/$name.rnnw --seeds 10 --bars 32 --quiet $(data_of $name) > "$WORK/$name.mus.txt"
    if [ -f "$WORK/$name.v1.rnnw" ]; then
        $MUS --model "$WORK/$name.v1.rnnw" --seeds 10 --bars 32 --quiet $(data_of $name) \
            > "$WORK/$name.v1.mus.txt"
    fi
done
$MUS --model $OUT/melody-lstm.rnnw --seeds 10 --bars 32 --no-harmony --quiet $MELODY_PATHS \
    > "$WORK/melody-lstm.noharm.mus.txt"
$MUS --kind melody --vs-split test --quiet $MELODY_PATHS > "$WORK/melody-test.mus.txt"
$MUS --kind drums --vs-split test --quiet $CORPUS > "$WORK/drums-test.mus.txt"

# Examples: 8 bars from each preset, and the LSTM continuing a primer.
examples=""
example() { # NAME PRESET ARGS...: presets/examples/NAME.mid and .png
    ex=$1 preset=$2
    shift 2
    $GEN --model $OUT/$preset.rnnw --bars 8 "$@" --out $EX/$ex.mid 2> "$WORK/$ex.gen.txt"
    if grep -q ": 0 notes" "$WORK/$ex.gen.txt"; then
        echo "presets: $ex: no notes in 8 bars (left out)"
        rm -f $EX/$ex.mid
        return 0
    fi
    $DEMO --model $OUT/$preset.rnnw --primer $EX/$ex.mid --mode continue --set listen_gap=8 \
        --seed 1 --seconds 16 --render $WORK/$ex.wav --roll $EX/$ex.png --no-ui --quiet > /dev/null
    examples="$examples$ex|$preset|$GEN --model $OUT/$preset.rnnw --bars 8 $* --out $EX/$ex.mid
"
}
example melody-lstm-seed1 melody-lstm --seed 1
example melody-lstm-seed2 melody-lstm --seed 2
example melody-lstm-seed2-t12 melody-lstm --seed 2 --temperature 1.2
example melody-gru-seed1 melody-gru --seed 1
example melody-rnn-seed1 melody-rnn --seed 1
example drums-gru-seed1 drums-gru --seed 1

# Conditioned examples: each preset over the parts of a test-split file (it
# hears their harmony and meter), the whole file as MIDI by rnnmidi-gen, and
# the demo's piano roll of its first 16 s, where the file is the player.
harmony_examples=""
harmony_example() { # NAME PRESET FILE
    ex=$1 preset=$2 file=$3
    $GEN --model $OUT/$preset.rnnw --harmony "$file" --seed 1 --out $EX/$ex.mid 2> "$WORK/$ex.gen.txt"
    $DEMO --model $OUT/$preset.rnnw --harmony "$file" --seed 1 --seconds 16 --render $WORK/$ex.wav \
        --roll $EX/$ex.png --no-ui --quiet > /dev/null
    harmony_examples="$harmony_examples$ex|$preset|$file
"
}
harmony_example melody-lstm-over-linns-basket melody-lstm $CORPUS/openttd-openmsx/linns_basket.mid
harmony_example melody-lstm-over-sunday-drivers melody-lstm $CORPUS/simutrans-data/03-Sunday-drivers.mid
harmony_example drums-gru-over-sunday-drivers drums-gru $CORPUS/simutrans-data/03-Sunday-drivers.mid

# What the drums' attention reads: 4 bars from a zero state on a 4/4 grid.
ATTN_CMD="$GEN --model $OUT/drums-gru.rnnw --bars 4 --seed 1 --attention-png $EX/drums-gru-attention.png --out $WORK/drums-gru-attention.mid"
$ATTN_CMD 2> "$WORK/drums-gru-attention.gen.txt"

# ---------------------------------------------------------------------------
# The model card.
meta() { # PRESET KEY
    grep -a -m1 "^$2=" "$OUT/$1.rnnw" | cut -d= -f2-
}
field() { # FILE KEY: a key=value of an rnnmidi-eval line
    tr ' ' '\n' < "$1" | grep "^$2=" | cut -d= -f2
}
params() { # CELL LAYERS HIDDEN EMBED VOCAB CONDITION-COLUMNS ATTENTION-SIZE
    awk -v c=$1 -v L=$2 -v H=$3 -v E=$4 -v V=$5 -v C=$6 -v A=${7:-0} 'BEGIN {
        G = c == "lstm" ? 4 : c == "gru" ? 3 : 1
        I = (E > 0 ? E : V) + C
        n = G * H * (I + H + 2) + (L - 1) * G * H * (2 * H + 2) + V * H + V + (E > 0 ? V * E : 0)
        if (A > 0) n += 2 * A * H + A + V * H # W1, W2, v, the head over [h | context]
        printf "%d", n }'
}
kept() { # PRESET: the epoch and step of the best valid NLL, from the log
    awk -F, 'NR > 1 && $4 != "" && (best == "" || $4 < best) { best = $4; e = $2; s = $1 }
             END { if (e != "") printf "%s (step %s)", e, s; else printf "?" }' \
        "$WORK/$1.csv" 2>/dev/null || printf '?'
}
row() { # PRESET CELL LAYERS HIDDEN EMBED VOCAB CONDITION-COLUMNS ATTENTION-SIZE TARGET
    p=$1 t=$WORK/$1.test.txt
    nll=$(field "$t" nll_nats)
    met=$(awk -v a="$nll" -v b="$9" 'BEGIN { print (a <= b) ? "met" : "missed" }')
    printf '| %s | %s %s x %s, embed %s | %s | %s KiB | %s | %s | %s | %s s | %s | %s | %s | %s (%s) |\n' \
        "$p" "$2" "$3" "$4" "$5" "$(params $2 $3 $4 $5 $6 $7 $8)" \
        "$(($(wc -c < "$OUT/$p.rnnw") / 1024))" "$(meta $p steps)" "$(meta $p epochs)" "$(kept $p)" \
        "$(meta $p train_seconds)" "$(meta $p valid_nll)" "$nll" "$(field "$t" event_nll_nats)" \
        "$9" "$met"
}
lstm_event=$(field $WORK/melody-lstm.test.txt event_nll_nats)
lstm_event_met=$(awk -v a="$lstm_event" 'BEGIN { print (a <= 3.20) ? "met" : "missed" }')
pkgs() {
    for p in mma mma-grooves simutrans-data openttd-openmsx freedink-data planetblupi-music-midi \
        crimson liquidwar-data pangzero pinball-table-hurd-data playmidi yoshimi-data; do
        deb=$p
        case $p in
        mma) lic="GPL-2+ (the MMA library's example grooves and songs)" ;;
        mma-grooves) deb=mma lic="GPL-2+ (MMA's groove library, rendered by mma: one file per library file, each groove 8 bars)" ;;
        simutrans-data) lic="Artistic-1.0" ;;
        openttd-openmsx) lic="GPL-2.0" ;;
        freedink-data) lic="zlib-style licence (the original Dink Smallwood MIDIs); the free replacements under GPL-3+, CC BY 3.0, CC BY-SA 3.0 or Free Art 1.3 (its debian/copyright, README-REPLACEMENTS.txt)" ;;
        planetblupi-music-midi) lic="GPL-3+" ;;
        crimson) lic="GPL-2+, or CC BY-SA 1.0 apart from the game (music/default.mid, its debian/copyright)" ;;
        liquidwar-data) lic="GPL-2+" ;;
        pangzero) lic="GPL-2+" ;;
        pinball-table-hurd-data) lic="GPL-2+" ;;
        playmidi) lic="GPL-2+ (its example files)" ;;
        yoshimi-data) lic="GPL-2+" ;;
        esac
        ver=$(apt-cache show $deb 2>/dev/null | awk '/^Version:/ { print $2; exit }')
        printf '| %s | %s | %s | %s |\n' "$p" "${ver:-?}" "$(find $CORPUS/$p -type f | wc -l)" "$lic"
    done
}
splits() { # KIND PRESET
    for s in train valid test; do
        if [ $s = train ]; then
            $EVAL --model $OUT/$2.rnnw --split train $(data_of $2) > "$WORK/$2.train.txt"
        fi
        printf '| %s | %s | %s | %s |\n' "$1" $s "$(field "$WORK/$2.$s.txt" files)" \
            "$(field "$WORK/$2.$s.txt" steps)"
    done
}
cmd() { meta "$1" command; }
mus() { # FILE FEATURE COLUMN: a figure of an rnnmidi-musicality table
    # (columns: 2 generated or real, 4 primed, 6 train; mean_overlap 2, 3)
    awk -v f="$2" -v c="$3" '$1 == f { print $c; exit }' "$1"
}
check() { # PRESET FEATURE KIND TARGET-TEXT: a row of the targets table, for
    # the zero-state and the primed takes; KIND: ratio / ratio3 (within 0.05 /
    # 0.03 of the train split), rel15 / rel20 (within 15% / 20%), min:X (at least X)
    f=$WORK/$1.mus.txt
    if [ "$2" = mean_overlap ]; then
        g=$(mus "$f" $2 2) p=$(mus "$f" $2 3) t=-
    else
        g=$(mus "$f" $2 2) p=$(mus "$f" $2 4) t=$(mus "$f" $2 6)
    fi
    awk -v pr="$1" -v ft="$2" -v k="$3" -v tx="$4" -v g="$g" -v p="$p" -v t="$t" 'function ok(x) {
            if (x == "-" || x == "") return "-"
            if (k == "ratio") return (x - t <= 0.05 && t - x <= 0.05) ? "met" : "missed"
            if (k == "ratio3") return (x - t <= 0.03 && t - x <= 0.03) ? "met" : "missed"
            if (k == "rel15") return (x >= 0.85 * t && x <= 1.15 * t) ? "met" : "missed"
            if (k == "rel20") return (x >= 0.8 * t && x <= 1.2 * t) ? "met" : "missed"
            split(k, m, ":"); return x >= m[2] ? "met" : "missed" }
        BEGIN { printf "| %s | %s | %s (%s) | %s (%s) | %s | %s |\n", pr, ft, g, ok(g), p, ok(p), t, tx }'
}
chord_check() { # the harmony targets of the melody LSTM (primed takes)
    with=$(mus $WORK/melody-lstm.mus.txt chord_tones 4)
    without=$(mus $WORK/melody-lstm.noharm.mus.txt chord_tones 4)
    real=$(mus $WORK/melody-test.mus.txt chord_tones 2)
    awk -v a="$with" -v b="$without" -v r="$real" 'BEGIN {
        printf "| melody-lstm | chord-tone share on beats, hearing the harmony | %s | %s (real test melodies) | within 0.05 of the real share: %s |\n", a, r,
            (a - r <= 0.05 && r - a <= 0.05) ? "met" : "missed"
        printf "| melody-lstm | the same, harmony zeroed | %s | %s (hearing it) | at least 0.20 below: %.3f, %s |\n", b, a, a - b,
            (a - b >= 0.20) ? "met" : "missed" }'
}
dtype_row() { # PRESET: test NLL and file size per dtype
    f=$(field $WORK/$1.test.txt nll_nats) b=$(field $WORK/$1.bf16.test.txt nll_nats)
    i=$(field $WORK/$1.int8.test.txt nll_nats)
    awk -v p="$1" -v f="$f" -v b="$b" -v i="$i" -v sf="$(wc -c < $OUT/$1.rnnw)" \
        -v sb="$(wc -c < $WORK/$1.bf16.rnnw)" -v si="$(wc -c < $WORK/$1.int8.rnnw)" 'BEGIN {
        printf "| %s | %s | %s (%+.2f%%) | %s (%+.2f%%) | %.2f / %.2f / %.2f MB |\n", p, f,
            b, 100 * (b - f) / f, i, 100 * (i - f) / f, sf / 1e6, sb / 1e6, si / 1e6 }'
}
conditions_of() { # PRESET: the conditions of its training command
    c=$(cmd "$1" | sed -n 's/.*--conditions \([a-z,]*\).*/\1/p')
    echo "${c:-none}"
}
nll_row() { # PRESET
    t=$WORK/$1.test.txt n=$WORK/$1.test-noharm.txt v=$WORK/$1.v1.test.txt
    a=$(field "$t" nll_nats)
    b=$([ -f "$n" ] && field "$n" nll_nats || echo -)
    c=$([ -f "$v" ] && field "$v" nll_nats || echo "not at hand")
    d=$(awk -v a="$a" -v c="$c" 'BEGIN { if (c + 0 > 0) printf "%+.1f%%", 100 * (a - c) / c; else print "-" }')
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(conditions_of "$1")" "$(cond_step "$1")" \
        "$a" "$b" "$c" "$d"
}
cond_step() { # PRESET: whose conditions it hears (bit 4 of header offset 52)
    bits=$(od -An -tu4 -j52 -N4 "$OUT/$1.rnnw" | tr -d ' ')
    [ $((bits & 4)) -ne 0 ] && echo predicted || echo input
}

{
cat <<EOF
# rnnmidi presets: model card

Written by \`make presets\` (presets/build.sh), which rebuilds every file here
from scratch: the development corpus (\`make corpus\`), four training runs with
fixed seeds and step counts, the evaluation, the examples and this card. It
is not part of \`make test\` (tests/unit/test_presets.c checks the files).

| preset | cell and size | parameters | file | optimiser steps | epochs run | kept epoch | training time | valid NLL | test NLL | test NLL on events | target (test NLL) |
|---|---|---|---|---|---|---|---|---|---|---|---|
$(row melody-lstm lstm 2 256 64 130 46 64 1.28)
$(row melody-gru gru 2 296 64 130 46 0 1.28)
$(row melody-rnn rnn 2 512 64 130 46 0 1.28)
$(row drums-gru gru 2 256 64 512 34 64 1.70)

NLL: negative log-likelihood in nats per 16th-note step (lower is better);
"on events" counts only the steps whose target is not class 0, 'no event'.
Parameters are float32; each file is under 4 MiB. The valid split chose
the kept epoch (the best valid NLL); the test split was used for nothing but
the figures above.

**Reference**: an independent Kneser-Ney-smoothed 5-gram model trained on the
same train split gives, on the same test split, melody 2.19 and drums 2.76
nats per step, and melody 3.77 nats per step on events. The targets are 15%
below: melody 1.86, drums 2.35, and 3.20 on events for the melody LSTM
(measured: $lstm_event, $lstm_event_met).

## What each preset is for

- **melody-lstm** (\`melody-lstm.rnnw\`): the LV2 plugin's default model and
  the demo's melody voice. LV2 preset "Melody LSTM, accompany". An LSTM
  with attention over its last 32 outputs (two bars of 4/4), as the drums.
- **drums-gru** (\`drums-gru.rnnw\`): drum grooves on the 9 classes of
  Magenta's DrumsRNN map, channel 10; the demo's drum voice. LV2 preset
  "Drums GRU, accompany". A GRU with attention over its last 32 outputs
  (two bars of 4/4; core/FORMAT.md, "Attention"): each step reads back what
  it played one and two bars ago, so the groove repeats its bar.
- **melody-gru**, **melody-rnn**: the same melody task near the LSTM's
  parameter budget (2 layers; hidden 296 for the GRU, 512 for the vanilla
  tanh RNN, within 2.7% of the LSTM's count with the condition columns), to hear
  and read what the cell changes. LV2 presets "Melody GRU, accompany" and
  "Melody vanilla RNN, accompany". Within the whole build's budget they
  get a much shorter schedule than the LSTM (at most 12 epochs on one core
  each, against the LSTM's 45 on two), so the table compares the cells at
  unequal training. To compare them at the same step, read the LSTM's valid
  NLL at that step in build/presets/melody-lstm.csv (its longer learning-rate
  schedule makes that comparison favour the short runs).

## Data

The development corpus (\`make corpus\`): the MIDI files of eleven Debian
packages and MMA's groove library rendered by the mma package, each
distinct file (by sha256) once; the packages pianobooster, faust-common and
abcmidi are kept out (\`make corpus\` refuses them and any copy of their
MIDI files). A file's split (train, valid or test) follows from its sha256
(training/dataset.h), so the split never changes with the file's name or
folder, nor when files are added.

| package | version | files | licence |
|---|---|---|---|
$(pkgs)

Melody sequences are each track's skyline (highest sounding note) on a
16th-note grid, cut at silent gaps of 16 steps; drum sequences are the
channel-10 notes on the same grid (core/encoding.h). Steps per split (the
number of predicted steps, as rnnmidi-eval counts them):

| kind | split | files | steps |
|---|---|---|---|
$(splits melody melody-lstm)
$(splits drums drums-gru)

The melody presets learn from every package but mma-grooves (MMA's groove
library: drum patterns and accompaniment figures, not melodies) and are
evaluated on the same paths; the drums learn from the whole corpus. The
trainer sees the train split only; melody windows are transposed by a
random -5..5 semitones (the default), with their harmony, drums are not.

## Training

Truncated BPTT over windows of 64 steps, batches of 64 windows, AdamW (lr
0.002 with 200 warm-up steps and a cosine decay over all epochs, weight decay
0.01), gradient-norm clipping at 1, dropout 0.25 between layers and before the
head, an embedding of 64; the kept weights are those of the epoch with the
best valid NLL (early stop after --patience epochs without a better one).
Training time is the trainer's own wall-clock figure on 2 cores, so it
depends on what else the machine ran (AMD Zen 4, OpenBLAS
$(meta melody-lstm blas) kernels); the GRU and RNN ran side by side on one
core each. The exact commands (also in each preset's metadata, key
\`command\`):

\`\`\`
$(cmd melody-lstm)
$(cmd drums-gru)
$(cmd melody-gru)
$(cmd melody-rnn)
\`\`\`

Loss curves: melody-lstm.svg, drums-gru.svg, melody-gru.svg, melody-rnn.svg.

## Evaluation

\`build/rnnmidi-eval --model presets/NAME.rnnw --split test PATHS\` (PATHS: $CORPUS, for
melody without its mma-grooves folder):

\`\`\`
EOF
for name in melody-lstm melody-gru melody-rnn drums-gru; do
    printf '%-12s %s\n' "$name" "$(cat $WORK/$name.test.txt)"
done
cat <<EOF
\`\`\`

## Lookback and attention

\`presets/compare.sh\` trains one small net plain, with lookback inputs and
with attention over 16, 32 and 64 outputs, at the same budget and seed, and
writes the table [structure.md](structure.md) (test NLL, the musicality
features, mean overlap). For drums every option lowers the NLL and raises
bar-to-bar consistency; drums-gru takes attention over 32 outputs (two bars
of 4/4): the lowest NLL of the attention runs and the best zero-state
overlap. Lookback has the lowest NLL of all but repeats more than the corpus
does (consistency above the train split's, melody repeated bars well above
it), and from a zero state its melody takes are the sparsest. melody-lstm
takes attention over 32 outputs too: in the small runs it lowers the
melody's test NLL by 11% (lookback by 18%, but with bars repeated 2.7 times
as often as in the train split, at 2 notes a bar) and gives the best
zero-state overlap. melody-gru and melody-rnn take neither.

## Per dtype

Each preset quantised with \`build/rnnmidi-quantize presets/NAME.rnnw --dtype
bf16|int8 --out Q.rnnw\` (core/FORMAT.md, "Reduced-precision tensors": the
recurrent and head matrices in bfloat16, or int8 with a scale per row) and
evaluated on the same test files:

| preset | float32 test NLL | bf16 | int8 | file: float32 / bf16 / int8 |
|---|---|---|---|---|
$(dtype_row melody-lstm)
$(dtype_row melody-gru)
$(dtype_row melody-rnn)
$(dtype_row drums-gru)

## Conditions

A preset may hear, beside the events, the metric position of each step
(where it falls in the beat and in the bar, from the host's transport or the
file's meter) and, for melody, the harmony: the 12 pitch classes the other
voices sound at that step (in training: the file's other non-drum parts; in
the plugin: the keys the player holds, from MIDI or the audio detector).
A preset hears, beside the event of a step, the conditions of the next step,
whose event it predicts (core/FORMAT.md, "Which step's conditions"; bit 4 of
its header), or, trained by an earlier version, those of the step itself
(column "step"): the harmony under a note as it starts, rather than the one
a step before it, which has often just changed. Test NLL with the conditions
each preset was trained with (from its command), with the harmony zeroed (\`rnnmidi-eval --no-harmony\`: as when
nobody plays), and of the unconditioned presets of commit $BASELINE on the
same test files:

| preset | conditions | step | test NLL | harmony zeroed | unconditioned ($BASELINE) | change |
|---|---|---|---|---|---|---|
$(nll_row melody-lstm)
$(nll_row melody-gru)
$(nll_row melody-rnn)
$(nll_row drums-gru)

## Musicality

\`build/rnnmidi-musicality --model presets/NAME.rnnw --seeds 10 --bars 32
PATHS\` (PATHS: the preset's training paths) generates 10 takes of 32 bars
from a zero state on a 4/4 grid (the conditioned presets hear the metric
position from bar 0 and no harmony) and 4-bar takes primed by each test file
(hearing its meter and harmony), and measures each 4-bar window beside the
train split's windows: the mean of each feature and the overlap of the two
histograms (Yang & Lerch 2018; 1 = the same distribution). Targets of the
conditioning work, then of the attention work (the repeats):

| preset | feature | zero state | primed | train split | target |
|---|---|---|---|---|---|
$(check melody-lstm notes_per_bar rel15 "within 15%")
$(check melody-lstm in_key ratio "within 0.05")
$(check melody-lstm leap_ratio ratio "within 0.05")
$(check melody-lstm pc_entropy rel15 "within 15%")
$(check melody-lstm repeated_bars ratio "within 0.05")
$(check melody-lstm longest_run rel15 "within 15%")
$(check melody-lstm mean_overlap min:0.82 "at least 0.82")
$(check drums-gru hits_per_bar rel20 "within 20%")
$(check drums-gru consistency min:0.70 "at least 0.70")
$(check drums-gru backbeat min:0.35 "at least 0.35")
$(check melody-lstm repeated_bars ratio3 "within 0.03")
$(check drums-gru consistency ratio "within 0.05")
$(check drums-gru repeated_bars ratio "within 0.05")

| preset | harmony | primed takes | reference | target |
|---|---|---|---|---|
$(chord_check)

The real test split against the train split, for scale (\`--kind KIND
--vs-split test\`; for melody the paths without mma-grooves): mean overlap
melody $(mus $WORK/melody-test.mus.txt mean_overlap 2), drums $(mus $WORK/drums-test.mus.txt mean_overlap 2).
The full tables:

\`\`\`
EOF
for f in melody-lstm melody-lstm.noharm melody-gru melody-rnn drums-gru melody-lstm.v1 drums-gru.v1 \
    melody-test drums-test; do
    [ -f "$WORK/$f.mus.txt" ] || continue
    printf '%s\n' "$f"
    cat "$WORK/$f.mus.txt"
    echo
done
cat <<EOF
\`\`\`

(melody-lstm.noharm: the same preset hearing no harmony in its primed takes;
NAME.v1: the unconditioned preset of commit $BASELINE.)

## Examples over a song

Each preset playing over the parts of a test-split file: the whole file with
the new line added, as MIDI (\`$GEN --model presets/NAME.rnnw --harmony FILE
--seed 1 --out EX.mid\`), and the demo's piano roll of the first 16 s with the
file's parts as the player (\`$DEMO --model presets/NAME.rnnw --harmony FILE
--seed 1 --seconds 16 --render OUT.wav --roll EX.png\`).

EOF
printf '%s' "$harmony_examples" | while IFS='|' read -r ex preset file; do
    [ -n "$ex" ] || continue
    printf '### %s\n\n%s over `%s`\n\n![%s](examples/%s.png) ([MIDI](examples/%s.mid))\n\n' \
        "$ex" "$preset" "$file" "$ex" "$ex" "$ex"
done
cat <<EOF
### What the drums attend to

\`$ATTN_CMD\`: the four bars' piano roll, and under it, for each step (a
column), the weight its draw gave to each of the 32 outputs before it (one
row per step back, 1 at the top; brighter is more weight). Faint lines mark
whole bars back.

![drums-gru attention](examples/drums-gru-attention.png)

EOF
cat <<EOF
## Examples

Eight bars of 4/4 at 120 BPM from each preset, from a zero state, made with
the commands below (temperature 1 and top-p 0.95 unless given). The seeds
were not picked for the result. From a zero state the melody nets may stay
silent for a while, the more so at low temperature; an example with no
note in its 8 bars is left out. In the plugin the net hears the player
first, which starts it. Each piano
roll is \`build/rnnmidi-demo\` playing the MIDI file as its primer for its
8 bars (16 s), in continue mode with a listen gap of 8 beats, so the
engine stays silent unless the example pauses for 8 beats:
\`$DEMO --model presets/NAME.rnnw --primer presets/examples/EX.mid --mode continue --set listen_gap=8 --seed 1 --seconds 16 --render OUT.wav --roll presets/examples/EX.png\`.

EOF
printf '%s' "$examples" | while IFS='|' read -r ex preset command; do
    [ -n "$ex" ] || continue
    printf '### %s\n\n`%s`\n\n![%s](examples/%s.png) ([MIDI](examples/%s.mid))\n\n' \
        "$ex" "$command" "$ex" "$ex" "$ex"
done
cat <<EOF
## Known behaviour

Seen in the unconditioned presets of commit $BASELINE, and not measured
again on these:

- The melody nets can lock onto one pitch struck on every 16th step, more
  often than the corpus does (a few of its 2,114 melody sequences hold 8 or
  more such repeats): when sampling 40 runs of 256 steps at temperature 1,
  top-p 0.95, the LSTM locks in about 1 run in 40 when its first input is
  'no event' and about 6 in 40 when it is a note-on (what the engine feeds
  when it has heard nothing); the GRU and RNN alike. A demo render with an
  unlucky seed can play one note for its whole length.
- drums-gru, started from 'no event', strikes a kick on about 1 step in 6
  (the corpus: 1 in 5); started from a lone kick (what the engine feeds when
  it has heard nothing) it falls into a kick on most steps, because the
  corpus's drum parts that begin with a lone kick are kick-heavy ones. A
  player's groove, heard first, avoids both.

EOF
cat <<EOF
## Limits

The corpus is small ($(find $CORPUS -type f | wc -l) files) and mostly game and accompaniment music;
the melody encoding is monophonic (a skyline), the drum encoding knows 9
classes. The presets answer in that style and know nothing of lyrics,
dynamics (velocity is the plugin's setting) or form beyond a few bars.
EOF
} > $OUT/README.md

echo "presets: wrote $OUT/*.rnnw, $OUT/*.svg, $EX/, $OUT/README.md"
