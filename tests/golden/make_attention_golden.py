#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden references for the attention layer (core/attention.c and
training/train_attention.c), recorded with PyTorch autograd in float64.

The layer is core/FORMAT.md's "Attention (format v2)": at step t, with the
outputs h_i of the last N steps (i = t-N .. t-1, fewer at a sequence's
start), u_i = v . tanh(W1 h_i + W2 h_t), a = softmax(u), c_t = sum_i a_i h_i,
c_t = 0 with no earlier output. A window of T steps x B lanes starts with
npast[b] outputs carried from before it (constants: no gradient flows into
them, but W1 applied to them does take gradient). The loss is
sum(c * G) for a fixed random G. Run with /usr/bin/python3 (Debian
python3-torch) from the top folder:

    /usr/bin/python3 tests/golden/make_attention_golden.py

Writes tests/golden/attention_h{H}_a{A}_n{N}.bin, little-endian:
  8 bytes  magic b"RNNATTN1"
  int32 x 5  H, A, N, B, T
  float32 x A*H  W1, float32 x A*H  W2, float32 x A  v
  int32 x B  npast (0..N)
  float32 x N*B*H  past outputs, row j*B+b is lane b's output N-j steps
                   before the window (rows j < N - npast[b] are not stored
                   outputs: random filler the layer must ignore)
  float32 x T*B*H  h, row t*B+b
  float32 x T*B*H  G
  float32 x T*B*H  contexts
  float32 x T*B*N  attention weights: entry N-1-j of row t*B+b is the weight
                   of the output j+1 steps back, 0 where there is none
  float64  loss
  float32 x A*H dW1, A*H dW2, A dv, T*B*H dh
"""
import struct
import sys

import torch

CONFIGS = (
    # H, A, N, B, T, npast, seed
    (6, 5, 4, 3, 7, (0, 2, 4), 21),
    (32, 16, 8, 2, 12, (8, 3), 22),
)


def attend(W1, W2, v, past, npast, h, N):
    T, B, H = h.shape
    rows_c, rows_a = [], []
    for b in range(B):
        ext = torch.cat([past[N - npast[b]:, b].detach(), h[:, b]])
        P = ext @ W1.T
        Q = h[:, b] @ W2.T
        cs, ats = [], []
        for t in range(T):
            e = t + npast[b]
            lo = max(0, e - N)
            if e == lo:
                cs.append(torch.zeros(H, dtype=h.dtype))
                ats.append(torch.zeros(N, dtype=h.dtype))
                continue
            u = torch.tanh(P[lo:e] + Q[t]) @ v
            a = torch.softmax(u, dim=0)
            cs.append(a @ ext[lo:e])
            ats.append(torch.cat([torch.zeros(N - (e - lo), dtype=h.dtype), a]))
        rows_c.append(torch.stack(cs))
        rows_a.append(torch.stack(ats))
    return torch.stack(rows_c, dim=1), torch.stack(rows_a, dim=1)


def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy().tobytes()


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    for H, A, N, B, T, npast, seed in CONFIGS:
        torch.manual_seed(seed)
        # float32 values, computed on in float64
        W1 = (torch.randn(A, H) / H ** 0.5).float().double().requires_grad_()
        W2 = (torch.randn(A, H) / H ** 0.5).float().double().requires_grad_()
        v = torch.randn(A).float().double().requires_grad_()
        past = torch.tanh(torch.randn(N, B, H)).float().double()
        h = torch.tanh(torch.randn(T, B, H)).float().double().requires_grad_()
        G = torch.randn(T, B, H).float().double()
        ctx, att = attend(W1, W2, v, past, npast, h, N)
        loss = (ctx * G).sum()
        loss.backward()
        path = "%s/attention_h%d_a%d_n%d.bin" % (out_dir, H, A, N)
        with open(path, "wb") as f:
            f.write(b"RNNATTN1")
            f.write(struct.pack("<5i", H, A, N, B, T))
            f.write(f32(W1) + f32(W2) + f32(v))
            f.write(struct.pack("<%di" % B, *npast))
            f.write(f32(past) + f32(h) + f32(G) + f32(ctx) + f32(att))
            f.write(struct.pack("<d", loss.item()))
            f.write(f32(W1.grad) + f32(W2.grad) + f32(v.grad) + f32(h.grad))
        print("%s: loss %.6f" % (path, loss.item()))


if __name__ == "__main__":
    main()
