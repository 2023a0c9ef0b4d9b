#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# rnnmidi: writes the golden files that tests/unit/test_net.c checks the C net
# against. Each model is a PyTorch nn.Embedding (or one-hot input) + nn.RNN /
# nn.LSTM / nn.GRU + nn.Linear with fixed random weights, saved as a .rnnw
# preset by this script's own writer of core/FORMAT.md, and NAME.logits holds
# PyTorch's logits for every step of a fixed event sequence:
#   u32 T, u32 V, i32 events[T], f32 logits[T][V]   (all little-endian)
# The conditioned models (format v2) take C condition columns beside the event
# (metric, then harmony: core/FORMAT.md) as extra inputs of layer 0, random 0/1
# per step, and NAME.cond holds them and PyTorch's state after the last step:
#   u32 T, u32 C, u32 S, u8 cond[T][C], zero padding to 4, f32 state[S]
# where state is h of every layer, then c of every layer (LSTM), as
# rnn_net_state_get lays it out.
# The attention models (attn_*, format v2) add Bahdanau attention over the last
# n outputs of the top layer, written here from core/FORMAT.md's equations
# ("Attention"), the head reading [h_t | c_t]; they have a NAME.cond file too
# (C may be 0) whose state goes on with the attention's: the number of stored
# outputs, the stored outputs (n x H) and their W1 projections (n x A), oldest
# first, zero where nothing is stored.
# The lookback models (look_*, format v2) take the lookback columns (core/FORMAT.md,
# "Lookback inputs") after their condition columns, computed here from the event
# sequence by that section's definition with bars of LOOK_BAR steps; their NAME.cond
# holds the conditions then the lookback columns of every step (C counts both).
# Run with Debian's python3-torch: /usr/bin/python3 tests/golden/make_golden.py
import os
import struct
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

KIND = {130: 1, 512: 2}  # vocabulary -> encoding kind
CELL = {"rnn": 0, "lstm": 1, "gru": 2}

# name, cell, layers, E, H, V, steps
MODELS = [
    ("rnn_e0_l1", "rnn", 1, 0, 16, 130, 40),
    ("rnn_e24_l3", "rnn", 3, 24, 32, 130, 40),
    ("lstm_e32_l2", "lstm", 2, 32, 32, 130, 40),
    ("lstm_e0_l3", "lstm", 3, 0, 20, 130, 40),
    ("gru_e0_l2", "gru", 2, 0, 24, 130, 40),
    ("gru_e16_l1", "gru", 1, 16, 48, 130, 40),
    ("drums_lstm_e8_l2", "lstm", 2, 8, 16, 512, 20),
    ("drums_gru_e0_l1", "gru", 1, 0, 12, 512, 20),
]

METRIC, HARMONY = 1, 2


def metric_columns(spq):
    return 2 + 4 * spq + 16


def cond_columns(spq, conditions):
    return (metric_columns(spq) if conditions & METRIC else 0) + (12 if conditions & HARMONY else 0)


# name, cell, layers, E, H, V, steps, steps per quarter, conditions
COND_MODELS = [
    ("cond_rnn_e0_l2", "rnn", 2, 0, 16, 130, 40, 4, METRIC | HARMONY),
    ("cond_lstm_e16_l2", "lstm", 2, 16, 24, 130, 40, 2, METRIC),
    ("cond_lstm_e0_l1", "lstm", 1, 0, 20, 130, 40, 4, METRIC | HARMONY),
    ("cond_gru_e0_l1", "gru", 1, 0, 20, 130, 40, 4, METRIC | HARMONY),
    ("cond_gru_e12_l2", "gru", 2, 12, 16, 130, 40, 4, HARMONY),
    ("cond_drums_gru_e8_l1", "gru", 1, 8, 12, 512, 20, 4, METRIC),
]


# name, cell, layers, E, H, V, steps, steps per quarter, conditions, window n, size A
ATTN_MODELS = [
    ("attn_rnn_e0_l1", "rnn", 1, 0, 16, 130, 40, 4, 0, 8, 12),
    ("attn_lstm_e16_l2", "lstm", 2, 16, 24, 130, 40, 4, 0, 16, 20),
    ("attn_gru_e0_l2", "gru", 2, 0, 20, 130, 40, 4, 0, 64, 8),
    ("attn_drums_gru_e8_l1", "gru", 1, 8, 12, 512, 20, 4, METRIC, 4, 6),
]


# name, cell, layers, E, H, V, steps, steps per quarter, conditions
LOOK_MODELS = [
    ("look_lstm_e0_l2", "lstm", 2, 0, 16, 130, 40, 4, 0),
    ("look_gru_e12_l1", "gru", 1, 12, 20, 130, 40, 4, METRIC),
    ("look_rnn_e0_l1", "rnn", 1, 0, 12, 130, 40, 2, HARMONY),
    ("look_drums_gru_e8_l2", "gru", 2, 8, 12, 512, 30, 4, METRIC),
    ("look_drums_lstm_e0_l1", "lstm", 1, 0, 10, 512, 30, 4, 0),
]
LOOK_BAR = 3  # steps per bar of the golden lookback columns


def lookback_columns(V):
    return 2 * V + 2 if V == 130 else 2 * 9 + 2


def lookback(events, V, b):
    """(T, L) lookback columns of every input step p of events (FORMAT.md): the
    events of steps p + 1 - b and p + 1 - 2b, then e_p == e_{p-b}, e_p == e_{p-2b};
    nothing (zeros) before the first step."""
    T = len(events)
    W = V if V == 130 else 9
    out = torch.zeros(T, 2 * W + 2)

    def put(row, at, e):
        if V == 130:
            out[row, at + e] = 1.0
        else:
            for d in range(9):
                out[row, at + d] = float(e >> d & 1)

    for p in range(T):
        for k, back in enumerate((b - 1, 2 * b - 1)):
            if p - back >= 0:
                put(p, k * W, int(events[p - back]))
        for k, back in enumerate((b, 2 * b)):
            if p - back >= 0 and int(events[p - back]) == int(events[p]):
                out[p, 2 * W + k] = 1.0
    return out


class Attention(torch.nn.Module):
    """u_i = v . tanh(W1 h_i + W2 h_t) over the last n outputs h_i, a =
    softmax(u), c_t = sum a_i h_i (0 with nothing stored)."""

    def __init__(self, H, A, n):
        super().__init__()
        self.n = n
        self.W1 = torch.nn.Parameter(torch.randn(A, H) / H ** 0.5 * 1.5)
        self.W2 = torch.nn.Parameter(torch.randn(A, H) / H ** 0.5 * 1.5)
        self.v = torch.nn.Parameter(torch.randn(A) * 1.5)

    def forward(self, y):  # y (B, T, H) -> contexts (B, T, H)
        B, T, H = y.shape
        out = []
        for t in range(T):
            past = y[:, max(0, t - self.n):t]
            if past.shape[1] == 0:
                out.append(torch.zeros(B, H, dtype=y.dtype))
                continue
            u = torch.tanh(past @ self.W1.T + (y[:, t] @ self.W2.T).unsqueeze(1)) @ self.v
            a = torch.softmax(u, dim=1)
            out.append((a.unsqueeze(2) * past).sum(1))
        return torch.stack(out, 1)

    def state(self, y):
        """The ring after the last step of y (1, T, H): count, outputs, projections."""
        T, H = y.shape[1], y.shape[2]
        A = self.W1.shape[0]
        k = min(T, self.n)
        past = y[0, T - k:]
        ring_h = torch.zeros(self.n, H)
        ring_p = torch.zeros(self.n, A)
        ring_h[:k] = past
        ring_p[:k] = past @ self.W1.T
        return torch.cat([torch.tensor([float(k)]), ring_h.flatten(), ring_p.flatten()])


class Net(torch.nn.Module):
    def __init__(self, cell, layers, E, H, V, C=0, attn=None):
        super().__init__()
        self.V = V
        self.E = E
        if E > 0:
            self.embed = torch.nn.Embedding(V, E)
        rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = rnn((E if E > 0 else V) + C, H, num_layers=layers, batch_first=True, **kw)
        self.attn = Attention(H, *attn) if attn else None
        self.head = torch.nn.Linear(2 * H if attn else H, V)

    def forward(self, events, cond=None):
        if self.E > 0:
            x = self.embed(events)
        else:
            x = torch.nn.functional.one_hot(events, self.V).float()
        if cond is not None:
            x = torch.cat([x, cond], dim=-1)  # the condition columns after the event's
        y, state = self.rnn(x)
        if self.attn is not None:
            self.last_y = y
            y = torch.cat([y, self.attn(y)], dim=-1)  # the head reads [h_t | c_t]
        return self.head(y), state


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def rnnw(cell, layers, E, H, V, meta, tensors, spq=4, conditions=0, attn=None, look=False):
    """Bytes of a .rnnw file (core/FORMAT.md): version 1 without conditions,
    attention or lookback, version 2 with them; tensors in file order; attn =
    (n, A)."""
    text = "".join(f"{k}={v}\n" for k, v in meta).encode()
    version, header = (2, 96) if conditions or attn or look else (1, 64)
    out = b"RNNW\x00\x0d\x0a\x1a"
    out += struct.pack("<11I", version, header, KIND[V], spq, CELL[cell], layers, E, H, V,
                       len(text), len(tensors))
    if conditions or attn or look:
        metric = metric_columns(spq) if conditions & METRIC else 0
        harmony = 12 if conditions & HARMONY else 0
        out += struct.pack("<4I", conditions, metric + harmony, metric, harmony)
        out += struct.pack("<2I", *(attn if attn else (0, 0)))
        out += struct.pack("<I", lookback_columns(V) if look else 0)
        out += b"\0" * 16
    else:
        out += b"\0" * 12
    assert len(out) == header
    out += pad4(text)
    for name, t in tensors:
        t = t.detach().contiguous().float()
        out += struct.pack("<I", len(name)) + pad4(name.encode())
        out += struct.pack("<II", 0, t.dim()) + struct.pack(f"<{t.dim()}I", *t.shape)
        out += struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
    return out + struct.pack("<I", zlib.crc32(out) & 0xFFFFFFFF)


def make_net(seed, cell, layers, E, H, V, C=0, attn=None):
    torch.manual_seed(1000 + seed)
    net = Net(cell, layers, E, H, V, C, attn)
    with torch.no_grad():
        # wider than PyTorch's default init so gates saturate now and then
        for p in net.rnn.parameters():
            p.mul_(2.5)
        net.head.weight.mul_(2.0)
    return net


def file_tensors(net, layers, E):
    sd = net.state_dict()
    tensors = []
    if E > 0:
        tensors.append(("embed.weight", sd["embed.weight"]))
    for k in range(layers):
        for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            key = f"{part}_l{k}"
            tensors.append((f"rnn.{key}", sd[f"rnn.{key}"]))
    if "attn.W1" in sd:
        tensors += [(f"attn.{k}", sd[f"attn.{k}"]) for k in ("W1", "W2", "v")]
    return tensors + [("head.weight", sd["head.weight"]), ("head.bias", sd["head.bias"])]


def write_logits(name, events, logits):
    T, V = logits.shape
    with open(os.path.join(HERE, name + ".logits"), "wb") as f:
        f.write(struct.pack("<II", T, V))
        f.write(struct.pack(f"<{T}i", *events.tolist()))
        f.write(struct.pack(f"<{T * V}f", *logits.flatten().tolist()))


def main():
    for seed, (name, cell, layers, E, H, V, T) in enumerate(MODELS, start=1):
        net = make_net(seed, cell, layers, E, H, V)
        tensors = file_tensors(net, layers, E)
        meta = [("name", f"golden {name}"), ("license", "MIT"),
                ("data", f"random weights, torch.manual_seed({1000 + seed})"),
                ("command", "tests/golden/make_golden.py")]
        with open(os.path.join(HERE, name + ".rnnw"), "wb") as f:
            f.write(rnnw(cell, layers, E, H, V, meta, tensors))

        g = torch.Generator().manual_seed(seed)
        events = torch.randint(0, V, (T,), generator=g)
        events[0], events[1], events[T // 2] = 0, V - 1, 1
        with torch.no_grad():
            logits = net(events.unsqueeze(0))[0][0]
        write_logits(name, events, logits)
        print(f"{name}: {cell} L={layers} E={E} H={H} V={V} T={T} "
              f"|logits| max {logits.abs().max().item():.3f}")

    for i, (name, cell, layers, E, H, V, T, spq, conds) in enumerate(COND_MODELS):
        seed = 100 + i
        C = cond_columns(spq, conds)
        net = make_net(seed, cell, layers, E, H, V, C)
        meta = [("name", f"golden {name}"), ("license", "MIT"),
                ("data", f"random weights, torch.manual_seed({1000 + seed})"),
                ("command", "tests/golden/make_golden.py")]
        with open(os.path.join(HERE, name + ".rnnw"), "wb") as f:
            f.write(rnnw(cell, layers, E, H, V, meta, file_tensors(net, layers, E), spq, conds))
        g = torch.Generator().manual_seed(seed)
        events = torch.randint(0, V, (T,), generator=g)
        events[0], events[1], events[T // 2] = 0, V - 1, 1
        # random columns on, and one step with none and one with all
        cond = (torch.rand((T, C), generator=g) < 0.3).float()
        cond[2].zero_()
        cond[3].fill_(1.0)
        with torch.no_grad():
            logits, state = net(events.unsqueeze(0), cond.unsqueeze(0))
        logits = logits[0]
        parts = state if cell == "lstm" else (state,)
        flat = torch.cat([p.flatten() for p in parts])  # h of every layer, then c
        write_logits(name, events, logits)
        with open(os.path.join(HERE, name + ".cond"), "wb") as f:
            f.write(struct.pack("<3I", T, C, flat.numel()))
            f.write(pad4(bytes(int(v) for v in cond.flatten().tolist())))
            f.write(struct.pack(f"<{flat.numel()}f", *flat.tolist()))
        print(f"{name}: {cell} L={layers} E={E} H={H} V={V} T={T} C={C} "
              f"|logits| max {logits.abs().max().item():.3f}")

    for i, (name, cell, layers, E, H, V, T, spq, conds, n, A) in enumerate(ATTN_MODELS):
        seed = 200 + i
        C = cond_columns(spq, conds)
        net = make_net(seed, cell, layers, E, H, V, C, (A, n))
        meta = [("name", f"golden {name}"), ("license", "MIT"),
                ("data", f"random weights, torch.manual_seed({1000 + seed})"),
                ("command", "tests/golden/make_golden.py")]
        with open(os.path.join(HERE, name + ".rnnw"), "wb") as f:
            f.write(rnnw(cell, layers, E, H, V, meta, file_tensors(net, layers, E), spq, conds,
                         (n, A)))
        g = torch.Generator().manual_seed(seed)
        events = torch.randint(0, V, (T,), generator=g)
        events[0], events[1], events[T // 2] = 0, V - 1, 1
        cond = (torch.rand((T, C), generator=g) < 0.3).float()
        with torch.no_grad():
            logits, state = net(events.unsqueeze(0), cond.unsqueeze(0) if C else None)
            ring = net.attn.state(net.last_y)
        logits = logits[0]
        parts = state if cell == "lstm" else (state,)
        flat = torch.cat([p.flatten() for p in parts] + [ring])
        write_logits(name, events, logits)
        with open(os.path.join(HERE, name + ".cond"), "wb") as f:
            f.write(struct.pack("<3I", T, C, flat.numel()))
            f.write(pad4(bytes(int(v) for v in cond.flatten().tolist())))
            f.write(struct.pack(f"<{flat.numel()}f", *flat.tolist()))
        print(f"{name}: {cell} L={layers} E={E} H={H} V={V} T={T} C={C} n={n} A={A} "
              f"|logits| max {logits.abs().max().item():.3f}")

    for i, (name, cell, layers, E, H, V, T, spq, conds) in enumerate(LOOK_MODELS):
        seed = 300 + i
        C = cond_columns(spq, conds)
        L = lookback_columns(V)
        net = make_net(seed, cell, layers, E, H, V, C + L)
        meta = [("name", f"golden {name}"), ("license", "MIT"),
                ("data", f"random weights, torch.manual_seed({1000 + seed})"),
                ("command", "tests/golden/make_golden.py")]
        with open(os.path.join(HERE, name + ".rnnw"), "wb") as f:
            f.write(rnnw(cell, layers, E, H, V, meta, file_tensors(net, layers, E), spq, conds,
                         look=True))
        g = torch.Generator().manual_seed(seed)
        events = torch.randint(0, V, (T,), generator=g)
        # half the steps repeat the bar before, so the flags and blocks meet equal events
        again = torch.rand((T,), generator=g) < 0.5
        for t in range(LOOK_BAR, T):
            if again[t]:
                events[t] = events[t - LOOK_BAR]
        events[0], events[1] = 0, V - 1
        cond = (torch.rand((T, C), generator=g) < 0.3).float()
        cols = torch.cat([cond, lookback(events, V, LOOK_BAR)], dim=1)
        with torch.no_grad():
            logits, state = net(events.unsqueeze(0), cols.unsqueeze(0))
        logits = logits[0]
        parts = state if cell == "lstm" else (state,)
        flat = torch.cat([p.flatten() for p in parts])
        write_logits(name, events, logits)
        with open(os.path.join(HERE, name + ".cond"), "wb") as f:
            f.write(struct.pack("<3I", T, C + L, flat.numel()))
            f.write(pad4(bytes(int(v) for v in cols.flatten().tolist())))
            f.write(struct.pack(f"<{flat.numel()}f", *flat.tolist()))
        print(f"{name}: {cell} L={layers} E={E} H={H} V={V} T={T} C={C} lookback={L} "
              f"|logits| max {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
