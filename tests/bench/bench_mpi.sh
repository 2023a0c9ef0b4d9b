#!/bin/sh
# SPDX-License-Identifier: MIT
# Data-parallel training figures (`make bench-mpi`): the default model (LSTM
# 2 x 256, embedding 64, batch 64 x 64 steps, dropout 0.25) on generated
# melodies, one trainer thread and one OpenBLAS thread per rank, run with 1
# and 2 ranks on this machine; then a paper estimate of weak scaling (64 lanes
# per machine, global batch 64 N) to 8 and 64 machines on 10 and 100 Gbit/s
# networks from the measured step time and gradient size, with a ring
# allreduce: 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency.
# Figures are printed as `BENCH name value unit`. Env: BUILD (build), MPIRUN
# (mpirun), STEPS (30).
set -u
BUILD=${BUILD:-build}
MPIRUN=${MPIRUN:-mpirun}
STEPS=${STEPS:-30}
BIN=$BUILD/mpi/rnnmidi-train
[ -x "$BIN" ] || { echo "bench-mpi: $BIN is not built (make mpi)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
T=$(mktemp -d /tmp/rnnmidi-mpi-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 tests/mpi/make_data.py "$T/data" 60 >/dev/null || exit 1

for n in 1 2; do
    "$MPIRUN" -np $n "$BIN" --data "$T/data" --kind melody --threads 1 --steps-per-epoch 100000 \
        --max-steps "$STEPS" --checkpoint-minutes 0 --out "$T/b$n.rnnw" >"$T/b$n.log" 2>&1 ||
        { cat "$T/b$n.log"; exit 1; }
    line=$(grep 'MPI:' "$T/b$n.log")
    step=$(echo "$line" | sed 's/.*bytes per step, \([0-9.]*\) ms per step.*/\1/')
    wait=$(echo "$line" | sed 's/.* ms per step, \([0-9.]*\) ms of it.*/\1/')
    bytes=$(echo "$line" | sed 's/.*ranks, \([0-9]*\) gradient bytes.*/\1/')
    cpu=$(echo "$line" | sed 's/.* in the gradient sum, \([0-9.]*\) ms CPU.*/\1/')
    echo "BENCH mpi_cpu_per_step_${n}rank $cpu ms"
    eval cpu$n=\$cpu
    core=$(sed -n 's/.*OpenBLAS core \(.*\)/\1/p' "$T/b$n.log" | head -n 1)
    echo "BENCH mpi_step_${n}rank $step ms"
    echo "BENCH mpi_allreduce_wait_${n}rank $wait ms"
    echo "BENCH mpi_throughput_${n}rank $(awk -v s="$step" 'BEGIN { printf "%.0f", 64 * 64 / (s / 1e3) }') events/s"
    eval step$n=\$step
done
echo "BENCH mpi_openblas_core $core name"
echo "BENCH mpi_gradient_bytes $bytes bytes"
echo "BENCH mpi_speedup_2rank $(awk -v a="$step1" -v b="$step2" 'BEGIN { printf "%.2f", a / b }') x"
# what two idle cores would give: the 1-rank CPU time per step over a rank's
# CPU time per step at 2 ranks (the sum's own wait aside)
echo "BENCH mpi_cpu_speedup_2rank $(awk -v a="$cpu1" -v b="$cpu2" 'BEGIN { printf "%.2f", a / b }') x"

# the estimate: each machine computes 64 lanes in the 1-rank CPU time per
# step (the wall time of a core of its own: on a busy machine the wall time
# also counts other processes), then the ring allreduce of the gradients, not
# overlapped with the backward pass
echo "BENCH mpi_est_compute_per_step $cpu1 ms"
for net in 10 100; do
    for n in 8 64; do
        awk -v t="$cpu1" -v g="$bytes" -v n=$n -v gbit=$net 'BEGIN {
            lat = gbit == 10 ? 30e-6 : 5e-6   # per message: TCP on 10 GbE, RDMA on 100 Gb
            ar = 2 * (n - 1) / n * g * 8 / (gbit * 1e9) + 2 * (n - 1) * lat
            step = t / 1e3 + ar
            printf "BENCH mpi_est_%dnodes_%dgbit_allreduce %.2f ms\n", n, gbit, ar * 1e3
            printf "BENCH mpi_est_%dnodes_%dgbit_efficiency %.1f %%\n", n, gbit, 100 * (t / 1e3) / step
            printf "BENCH mpi_est_%dnodes_%dgbit_speedup %.1f x\n", n, gbit, n * (t / 1e3) / step
            printf "BENCH mpi_est_%dnodes_%dgbit_throughput %.0f events/s\n", n, gbit, n * 64 * 64 / step
        }'
    done
done
