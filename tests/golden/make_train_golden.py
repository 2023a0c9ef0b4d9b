#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden references for the C trainer, recorded with PyTorch.

For each cell type: a tiny 2-layer model from a fixed initialisation, one
fixed batch (time-major inputs and targets, one target ignored), a non-zero
initial state; the loss and every gradient, then the weights after one and
two AdamW steps with gradient-norm clipping. Run with /usr/bin/python3 (Debian
python3-torch) from the top folder:

    /usr/bin/python3 tests/golden/make_train_golden.py

Writes tests/golden/train_{rnn,lstm,gru}.bin, little-endian:
  8 bytes  magic b"RNNGOLD1"
  int32 x 7  cell (0 rnn, 1 lstm, 2 gru), layers L, embed E, hidden H, vocab V, batch B, steps T
  float32 x 6  lr, weight_decay, clip, beta1, beta2, eps
  int32 x T*B  inputs, then int32 x T*B targets (-1 = ignored), row t*B+b
  float32 x L*B*H  h0, then float32 x L*B*H c0 (zeros except for LSTM)
  int32  P, the parameter count, tensors in the preset's order (core/FORMAT.md)
  float32 x P  initial weights
  float64 loss (mean NLL of the counted targets), float32 x P its gradients
  float32 x P  weights after step 1
  float64 loss at step 2 (same batch, same initial state), float32 x P weights after step 2

and tests/golden/train_cond_{rnn,lstm,gru}.bin for models that take condition
columns (format v2) beside the event: magic b"RNNGOLD2", then int32 x 2 after
the seven (steps per quarter, the condition bits: 1 metric, 2 harmony), and
after the targets float32 x T*B*C, the 0/1 condition columns of each row
(C = 2 + 4 spq + 16 with the metric, + 12 with the harmony), the rest as
above.

and tests/golden/train_attn_{rnn,lstm,gru}.bin for models with attention over
the top layer's last N outputs (core/FORMAT.md "Attention", written here
from its equations; the head reads [h_t | c_t]): magic b"RNNGOLD3", then
int32 x 4 after the seven (steps per quarter, the condition bits, N, the
attention size A), the condition columns as above when there are any, and
after c0: int32 x B npast, then float32 x N*B*H past, the outputs carried in
from before the window (row j*B+b is lane b's output N-j steps back; only the
last npast[b] are the lane's), the rest as above. The past is a constant:
no gradient flows into it.

and tests/golden/train_look_{rnn,lstm,gru}.bin for models with the lookback
inputs (core/FORMAT.md "Lookback inputs"): magic b"RNNGOLD4", then int32 x 3
after the seven (steps per quarter, the condition bits, 1 for the lookback),
and after the targets float32 x T*B*C, the condition columns then the 262
lookback columns of each row, computed here from each lane's inputs by that
section's definition with bars of LOOK_BAR steps (the window is the lanes'
first), the rest as for RNNGOLD2.
"""
import struct
import sys

import torch

CELLS = {"rnn": (0, torch.nn.RNN), "lstm": (1, torch.nn.LSTM), "gru": (2, torch.nn.GRU)}
L, H, V, B, T = 2, 8, 130, 3, 5
LR, WD, CLIP, B1, B2, EPS = 0.01, 0.1, 0.5, 0.9, 0.999, 1e-8


class Attention(torch.nn.Module):
    """u_i = v . tanh(W1 h_i + W2 h_t) over the last N outputs before t (the
    carried past, then the window's), a = softmax(u), c_t = sum a_i h_i."""

    def __init__(self, N, A):
        super().__init__()
        self.N = N
        k = 1 / H ** 0.5
        self.W1 = torch.nn.Parameter(torch.empty(A, H).uniform_(-k, k) * 3)
        self.W2 = torch.nn.Parameter(torch.empty(A, H).uniform_(-k, k) * 3)
        self.v = torch.nn.Parameter(torch.empty(A).uniform_(-1, 1))

    def forward(self, y, past, npast):  # y (T, B, H), past (N, B, H) -> (T, B, H)
        out = torch.zeros_like(y)
        for b in range(y.shape[1]):
            keys = torch.cat([past[self.N - npast[b]:, b], y[:, b]])
            for t in range(y.shape[0]):
                k = keys[:npast[b] + t][-self.N:]
                if k.shape[0] == 0:
                    continue
                u = torch.tanh(k @ self.W1.T + self.W2 @ y[t, b]) @ self.v
                out[t, b] = torch.softmax(u, 0) @ k
        return out


class Net(torch.nn.Module):
    def __init__(self, cell, E, C=0, attn=None):
        super().__init__()
        self.E = E
        if E > 0:
            self.embed = torch.nn.Embedding(V, E)
        ctor = CELLS[cell][1]
        self.rnn = ctor((E if E > 0 else V) + C, H, num_layers=L)
        self.attn = Attention(*attn) if attn else None
        self.head = torch.nn.Linear(2 * H if attn else H, V)

    def forward(self, x, state, cond=None, past=None, npast=None):
        if self.E > 0:
            e = self.embed(x)
        else:
            e = torch.nn.functional.one_hot(x, V).float()
        if cond is not None:
            e = torch.cat([e, cond], dim=-1)  # x = [event | conditions]
        y, _ = self.rnn(e, state)
        if self.attn is not None:
            y = torch.cat([y, self.attn(y, past, npast)], dim=-1)  # [h_t | c_t]
        return self.head(y)


def cond_columns(spq, conds):
    return (2 + 4 * spq + 16 if conds & 1 else 0) + (12 if conds & 2 else 0)


LOOK_BAR = 2


def lookback(events):
    """(T, 262) melody lookback columns of each input of one lane's events."""
    n = len(events)
    out = torch.zeros(n, 2 * V + 2)
    for p in range(n):
        for k, back in enumerate((LOOK_BAR - 1, 2 * LOOK_BAR - 1)):
            if p - back >= 0:
                out[p, k * V + int(events[p - back])] = 1.0
        for k, back in enumerate((LOOK_BAR, 2 * LOOK_BAR)):
            if p - back >= 0 and int(events[p - back]) == int(events[p]):
                out[p, 2 * V + k] = 1.0
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    runs = [(name, E, seed, 4, 0, None, 0) for name, E, seed in
            (("rnn", 0, 11), ("lstm", 4, 12), ("gru", 4, 13))]
    runs += [("rnn", 0, 21, 1, 3, None, 0), ("lstm", 4, 22, 2, 1, None, 0),
             ("gru", 4, 23, 1, 3, None, 0)]
    # attention: windows longer and shorter than T, the GRU with the metric too
    runs += [("rnn", 4, 31, 4, 0, (7, 5), 0), ("lstm", 0, 32, 4, 0, (3, 6), 0),
             ("gru", 4, 33, 1, 1, (4, 4), 0)]
    # lookback, the LSTM after the metric's columns
    runs += [("rnn", 0, 41, 4, 0, None, 1), ("lstm", 4, 42, 1, 1, None, 1),
             ("gru", 4, 43, 4, 0, None, 1)]
    for name, E, seed, spq, conds, attn, look in runs:
        C0 = cond_columns(spq, conds)
        C = C0 + (2 * V + 2 if look else 0)
        torch.manual_seed(seed)
        net = Net(name, E, C, attn)
        x = torch.randint(0, V, (T, B))
        if look:  # lane 0 repeats the bar before: the flags and blocks meet equal events
            for t in range(LOOK_BAR, T):
                x[t, 0] = x[t - LOOK_BAR, 0]
        y = torch.randint(0, V, (T, B))
        y[1, 2] = -1
        cond = (torch.rand(T, B, C0) < 0.3).float() if C else None
        if look:
            cond = torch.cat([cond, torch.stack([lookback(x[:, b]) for b in range(B)], 1)], 2)
        h0 = 0.5 * torch.randn(L, B, H)
        c0 = 0.5 * torch.randn(L, B, H) if name == "lstm" else torch.zeros(L, B, H)
        state = (h0, c0) if name == "lstm" else h0
        N = attn[0] if attn else 0
        npast = [N, 1, 0][:B]  # a lane with its whole past, one output, none
        past = 0.8 * torch.tanh(torch.randn(N, B, H)) if attn else None
        params = list(net.state_dict().keys())
        init = torch.cat([p.detach().flatten() for p in net.parameters()])
        # The lookback's one-hot columns are each on in one or two rows, so some
        # of their weights get a gradient near 1e-8: at Adam's eps its first step
        # g / (|g| + eps) turns float rounding of g into visible weight changes.
        eps = 1e-6 if look else EPS
        opt = torch.optim.AdamW(net.parameters(), lr=LR, betas=(B1, B2), eps=eps, weight_decay=WD)
        lossf = torch.nn.CrossEntropyLoss(ignore_index=-1)

        def step():
            opt.zero_grad()
            loss = lossf(net(x, state, cond, past, npast).reshape(T * B, V), y.reshape(T * B))
            loss.backward()
            grads = torch.cat([p.grad.flatten() for p in net.parameters()])
            torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
            opt.step()
            return loss.item(), grads, torch.cat([p.detach().flatten() for p in net.parameters()])

        loss0, grads0, w1 = step()
        loss1, _, w2 = step()
        f32 = lambda t: struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        i32 = lambda t: struct.pack("<%di" % t.numel(), *t.flatten().tolist())
        blob = b"RNNGOLD4" if look else b"RNNGOLD3" if attn else b"RNNGOLD2" if C else b"RNNGOLD1"
        blob += struct.pack("<7i", CELLS[name][0], L, E, H, V, B, T)
        if look:
            blob += struct.pack("<3i", spq, conds, 1)
        elif attn:
            blob += struct.pack("<4i", spq, conds, *attn)
        elif C:
            blob += struct.pack("<2i", spq, conds)
        blob += struct.pack("<6f", LR, WD, CLIP, B1, B2, eps)
        blob += i32(x) + i32(y) + (f32(cond) if C else b"") + f32(h0) + f32(c0)
        if attn:
            blob += struct.pack("<%di" % B, *npast) + f32(past)
        blob += struct.pack("<i", init.numel()) + f32(init)
        blob += struct.pack("<d", loss0) + f32(grads0) + f32(w1)
        blob += struct.pack("<d", loss1) + f32(w2)
        kind = "look_" if look else "attn_" if attn else "cond_" if C else ""
        path = "%s/train_%s%s.bin" % (out_dir, kind, name)
        with open(path, "wb") as f:
            f.write(blob)
        print("%s: %d parameters (%s), loss %.6f then %.6f, %d bytes"
              % (path, init.numel(), ", ".join(params), loss0, loss1, len(blob)))


if __name__ == "__main__":
    main()
