#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# rnnmidi: writes the golden files that tests/unit/test_net.c checks the C net
# against. Each model is a PyTorch nn.Embedding (or one-hot input) + nn.RNN /
# nn.LSTM / nn.GRU + nn.Linear with fixed random weights, saved as a .rnnw
# preset by this script's own writer of core/FORMAT.md, and NAME.logits holds
# PyTorch's logits for every step of a fixed event sequence:
#   u32 T, u32 V, i32 events[T], f32 logits[T][V]   (all little-endian)
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


class Net(torch.nn.Module):
    def __init__(self, cell, layers, E, H, V):
        super().__init__()
        self.V = V
        self.E = E
        if E > 0:
            self.embed = torch.nn.Embedding(V, E)
        rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = rnn(E if E > 0 else V, H, num_layers=layers, batch_first=True, **kw)
        self.head = torch.nn.Linear(H, V)

    def forward(self, events):
        if self.E > 0:
            x = self.embed(events)
        else:
            x = torch.nn.functional.one_hot(events, self.V).float()
        y, _ = self.rnn(x)
        return self.head(y)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def rnnw(cell, layers, E, H, V, meta, tensors):
    """Bytes of a .rnnw v1 file (core/FORMAT.md); tensors in file order."""
    text = "".join(f"{k}={v}\n" for k, v in meta).encode()
    out = b"RNNW\x00\x0d\x0a\x1a"
    out += struct.pack("<11I", 1, 64, KIND[V], 4, CELL[cell], layers, E, H, V, len(text),
                       len(tensors))
    out += b"\0" * 12
    assert len(out) == 64
    out += pad4(text)
    for name, t in tensors:
        t = t.detach().contiguous().float()
        out += struct.pack("<I", len(name)) + pad4(name.encode())
        out += struct.pack("<II", 0, t.dim()) + struct.pack(f"<{t.dim()}I", *t.shape)
        out += struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
    return out + struct.pack("<I", zlib.crc32(out) & 0xFFFFFFFF)


def main():
    for seed, (name, cell, layers, E, H, V, T) in enumerate(MODELS, start=1):
        torch.manual_seed(1000 + seed)
        net = Net(cell, layers, E, H, V)
        with torch.no_grad():
            # wider than PyTorch's default init so gates saturate now and then
            for p in net.rnn.parameters():
                p.mul_(2.5)
            net.head.weight.mul_(2.0)
        sd = net.state_dict()
        tensors = []
        if E > 0:
            tensors.append(("embed.weight", sd["embed.weight"]))
        for k in range(layers):
            for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                key = f"{part}_l{k}"
                tensors.append((f"rnn.{key}", sd[f"rnn.{key}"]))
        tensors += [("head.weight", sd["head.weight"]), ("head.bias", sd["head.bias"])]
        meta = [("name", f"golden {name}"), ("license", "MIT"),
                ("data", f"random weights, torch.manual_seed({1000 + seed})"),
                ("command", "tests/golden/make_golden.py")]
        with open(os.path.join(HERE, name + ".rnnw"), "wb") as f:
            f.write(rnnw(cell, layers, E, H, V, meta, tensors))

        g = torch.Generator().manual_seed(seed)
        events = torch.randint(0, V, (T,), generator=g)
        events[0], events[1], events[T // 2] = 0, V - 1, 1
        with torch.no_grad():
            logits = net(events.unsqueeze(0))[0]
        with open(os.path.join(HERE, name + ".logits"), "wb") as f:
            f.write(struct.pack("<II", T, V))
            f.write(struct.pack(f"<{T}i", *events.tolist()))
            f.write(struct.pack(f"<{T * V}f", *logits.flatten().tolist()))
        print(f"{name}: {cell} L={layers} E={E} H={H} V={V} T={T} "
              f"|logits| max {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
