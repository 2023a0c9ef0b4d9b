/* SPDX-License-Identifier: MIT */
/* rnnmidi core: one weight matrix stored in reduced precision (bf16, or int8
 * with a scale per row) and its matrix-vector product y += W x.
 *
 * The weights are rounded once, at create; the input vector is rounded for
 * each product into scratch allocated at create (bf16: every x[k] rounded to
 * bf16; int8: x scaled by max |x| / 127 and rounded to [-127, 127]), so the
 * products of every kernel are the same numbers: bf16 x bf16 products are
 * exact in float, and int8 sums are exact in int32. Every kernel adds them
 * in the same order, so results agree bit for bit (int8 always; bf16 but
 * where the native vdpbf16ps kernel reads a denormal as zero). The state
 * and everything but the weights and the product's input stay fp32.
 *
 * Kernels are picked at create for the CPU (__builtin_cpu_supports) from
 * rnn_qmat_kernel_at(); a test pins one with rnn_qmat_set_kernel. The build
 * stays generic x86-64 (function-level target attributes) and builds the
 * portable kernels alone elsewhere (aarch64).
 *
 * Threads: create, free and set_kernel on the main or worker thread (they
 * allocate or change the kernel); the products on any one thread at a time
 * per matrix (they write its input scratch): they never allocate, lock,
 * print or do I/O, so they run on the audio thread. Denormals: set FTZ/DAZ
 * around the products as core/net does around a step. */
#ifndef RNNMIDI_QMAT_H
#define RNNMIDI_QMAT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rnn_qmat rnn_qmat;

typedef enum {
    RNN_QMAT_BF16 = 1, /* bfloat16: fp32's exponent, 8 significant bits */
    RNN_QMAT_INT8 = 2  /* int8 in [-127, 127] times a float scale per row */
} rnn_qmat_dtype;

enum {
    RNN_QMAT_UNIT = 8,          /* a row range starts on a multiple of this */
    RNN_QMAT_MAX_COLS = 1 << 16 /* int8 sums stay exact in int32 up to here */
};

/** Round and pack the rows x cols matrix w (row r at w + r * ld, fp32) as
 * dtype, with the best kernel this CPU runs. w is not kept. int8: each row's
 * scale is max |w_r| / 127 (0 for an all-zero row). NULL with a message for
 * a bad size or dtype, a non-finite weight, a weight beyond bf16's range, or
 * no memory. Main/worker thread; allocates. */
rnn_qmat *rnn_qmat_create(const float *w, int rows, int cols, size_t ld, rnn_qmat_dtype dtype,
                          char *err, size_t errlen);

/** The same from weights already rounded (as a preset stores them): bf16
 * values, or int8 values in [-127, 127] with a scale per row; stored as
 * given, so the products are those of the matrix they were read from. NULL
 * with a message for a bad size, a non-finite bf16 value or scale, a
 * negative scale, an int8 -128, or no memory. Main/worker thread;
 * allocates. */
rnn_qmat *rnn_qmat_create_bf16(const uint16_t *w, int rows, int cols, size_t ld, char *err,
                               size_t errlen);
rnn_qmat *rnn_qmat_create_int8(const int8_t *w, const float *scale, int rows, int cols, size_t ld,
                               char *err, size_t errlen);

/** Release a matrix; accepts NULL. Main/worker thread. */
void rnn_qmat_free(rnn_qmat *q);

/** Bytes allocated for the matrix (weights, scales, scratch, the struct). */
size_t rnn_qmat_bytes(const rnn_qmat *q);

int rnn_qmat_rows(const rnn_qmat *q);
int rnn_qmat_cols(const rnn_qmat *q);
rnn_qmat_dtype rnn_qmat_get_dtype(const rnn_qmat *q);

/** y[r] += (W x)[r] for every row: x has cols floats, y rows floats. A
 * non-finite x gives NaN or infinite outputs (int8: NaN in every row).
 * Audio thread safe; one thread at a time per matrix. */
void rnn_qmat_mv(rnn_qmat *q, float *y, const float *x);

/** The same for rows [r0, r1) only, y pointing at row 0: r0 a multiple of
 * RNN_QMAT_UNIT, r1 one too or the row count. Each row is summed the same
 * way whatever the range, so a product cut into ranges is bit-identical to
 * the whole one. Rounds all of x first (rnn_qmat_input). Audio thread safe;
 * one thread at a time per matrix. */
void rnn_qmat_mv_rows(rnn_qmat *q, float *y, const float *x, int r0, int r1);

/** A product cut into ranges without rounding x again for each: round x
 * (cols floats) once into the matrix's scratch, 0, or -1 when an int8
 * input is not finite (the products then add NaN); then rnn_qmat_mv_input
 * adds rows [r0, r1) (as rnn_qmat_mv_rows) of W times that input, as often
 * as needed, until the next rnn_qmat_input. Before the first input (or
 * after rnn_qmat_set_kernel) mv_input adds nothing. Audio thread safe; one
 * thread at a time per matrix. */
int rnn_qmat_input(rnn_qmat *q, const float *x);
void rnn_qmat_mv_input(const rnn_qmat *q, float *y, int r0, int r1);

/** Name of the kernel the products run: bf16 "avx512bf16", "avx2",
 * "portable"; int8 "avx512vnni", "avxvnni", "avx2", "portable". */
const char *rnn_qmat_kernel_name(const rnn_qmat *q);

/** The i-th kernel built for dtype, best first (NULL past the last), whether
 * or not this CPU runs it. Any thread. */
const char *rnn_qmat_kernel_at(rnn_qmat_dtype dtype, int i);

/** 1 when this CPU runs the kernel `name` of dtype, else 0. Any thread. */
int rnn_qmat_kernel_supported(rnn_qmat_dtype dtype, const char *name);

/** Run the products of q through the kernel `name`: 0, or -1 (q unchanged)
 * when it is not built for q's dtype or this CPU lacks it. Main thread, not
 * during a product. */
int rnn_qmat_set_kernel(rnn_qmat *q, const char *name);

/** The weight (r, c) as stored, as a float: exactly what the products
 * multiply (int8: the integer times its row's scale, rounded once). */
float rnn_qmat_weight(const rnn_qmat *q, int r, int c);

/** int8: the scale of row r (max |w_r| / 127, 0 for a zero row); bf16: 1. */
float rnn_qmat_row_scale(const rnn_qmat *q, int r);

/** The integer weight (r, c) of an int8 matrix (0 for bf16). */
int rnn_qmat_weight_int8(const rnn_qmat *q, int r, int c);

/** Round a float to bfloat16, to nearest with ties to even; NaN stays a
 * (quiet) NaN of the same sign, a finite value beyond bf16's largest rounds
 * to infinity, denormals keep their bits as far as bf16 holds them. */
uint16_t rnn_bf16_from_float(float f);

/** The float a bfloat16 stands for (exact). */
float rnn_bf16_to_float(uint16_t b);

/** The input rounding of int8 products: q[k] = round(x[k] / s) in
 * [-127, 127] with s = max |x| / 127, returned (0 when x is all zeros);
 * a negative return (q untouched) when some x is not finite. */
float rnn_qmat_quantize_input(const float *x, int n, int8_t *q);

#endif
