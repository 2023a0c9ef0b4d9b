/* SPDX-License-Identifier: MIT */
/* Reading the bidirectional encoder's golden files (contract in
 * enc_golden.h). */
#include "enc_golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"

void enc_golden_load(enc_golden *g, const char *cell, int layers)
{
    memset(g, 0, sizeof *g);
    char path[256];
    snprintf(path, sizeof path, "tests/golden/enc_%s_l%d.bin", cell, layers);
    golden_reader r;
    golden_open(&r, path);
    char magic[8];
    golden_take(&r, magic, 8);
    assert_memory_equal(magic, "RNNENC01", 8);
    int32_t d[6];
    golden_take(&r, d, sizeof d);
    g->cfg = (rnn_enc_config){
        .cell = (rnn_cell)d[0], .layers = d[1], .inputs = d[2], .hidden = d[3], .max_steps = d[5]};
    g->B = d[4];
    g->T = d[5];
    assert_int_equal(g->cfg.layers, layers);
    rnn_tensor_spec specs[RNN_ENC_MAX_TENSORS];
    g->n_tensors = rnn_enc_tensor_specs(&g->cfg, specs);
    assert_int_equal(g->n_tensors, 8 * layers);
    for (int i = 0; i < g->n_tensors; i++)
        g->tensors[i] = golden_take_floats(&r, specs[i].count);
    const size_t TB = (size_t)g->T * g->B, He2 = 2 * (size_t)g->cfg.hidden;
    g->x = golden_take_floats(&r, TB * g->cfg.inputs);
    g->R = golden_take_floats(&r, TB * He2);
    g->out = golden_take_floats(&r, TB * He2);
    golden_take(&r, &g->loss, sizeof g->loss);
    for (int i = 0; i < g->n_tensors; i++)
        g->grads[i] = golden_take_floats(&r, specs[i].count);
    g->dx = golden_take_floats(&r, TB * g->cfg.inputs);
    assert_int_equal(r.pos, r.size);
    golden_close(&r);
}

void enc_golden_free(enc_golden *g)
{
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i]), free(g->grads[i]);
    free(g->x), free(g->R), free(g->out), free(g->dx);
    memset(g, 0, sizeof *g);
}
