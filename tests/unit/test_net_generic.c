/* SPDX-License-Identifier: MIT */
/* The tests of test_net.c on core/net.c built with its baseline code only
 * (no x86-64-v3/v4 clones, no 16-lane gate functions), so the code that runs
 * on CPUs without AVX2 or AVX-512 is checked against PyTorch on this one too.
 * This file defines every rnn_net_* symbol, so the library's net.o is not
 * linked in. */
#define RNN_NET_ISA 0
#include "../../core/net.c"

#include "test_net.c"
