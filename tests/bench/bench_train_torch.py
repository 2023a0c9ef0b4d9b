#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyTorch's throughput on the step tests/bench/bench_train.c measures.

LSTM 2 x 256 (or the net named as the first argument: lstm2x256,
gru2x256, lstm2x512), E = 64, V = 130, B = 64, T = 64, dropout 0.25
between the layers and before the head, cross-entropy, clip_grad_norm_ 1, AdamW: time
steps (B x T) per second. PyTorch gets its best setting: every combination
of torch threads 1, 2, OPENBLAS_NUM_THREADS 1, 2 and OPENBLAS_CORETYPE as
given (or the library's own choice) and Haswell (what rnnmidi-train picks
when OpenBLAS falls back to its generic kernels) runs in its own process
(the variables are read when the library loads), and the fastest is
reported. Prints `BENCH name value unit`; exits 0 with a note when torch is
absent. Run with /usr/bin/python3 (Debian python3-torch).

With --serve NET THREADS it is one setting of tests/bench/bench_train.c's
interleaved rounds (what `make bench` runs): the C trainer and PyTorch
take turns on the same load, so their ratio holds on a busy machine.
"""
import os
import subprocess
import sys
import time

B, T, V, E, L = 64, 64, 130, 64, 2
NETS = {"lstm2x256": ("LSTM", 256), "gru2x256": ("GRU", 256), "lstm2x512": ("LSTM", 512)}


def make_step(net, threads, warmup=2):
    """The net, its optimiser and data, warmup steps run; returns a function
    that runs one step."""
    import torch

    cell, H = NETS[net]
    torch.set_num_threads(threads)
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(V, E)
            self.rnn = getattr(torch.nn, cell)(E, H, num_layers=L, dropout=0.25)
            self.drop = torch.nn.Dropout(0.25)
            self.head = torch.nn.Linear(H, V)

        def forward(self, x, state):
            y, state = self.rnn(self.embed(x), state)
            return self.head(self.drop(y)), state

    model = Net()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    lossf = torch.nn.CrossEntropyLoss()
    x = torch.randint(0, V, (T, B))
    y = torch.randint(0, V, (T, B))
    zero = (torch.zeros(L, B, H), torch.zeros(L, B, H)) if cell == "LSTM" else torch.zeros(L, B, H)
    held = [zero]

    def step():
        opt.zero_grad()
        out, state = model(x, held[0])
        loss = lossf(out.reshape(T * B, V), y.reshape(T * B))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        held[0] = tuple(s.detach() for s in state) if cell == "LSTM" else state.detach()

    for _ in range(warmup):
        step()
    return step


def blas_corename():
    """openblas_get_corename() of the BLAS torch loaded, or '?'."""
    import ctypes

    try:
        f = ctypes.CDLL("libblas.so.3").openblas_get_corename
        f.restype = ctypes.c_char_p
        return f().decode()
    except (OSError, AttributeError):
        return "?"


def worker(net, threads, steps):
    step = make_step(net, threads)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    print("%.1f" % (B * T * steps / dt))


def serve(net, threads):
    """For bench_train's interleaved rounds: `ready CORENAME`, then for each
    number n on stdin, n steps and `rate R cpu_ms C` (time steps per second,
    the CPU time of a step over all threads)."""
    step = make_step(net, threads, 0)  # bench_train's probe round is the warm-up
    print("ready %s" % blas_corename(), flush=True)
    for line in sys.stdin:
        n = int(line)
        if n <= 0:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            step()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print("rate %.1f cpu_ms %.2f" % (B * T * n / dt, cpu * 1e3 / n), flush=True)


def main():
    steps = int(os.environ.get("BENCH_STEPS", "20"))
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), steps)
        return 0
    if len(sys.argv) > 3 and sys.argv[1] == "--serve":
        try:
            import torch  # noqa: F401
        except ImportError:
            print("note: torch is not installed (Debian python3-torch)")
            return 0
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    net = sys.argv[1] if len(sys.argv) > 1 else "lstm2x256"
    if net not in NETS:
        print("bench_train_torch.py: unknown net %s (%s)" % (net, ", ".join(NETS)))
        return 1
    try:
        import torch  # noqa: F401
    except ImportError:
        print("note: torch is not installed (Debian python3-torch); PyTorch figure skipped")
        return 0
    best = None
    cores = [os.environ.get("OPENBLAS_CORETYPE")]
    if cores[0] != "Haswell":
        cores.append("Haswell")
    for core in cores:
        for tt in (1, 2):
            for ob in (1, 2):
                env = dict(os.environ, OPENBLAS_NUM_THREADS=str(ob), OMP_NUM_THREADS=str(tt))
                env.pop("OPENBLAS_CORETYPE", None)
                if core:
                    env["OPENBLAS_CORETYPE"] = core
                r = subprocess.run([sys.executable, __file__, "--worker", net, str(tt)], env=env,
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    print("note: torch run failed: %s" % r.stderr.strip().splitlines()[-1:])
                    continue
                rate = float(r.stdout.strip().splitlines()[-1])
                print("torch threads=%d OPENBLAS_NUM_THREADS=%d OPENBLAS_CORETYPE=%s: "
                      "%.0f time_steps/s" % (tt, ob, core or "(unset)", rate))
                if best is None or rate > best[0]:
                    best = (rate, tt, ob, core or "(unset)")
    if best is None:
        return 1
    print("BENCH train_%s_torch_steps_per_s %.0f time_steps/s (torch threads %d, "
          "OPENBLAS_NUM_THREADS %d, OPENBLAS_CORETYPE %s)" % ((net,) + best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
