/* SPDX-License-Identifier: MIT */
/* The tests of test_qmat.c on core/qmat.c built with its portable kernels
 * only, the build of every CPU but x86-64 (aarch64 included), so that code
 * is checked on this one too. This file defines every rnn_qmat_* symbol, so
 * the library's qmat.o is not linked in. */
#define RNN_QMAT_PORTABLE 1
#include "../../core/qmat.c"

#include "test_qmat.c"
