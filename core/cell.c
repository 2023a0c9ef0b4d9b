/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the table of cell types (contract in cell.h).
 *
 * Gate orders and equations are PyTorch's, so a state dict converts without
 * reordering:
 *   rnn   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 *   lstm  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of W_ih x + b_ih + W_hh h + b_hh;
 *         c' = f c + i g, h' = o tanh(c')
 *   gru   r, z = sigmoid of W_ih x + b_ih + W_hh h + b_hh (their blocks);
 *         n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h
 * GRU's b_hn sits inside the reset product, so its step is three products
 * ([r z] over [x | h], n over x, n over h) into four slots (r, z, n_x, n_h);
 * the other cells are one product over [x | h]. */
#include "cell.h"

#include <string.h>

/* PyTorch's four tensors of a layer, the same for every cell of nn.RNNBase */
#define LAYER_TENSORS                                                                              \
    {                                                                                              \
        {"rnn.weight_ih_l", 'I'}, {"rnn.weight_hh_l", 'H'}, {"rnn.bias_ih_l", 0},                  \
        {                                                                                          \
            "rnn.bias_hh_l", 0                                                                     \
        }                                                                                          \
    }

static const rnn_cell_desc cells[RNN_CELL_COUNT] = {
    [RNN_CELL_RNN] =
        {
            .cell = RNN_CELL_RNN,
            .name = "rnn",
            .equations = "nn.RNN (tanh)",
            .gates = 1,
            .gate_names = "h",
            .state_parts = 1,
            .slots = 1,
            .n_products = 1,
            .products = {{.gate = 0, .n = 1, .x = 1, .h = 1, .slot = 0}},
            .tensors = LAYER_TENSORS,
        },
    [RNN_CELL_LSTM] =
        {
            .cell = RNN_CELL_LSTM,
            .name = "lstm",
            .equations = "nn.LSTM",
            .gates = 4,
            .gate_names = "i f g o",
            .state_parts = 2,
            .slots = 4,
            .n_products = 1,
            .products = {{.gate = 0, .n = 4, .x = 1, .h = 1, .slot = 0}},
            .tensors = LAYER_TENSORS,
        },
    [RNN_CELL_GRU] =
        {
            .cell = RNN_CELL_GRU,
            .name = "gru",
            .equations = "nn.GRU",
            .gates = 3,
            .gate_names = "r z n",
            .state_parts = 1,
            .hh_apart = 1,
            .slots = 4, /* r, z, W_in x + b_in, W_hn h + b_hn */
            .n_products = 3,
            .products = {{.gate = 0, .n = 2, .x = 1, .h = 1, .slot = 0},
                         {.gate = 2, .n = 1, .x = 1, .h = 0, .slot = 2},
                         {.gate = 2, .n = 1, .x = 0, .h = 1, .slot = 3}},
            .tensors = LAYER_TENSORS,
        },
};

const rnn_cell_desc *rnn_cell_describe(rnn_cell cell)
{
    return (unsigned)cell < RNN_CELL_COUNT ? &cells[cell] : NULL;
}

const rnn_cell_desc *rnn_cell_find(const char *name)
{
    for (int i = 0; name && i < RNN_CELL_COUNT; i++)
        if (strcmp(cells[i].name, name) == 0) return &cells[i];
    return NULL;
}

int rnn_cell_gates(rnn_cell cell)
{
    const rnn_cell_desc *d = rnn_cell_describe(cell);
    return d ? d->gates : 0;
}

const char *rnn_cell_name(rnn_cell cell)
{
    const rnn_cell_desc *d = rnn_cell_describe(cell);
    return d ? d->name : NULL;
}

size_t rnn_cell_layer_macs(const rnn_cell_desc *d, size_t in, size_t H, size_t Hp)
{
    size_t macs = 0;
    for (int p = 0; p < d->n_products; p++) {
        const rnn_cell_product *q = &d->products[p];
        macs += (size_t)q->n * Hp * ((q->x ? in : 0) + (q->h ? H : 0));
    }
    return macs;
}

int rnn_cell_input_slots(const rnn_cell_desc *d)
{
    int n = 0;
    for (int p = 0; p < d->n_products; p++)
        if (d->products[p].x) n += d->products[p].n;
    return n;
}
