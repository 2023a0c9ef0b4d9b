/* SPDX-License-Identifier: MIT */
/* rnnmidi core: one description per recurrent cell type.
 *
 * Everything the reader, the writer, the step and the trainer need to know
 * about a cell lives in its row of one table (core/cell.c): its name, its
 * gates in PyTorch's order, its recurrent state, its tensors per layer, and
 * the products one inference step computes. Code elsewhere reads the row and
 * never asks which cell it has. A new cell type is a row here, its gate
 * function in core/net.c and its forward and backward kernels in
 * training/train_cells.c.
 *
 * The table is constant: any thread. */
#ifndef RNNMIDI_CELL_H
#define RNNMIDI_CELL_H

#include <stddef.h>

typedef enum { RNN_CELL_RNN = 0, RNN_CELL_LSTM = 1, RNN_CELL_GRU = 2 } rnn_cell;

#define RNN_CELL_COUNT 3     /* cell types, numbered 0 .. RNN_CELL_COUNT - 1 */
#define RNN_CELL_MAX_GATES 4 /* G */
#define RNN_CELL_MAX_SLOTS 4 /* blocks of a step's gate buffer */
#define RNN_CELL_MAX_PRODUCTS 3
#define RNN_CELL_LAYER_TENSORS 4

/* One tensor of a layer: its name before the layer number ("rnn.bias_ih_l"
 * names rnn.bias_ih_l0, rnn.bias_ih_l1, ...), G*H rows, and its columns:
 * 'I' the layer's input, 'H' the hidden size, 0 a vector. */
typedef struct {
    const char *name;
    char cols;
} rnn_cell_tensor;

/* One matrix-vector product of an inference step: gates [gate, gate + n) of
 * W_ih (when x) and W_hh (when h), side by side over [x | h], into blocks
 * [slot, slot + n) of the gate buffer (each block H rows). A slot fed with
 * both x and h gets b_ih + b_hh, with x alone b_ih, with h alone b_hh. */
typedef struct {
    int gate, n;
    int x, h;
    int slot;
} rnn_cell_product;

typedef struct {
    rnn_cell cell;
    const char *name;       /* "rnn", "lstm", "gru": the CLI's and the messages' name */
    const char *equations;  /* PyTorch's module, for messages and docs */
    int gates;              /* G: blocks of H rows in W_ih, W_hh and both biases */
    const char *gate_names; /* in PyTorch's order, space-separated */
    int state_parts;        /* recurrent state per layer: 1 = h; 2 = h, then c */
    int hh_apart;           /* W_hh h + b_hh kept apart from W_ih x + b_ih (GRU's
                               reset gate multiplies the n block of it) */
    int slots;              /* blocks of H in a step's gate buffer */
    int n_products;
    rnn_cell_product products[RNN_CELL_MAX_PRODUCTS];
    rnn_cell_tensor tensors[RNN_CELL_LAYER_TENSORS]; /* per layer, file order */
} rnn_cell_desc;

/** The row of a cell type, NULL for an unknown one. Any thread. */
const rnn_cell_desc *rnn_cell_describe(rnn_cell cell);

/** The row named `name` ("lstm"), NULL for none. Any thread. */
const rnn_cell_desc *rnn_cell_find(const char *name);

/** Gate count G of a cell (1, 4 or 3), 0 for an unknown cell. Any thread. */
int rnn_cell_gates(rnn_cell cell);

/** "rnn" / "lstm" / "gru", or NULL. Any thread. */
const char *rnn_cell_name(rnn_cell cell);

/** Multiply-adds of one step of one layer: the products' rows, each block of
 * rows padded to Hp, times their columns (`in` inputs and H hidden; not I,
 * which <complex.h> takes). Any thread. */
size_t rnn_cell_layer_macs(const rnn_cell_desc *d, size_t in, size_t H, size_t Hp);

/** Rows-of-Hp blocks the one-hot input adds a column to (the slots fed
 * with x). Any thread. */
int rnn_cell_input_slots(const rnn_cell_desc *d);

#endif
