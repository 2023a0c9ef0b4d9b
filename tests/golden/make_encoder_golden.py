#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden references for the bidirectional encoder (core/encoder.c and
training/train_encoder.c), recorded with PyTorch's own nn.RNN, nn.LSTM and
nn.GRU with bidirectional=True, in float64.

The encoder is core/FORMAT.md's "Bidirectional encoder": Le layers of He units
in each direction, the forward layer reading steps 0..T-1 and the reverse
layer T-1..0, both from a zero state; a step's output is [forward | reverse]
(2 He floats), and layer k >= 1 reads the 2 He outputs of layer k-1. The loss
is sum(out * R) for a fixed random R, so dout = R. Run with /usr/bin/python3
(Debian python3-torch) from the top folder:

    /usr/bin/python3 tests/golden/make_encoder_golden.py

Writes tests/golden/enc_{cell}_l{Le}.bin, little-endian:
  8 bytes  magic b"RNNENC01"
  int32 x 6  cell (0 rnn, 1 lstm, 2 gru), Le, In, He, B, T
  the tensors, in PyTorch's state_dict order (the file order of
  core/FORMAT.md): for each layer k, weight_ih_l{k} (G He, I_k),
  weight_hh_l{k} (G He, He), bias_ih_l{k} (G He), bias_hh_l{k} (G He), then
  the same four with the suffix _reverse; I_0 = In, I_k = 2 He; float32 each
  float32 x T*B*In   x, row t*B+b
  float32 x T*B*2He  R
  float32 x T*B*2He  outputs
  float64  loss
  float32  the gradient of each tensor, in the same order, then T*B*In dx
"""
import struct
import sys

import torch

CELLS = (("rnn", 0, torch.nn.RNN), ("lstm", 1, torch.nn.LSTM), ("gru", 2, torch.nn.GRU))
# Le, In, He, B, T
SHAPES = ((1, 5, 6, 3, 7), (2, 4, 5, 2, 9))


def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy().tobytes()


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    seed = 31
    for name, num, module in CELLS:
        for Le, In, He, B, T in SHAPES:
            seed += 1
            torch.manual_seed(seed)
            net = module(In, He, num_layers=Le, bidirectional=True).double()
            with torch.no_grad():  # float32 values, computed on in float64
                for p in net.parameters():
                    p.copy_(p.float().double())
            x = torch.randn(T, B, In).float().double().requires_grad_()
            R = torch.randn(T, B, 2 * He).float().double()
            out, _ = net(x)
            loss = (out * R).sum()
            loss.backward()
            names = [n for n, _ in net.named_parameters()]
            params = dict(net.named_parameters())
            path = "%s/enc_%s_l%d.bin" % (out_dir, name, Le)
            with open(path, "wb") as f:
                f.write(b"RNNENC01")
                f.write(struct.pack("<6i", num, Le, In, He, B, T))
                for n in names:
                    f.write(f32(params[n]))
                f.write(f32(x) + f32(R) + f32(out))
                f.write(struct.pack("<d", loss.item()))
                for n in names:
                    f.write(f32(params[n].grad))
                f.write(f32(x.grad))
            print("%s: %s, loss %.6f" % (path, " ".join(names), loss.item()))


if __name__ == "__main__":
    main()
