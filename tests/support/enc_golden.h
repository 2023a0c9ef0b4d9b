/* SPDX-License-Identifier: MIT */
/* The bidirectional encoder's golden files (tests/golden/enc_*.bin, layout
 * in tests/golden/make_encoder_golden.py): PyTorch's weights, inputs,
 * outputs and gradients of one nn.RNN / nn.LSTM / nn.GRU with
 * bidirectional=True, read whole. Shared by test_encoder (the core's
 * forward) and test_train_encoder (the trainer's forward and backward). A
 * missing or short file fails the running cmocka test. Main thread. */
#ifndef RNNMIDI_ENC_GOLDEN_H
#define RNNMIDI_ENC_GOLDEN_H

#include "../../core/encoder.h"

typedef struct {
    rnn_enc_config cfg; /* max_steps = T */
    int B, T;
    int n_tensors;                       /* 8 Le, in rnn_enc_tensor_specs order */
    float *tensors[RNN_ENC_MAX_TENSORS]; /* each spec's count */
    float *x;                            /* (T, B, In) */
    float *R;                            /* (T, B, 2 He): the loss is sum(out * R) */
    float *out;                          /* (T, B, 2 He) */
    double loss;
    float *grads[RNN_ENC_MAX_TENSORS];
    float *dx; /* (T, B, In) */
} enc_golden;

/** Read tests/golden/enc_{cell}_l{layers}.bin into g. */
void enc_golden_load(enc_golden *g, const char *cell, int layers);

/** Release what load took; accepts a zeroed g. */
void enc_golden_free(enc_golden *g);

#endif
