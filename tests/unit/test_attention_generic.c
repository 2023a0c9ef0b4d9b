/* SPDX-License-Identifier: MIT */
/* The tests of test_attention.c on core/attention.c built with its baseline
 * step only (no x86-64-v3/v4 builds), so the code that runs on CPUs without
 * AVX2 is checked against the reference and PyTorch on this one too.
 * This file defines every rnn_attn_* symbol, so the library's attention.o
 * is not linked in. */
#define RNN_ATTN_ISA 0
#include "../../core/attention.c"

#include "test_attention.c"
