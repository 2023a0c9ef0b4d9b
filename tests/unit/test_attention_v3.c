/* SPDX-License-Identifier: MIT */
/* The tests of test_attention.c on core/attention.c built with its
 * x86-64-v3 step at most (AVX2 + FMA), so that build is checked on a CPU
 * that would pick x86-64-v4.
 * This file defines every rnn_attn_* symbol, so the library's attention.o
 * is not linked in. */
#define RNN_ATTN_ISA 3
#include "../../core/attention.c"

#include "test_attention.c"
