#!/bin/sh
# SPDX-License-Identifier: MIT
# Data-parallel training on MPI (build/mpi/rnnmidi-train, `make test-mpi`),
# on one machine with small generated melodies:
#  1. the same seed and global batch give the same CSV log (train loss, valid
#     NLL, gradient norm) with 1, 2 and 3 ranks, within float summation-order
#     tolerance; 1 rank gives exactly the log and checkpoint of the build
#     without MPI; an LSTM with an embedding, and a GRU with one-hot input and
#     an odd hidden size (dropout masks cut across words of random bits);
#  2. a run of 3 ranks stopped half way and resumed on 2 ranks ends where the
#     1-rank run does;
#  3. a rank that exits (and one that hangs) ends the job within a bounded
#     time with a message, and the last checkpoint resumes to the same losses.
# Exit status 0 when every check passes. Env: BUILD (build), MPIRUN (mpirun).
set -u
BUILD=${BUILD:-build}
MPIRUN=${MPIRUN:-mpirun}
BIN=$BUILD/mpi/rnnmidi-train
PLAIN=$BUILD/rnnmidi-train
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "test-mpi: $BIN is not built (make mpi)"; exit 1; }
command -v "$MPIRUN" >/dev/null 2>&1 || { echo "test-mpi: no $MPIRUN"; exit 1; }
# mpirun refuses root unless told; more ranks than cores need --oversubscribe
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

T=$(mktemp -d /tmp/rnnmidi-mpi-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

$PY tests/mpi/make_data.py "$T/data" 40 >/dev/null || { echo "test-mpi: cannot write the MIDI files"; exit 1; }

COMMON="--data $T/data --kind melody --batch 6 --seq-len 16 --epochs 3 --steps-per-epoch 20 \
--warmup 5 --lr 0.01 --threads 1 --seed 3 --quiet"
LSTM="$COMMON --cell lstm --layers 2 --hidden 32 --embed 16"
GRU="$COMMON --cell gru --layers 2 --hidden 30 --embed 0 --seq-len 13"

run() { # ranks out args...
    n=$1 out=$2
    shift 2
    "$MPIRUN" -np "$n" "$BIN" "$@" --out "$out" >"$out.log" 2>&1
}

# the largest difference of the columns train_loss, valid_nll, grad_norm
# (relative for the norm) between two logs; "rows" when the steps differ
csvdiff() {
    awk -F, 'NR == FNR { a[FNR] = $0; n = FNR; next }
        FNR > 1 { split(a[FNR], x, ","); if (x[1] != $1 || x[4] == "" != ($4 == "")) { print "rows"; bad = 1; exit }
                  d = x[3] - $3; if (d < 0) d = -d; if (d > m) m = d
                  if ($4 != "") { d = x[4] - $4; if (d < 0) d = -d; if (d > m) m = d }
                  d = (x[6] - $6) / (x[6] > 1e-3 ? x[6] : 1e-3); if (d < 0) d = -d; if (d > m) m = d
                  rows++ }
        END { if (bad) exit; if (rows != n - 1) { print "rows"; exit } printf "%.2g\n", m }' "$1" "$2"
}
within() { awk -v d="$1" -v t="$2" 'BEGIN { exit !(d != "rows" && d + 0 <= t + 0) }'; }
# loss columns only (steps per second is a timing)
cols() { cut -d, -f1-6 "$1"; }
# a checkpoint's bytes after the header's wall-clock seconds, without its CRC
body() { s=$(wc -c <"$1"); tail -c $((s - 112)) "$1" | head -c $((s - 116)); }

TOL=2e-4
for net in LSTM GRU; do
    eval args=\$$net
    for n in 1 2 3; do
        run $n "$T/$net$n.rnnw" $args || bad "$net: $n ranks exited $? ($(tail -n 3 "$T/$net$n.rnnw.log"))"
    done
    first=$(awk -F, 'NR == 2 { print $3 }' "$T/${net}1.csv")
    last=$(awk -F, 'END { print $3 }' "$T/${net}1.csv")
    if awk -v a="$first" -v b="$last" 'BEGIN { exit !(a - b > 1.0) }'; then
        ok "$net: 60 steps train (loss $first -> $last)"
    else
        bad "$net: the loss did not fall ($first -> $last)"
    fi
    for n in 2 3; do
        d=$(csvdiff "$T/${net}1.csv" "$T/$net$n.csv")
        if within "$d" $TOL; then ok "$net: 1 vs $n ranks: largest log difference $d"; else bad "$net: 1 vs $n ranks: $d"; fi
    done
    [ -f "$T/${net}3.rnnw" ] && ok "$net: rank 0 wrote the preset" || bad "$net: no preset"
    if [ -x "$PLAIN" ]; then
        "$PLAIN" $args --out "$T/${net}plain.rnnw" >/dev/null 2>&1
        if [ "$(cols "$T/${net}plain.csv")" = "$(cols "$T/${net}1.csv")" ] &&
            [ "$(body "$T/${net}plain.ckpt" | md5sum)" = "$(body "$T/${net}1.ckpt" | md5sum)" ]; then
            ok "$net: 1 rank = the build without MPI, bit for bit (log and checkpoint)"
        else
            bad "$net: 1 rank differs from $PLAIN"
        fi
    fi
done

# 2. resume on another rank count
run 3 "$T/r.rnnw" $LSTM --max-steps 30 || bad "resume: first part exited $?"
steps=$(awk -F, 'END { print $1 }' "$T/r.csv")
run 2 "$T/r.rnnw" $LSTM --resume || bad "resume: second part exited $?"
d=$(csvdiff "$T/LSTM1.csv" "$T/r.csv")
if [ "$steps" = 30 ] && within "$d" $TOL; then
    ok "3 ranks to step 30, resumed on 2 ranks: largest difference from 1 rank $d"
else
    bad "resume across rank count: stopped at $steps, difference $d"
fi

# 3. a rank that dies, and one that hangs
for how in exit hang; do
    spec=1:25
    [ $how = hang ] && spec=1:25:hang
    start=$(date +%s)
    RNNMIDI_MPI_TEST_FAIL=$spec timeout 60 "$MPIRUN" -np 2 "$BIN" $LSTM --checkpoint-minutes 0.0001 \
        --mpi-timeout 3 --out "$T/d$how.rnnw" >"$T/d$how.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    if [ $rc -eq 124 ]; then
        bad "rank 1 ${how}s: the job hung (killed after 60 s)"
    elif [ $rc -eq 0 ]; then
        bad "rank 1 ${how}s: the job exited 0"
    elif [ $secs -gt 20 ]; then
        bad "rank 1 ${how}s: the job took $secs s to end"
    else
        ok "rank 1 ${how}s at step 25: the job ends in $secs s with status $rc"
    fi
    if [ $how = exit ]; then
        grep -q "exited with non-zero status\|process returned" "$T/d$how.log" && ok "exit: mpirun names the failed rank" ||
            bad "exit: no message ($(cat "$T/d$how.log"))"
    else
        grep -q "rank 0: summing the gradients: no answer from the other ranks for 3 s; a rank has died or hangs; ending the job" "$T/d$how.log" &&
            ok "hang: rank 0 says: $(grep -o 'no answer.*hangs' "$T/d$how.log")" || bad "hang: no message ($(cat "$T/d$how.log"))"
    fi
    done_steps=$(awk -F, 'END { print $1 }' "$T/d$how.csv")
    [ -s "$T/d$how.ckpt" ] && [ ! -e "$T/d$how.ckpt.tmp" ] || bad "$how: no checkpoint, or a temporary one left"
    run 1 "$T/d$how.rnnw" $LSTM --resume || bad "$how: resuming exited $?"
    d=$(csvdiff "$T/LSTM1.csv" "$T/d$how.csv")
    if within "$d" $TOL; then
        ok "$how: the checkpoint (after step $done_steps or later) resumes on 1 rank to the same log (difference $d)"
    else
        bad "$how: resumed log differs: $d"
    fi
done

echo "test-mpi: $fails failed"
[ $fails -eq 0 ]
