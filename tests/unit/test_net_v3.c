/* SPDX-License-Identifier: MIT */
/* The tests of test_net.c on core/net.c pinned to its x86-64-v3 build (AVX2
 * + FMA) when the CPU has it, so that build is checked against PyTorch on an
 * AVX-512 machine too (test_net runs the best build, test_net_generic the
 * baseline). This file defines every rnn_net_* symbol, so the library's
 * net.o is not linked in. */
#define RNN_NET_ISA 3
#include "../../core/net.c"

#include "test_net.c"
