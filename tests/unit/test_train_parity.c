/* SPDX-License-Identifier: MIT */
/* The trainer's batched forward against the core's step-by-step net: a model
 * trained a few steps by the trainer is serialised (rnn_model_serialize),
 * loaded back (rnn_model_load_memory) and run one step at a time by rnn_net
 * on every lane of a window; the logits agree within 1e-4. Also checks that
 * the trainer's tensor layout is the preset format's. Conditioned models
 * (format v2) get the same 0/1 condition columns in both, the trainer
 * trained with them. Attention models (format v2) run two windows in a row,
 * so the trainer's carried past outputs meet the net's ring. Lookback models
 * (format v2) run whole sequences through the trainer's ordered batcher,
 * whose lookback columns come from each sequence's events since its first
 * step (across windows, and past the history it keeps for the longest bar),
 * against the net fed step by step with columns from the engine's ring
 * (rnn_lookback_ring), bars changing within a sequence. Encoder-decoder
 * models (format v2, a bidirectional encoder) run a window whose encoder
 * inputs (a melody line's one-hot events and pitch classes) the trainer
 * encodes batched, against core/encoder run over each lane's window and the
 * net stepped with its outputs, with and without conditions and lookback. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/encoder.h"
#include "../../core/lookback.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../training/dataset.h"
#include "../../training/train.h"

enum { B = 3, T = 24 };

static void check_attn(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden,
                       unsigned conds, int window, int asize)
{
    rnn_model_config cfg = {kind,  4,      cell, layers, embed, hidden, rnn_kind_vocab(kind),
                            conds, window, asize, 0, 0, 0, 0};
    const int V = cfg.vocab, C = rnn_model_cond_columns(&cfg);
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    assert_non_null(tr);
    rnn_trainer_init_params(tr, 3);
    rnn_trainer_set_threads(tr, 2);

    /* the layout is the file's */
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(&cfg, specs);
    assert_int_equal(n, rnn_trainer_num_tensors(tr));
    for (int i = 0; i < n; i++) {
        const rnn_tensor_spec *s = rnn_trainer_tensor_spec(tr, i);
        assert_string_equal(s->name, specs[i].name);
        assert_int_equal(s->count, specs[i].count);
        assert_int_equal(s->shape[0], specs[i].shape[0]);
    }

    /* a few training steps on a repeating phrase, so the weights are not the
     * initial ones */
    int32_t in[T * B], tg[T * B];
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            in[t * B + b] = (int32_t)((t * 7 + b * 13 + 2) % V);
            tg[t * B + b] = (int32_t)(((t + 1) * 7 + b * 13 + 2) % V);
        }
    /* conditions: a few columns on per step, changing with t and the lane */
    float *cond = C ? calloc((size_t)T * B * C, sizeof *cond) : NULL;
    assert_true(C == 0 || cond);
    for (int r = 0; C && r < T * B; r++)
        for (int c = 0; c < C; c++)
            cond[(size_t)r * C + c] = (float)((r * 5 + c * 3) % 7 < 2);
    for (int step = 1; step <= 15; step++) {
        rnn_trainer_reset_state(tr);
        rnn_trainer_zero_grad(tr);
        rnn_trainer_forward_cond(tr, in, cond, tg, 1, NULL, NULL);
        rnn_trainer_backward(tr);
        rnn_trainer_clip_grad(tr, 1.0);
        rnn_trainer_adamw(tr, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
    }
    /* two windows: the second starts from the first's state (and past) */
    float *batched = malloc(2 * (size_t)T * B * V * sizeof *batched);
    assert_non_null(batched);
    int32_t in2[T * B];
    for (int i = 0; i < T * B; i++)
        in2[i] = (int32_t)((in[i] * 3 + 5) % V);
    rnn_trainer_reset_state(tr);
    rnn_trainer_forward_cond(tr, in, cond, tg, 0, NULL, NULL);
    memcpy(batched, rnn_trainer_logits(tr), (size_t)T * B * V * sizeof *batched);
    rnn_trainer_forward_cond(tr, in2, cond, tg, 0, NULL, NULL);
    memcpy(batched + (size_t)T * B * V, rnn_trainer_logits(tr),
           (size_t)T * B * V * sizeof *batched);

    const float *tensors[RNN_MAX_TENSORS];
    for (int i = 0; i < n; i++)
        tensors[i] = rnn_trainer_tensor(tr, i);
    rnn_meta meta[] = {{"name", "parity"}};
    void *blob = NULL;
    size_t size = 0;
    assert_int_equal(rnn_model_serialize(&cfg, meta, 1, tensors, &blob, &size, err, sizeof err), 0);
    rnn_model *model = rnn_model_load_memory(blob, size, "parity", err, sizeof err);
    if (!model) fail_msg("%s", err);
    rnn_net *net = rnn_net_create(model, err, sizeof err);
    assert_non_null(net);

    double worst = 0;
    for (int b = 0; b < B; b++) {
        rnn_net_reset(net);
        for (int tt = 0; tt < 2 * T; tt++) {
            const int t = tt % T;
            const int32_t *ev = tt < T ? in : in2;
            const float *z =
                rnn_net_step_cond(net, ev[t * B + b], cond ? cond + ((size_t)t * B + b) * C : NULL);
            const float *ref = batched + (size_t)(tt / T) * T * B * V + ((size_t)t * B + b) * V;
            for (int k = 0; k < V; k++) {
                double d = fabs((double)z[k] - ref[k]);
                if (d > worst) worst = d;
            }
        }
    }
    print_message("%s %s L=%d E=%d H=%d C=%d n=%d A=%d: max |logit difference| %.2e\n",
                  rnn_kind_name(kind), rnn_cell_name(cell), layers, embed, hidden, C, window, asize,
                  worst);
    assert_true(worst <= 1e-4);
    rnn_net_free(net);
    rnn_model_free(model);
    free(blob);
    free(batched);
    rnn_trainer_free(tr);
    free(cond);
}

static void check_cond(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden,
                       unsigned conds)
{
    check_attn(kind, cell, layers, embed, hidden, conds, 0, 0);
}

static void check(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden)
{
    check_cond(kind, cell, layers, embed, hidden, 0);
}

/* The encoder-decoder of cfg (enc_* set, RNN_ENC_INPUT_COLUMNS inputs):
 * trained 15 steps, then one window in the trainer and in the core. */
static void check_enc(const rnn_model_config *cfg)
{
    const int V = cfg->vocab, C = rnn_model_input_columns(cfg), In = cfg->enc_inputs,
              Ce = rnn_model_enc_columns(cfg);
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(cfg, B, T, err, sizeof err);
    if (!tr) fail_msg("%s", err);
    rnn_trainer_init_params(tr, 4);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    assert_int_equal(n, rnn_trainer_num_tensors(tr));
    for (int i = 0; i < n; i++) {
        assert_string_equal(rnn_trainer_tensor_spec(tr, i)->name, specs[i].name);
        assert_int_equal(rnn_trainer_tensor_spec(tr, i)->count, specs[i].count);
    }
    int32_t in[T * B], tg[T * B];
    float *cond = C ? calloc((size_t)T * B * C, sizeof *cond) : NULL;
    float *enc = calloc((size_t)T * B * In, sizeof *enc);
    assert_true((C == 0 || cond) && enc);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const int r = t * B + b;
            in[r] = (int32_t)((t * 5 + b * 11 + 1) % V);
            tg[r] = (int32_t)(((t + 1) * 5 + b * 11 + 1) % V);
            for (int c = 0; c < C; c++)
                cond[(size_t)r * C + c] = (float)((r * 3 + c * 7) % 9 < 2);
            /* the line's event (one-hot) and a few pitch classes */
            enc[(size_t)r * In + (size_t)((t * 3 + b * 7) % RNN_MELODY_VOCAB)] = 1.0f;
            for (int k = 0; k < 12; k++)
                enc[(size_t)r * In + RNN_MELODY_VOCAB + k] = (float)((t + k * 5 + b) % 4 == 0);
        }
    for (int step = 1; step <= 15; step++) {
        rnn_trainer_reset_state(tr);
        rnn_trainer_zero_grad(tr);
        rnn_trainer_forward_enc(tr, in, cond, enc, tg, 1, NULL, NULL);
        rnn_trainer_backward(tr);
        rnn_trainer_clip_grad(tr, 1.0);
        rnn_trainer_adamw(tr, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
    }
    rnn_trainer_reset_state(tr);
    rnn_trainer_forward_enc(tr, in, cond, enc, tg, 0, NULL, NULL);
    const float *batched = rnn_trainer_logits(tr);

    const float *tensors[RNN_MAX_TENSORS];
    for (int i = 0; i < n; i++)
        tensors[i] = rnn_trainer_tensor(tr, i);
    rnn_meta meta[] = {{"name", "parity"}};
    void *blob = NULL;
    size_t size = 0;
    assert_int_equal(rnn_model_serialize(cfg, meta, 1, tensors, &blob, &size, err, sizeof err), 0);
    rnn_model *model = rnn_model_load_memory(blob, size, "parity", err, sizeof err);
    if (!model) fail_msg("%s", err);
    rnn_net *net = rnn_net_create(model, err, sizeof err);
    if (!net) fail_msg("%s", err);
    assert_int_equal(rnn_net_enc_columns(net), Ce);
    assert_int_equal(rnn_net_probe(net, "parity", err, sizeof err), 0);
    rnn_enc *e = rnn_enc_create_model(model, T, err, sizeof err);
    if (!e) fail_msg("%s", err);

    float *x = malloc((size_t)T * In * sizeof *x);
    assert_non_null(x);
    double worst = 0, spread = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            memcpy(x + (size_t)t * In, enc + ((size_t)t * B + b) * In, (size_t)In * sizeof *x);
        assert_int_equal(rnn_enc_run(e, x, T), 0);
        const float *out = rnn_enc_output(e, NULL);
        rnn_net_reset(net);
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)t * B + b;
            const float *z =
                rnn_net_step_enc(net, in[r], cond ? cond + r * C : NULL, out + (size_t)t * Ce);
            for (int k = 0; k < V; k++) {
                worst = fmax(worst, fabs((double)z[k] - batched[r * V + k]));
                spread = fmax(spread, fabs((double)batched[r * V + k] - batched[k]));
            }
        }
    }
    print_message("%s %s L=%d E=%d H=%d C=%d, encoder %d x %d: max |logit difference| %.2e\n",
                  rnn_kind_name(cfg->kind), rnn_cell_name(cfg->cell), cfg->layers, cfg->embed,
                  cfg->hidden, C, cfg->enc_layers, cfg->enc_hidden, worst);
    assert_true(worst <= 1e-4);
    assert_true(spread > 1e-2); /* the logits depend on the step: the comparison means something */
    free(x);
    rnn_enc_free(e);
    rnn_net_free(net);
    rnn_model_free(model);
    free(blob);
    rnn_trainer_free(tr);
    free(cond);
    free(enc);
}

static void test_parity_encoder(void **state)
{
    (void)state;
    const rnn_model_config base = {.kind = RNN_KIND_DRUMS,
                                   .steps_per_quarter = 4,
                                   .vocab = 512,
                                   .enc_inputs = RNN_ENC_INPUT_COLUMNS};
    static const struct {
        rnn_cell cell;
        int layers, embed, hidden, elayers, ehidden;
        unsigned conds;
        int lookback;
    } nets[] = {
        {RNN_CELL_GRU, 1, 8, 12, 1, 6, 0, 0},
        {RNN_CELL_LSTM, 2, 0, 10, 2, 5, RNN_COND_METRIC, 0},
        {RNN_CELL_RNN, 1, 6, 9, 2, 4, RNN_COND_METRIC, 1},
        {RNN_CELL_GRU, 2, 0, 8, 1, 7, 0, 1},
    };
    for (size_t i = 0; i < sizeof nets / sizeof *nets; i++) {
        rnn_model_config cfg = base;
        cfg.cell = nets[i].cell;
        cfg.layers = nets[i].layers;
        cfg.embed = nets[i].embed;
        cfg.hidden = nets[i].hidden;
        cfg.enc_layers = nets[i].elayers;
        cfg.enc_hidden = nets[i].ehidden;
        cfg.conditions = nets[i].conds;
        cfg.lookback = nets[i].lookback;
        check_enc(&cfg);
    }
    /* a melody decoder too (an answer model's shape) */
    rnn_model_config m = {.kind = RNN_KIND_MELODY,
                          .steps_per_quarter = 4,
                          .cell = RNN_CELL_LSTM,
                          .layers = 1,
                          .embed = 8,
                          .hidden = 10,
                          .vocab = 130,
                          .conditions = RNN_COND_ALL,
                          .enc_layers = 1,
                          .enc_hidden = 6,
                          .enc_inputs = RNN_ENC_INPUT_COLUMNS};
    check_enc(&m);
}

static void test_parity_lstm(void **state)
{
    (void)state;
    check(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 48);
    check(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 0, 32);
    check_cond(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 48, RNN_COND_ALL);
    check_cond(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 0, 32, RNN_COND_HARMONY);
}

static void test_parity_gru(void **state)
{
    (void)state;
    check(RNN_KIND_MELODY, RNN_CELL_GRU, 2, 16, 48);
    check(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 0, 24);
    check_cond(RNN_KIND_MELODY, RNN_CELL_GRU, 2, 16, 48, RNN_COND_METRIC);
    check_cond(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 0, 24, RNN_COND_METRIC);
    check_cond(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 20, RNN_COND_ALL);
}

static void test_parity_rnn(void **state)
{
    (void)state;
    check(RNN_KIND_MELODY, RNN_CELL_RNN, 3, 8, 40);
    check(RNN_KIND_DRUMS, RNN_CELL_RNN, 2, 12, 16);
    check_cond(RNN_KIND_MELODY, RNN_CELL_RNN, 2, 8, 24, RNN_COND_ALL);
}

/* attention over windows shorter and longer than the trainer's T = 24 */
static void test_parity_attention(void **state)
{
    (void)state;
    check_attn(RNN_KIND_MELODY, RNN_CELL_RNN, 1, 8, 24, 0, 16, 12);
    check_attn(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 32, 0, 32, 16);
    check_attn(RNN_KIND_MELODY, RNN_CELL_GRU, 2, 0, 20, RNN_COND_ALL, 8, 20);
    check_attn(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 8, 16, RNN_COND_METRIC, 64, 8);
}

/* A sequence for the lookback: events that often repeat the bar before, bar
 * lengths that change halfway, a metric code at every step. */
static void make_seq(rnn_seq *s, rnn_kind kind, size_t len, int bar1, int bar2, uint32_t seed)
{
    const int V = rnn_kind_vocab(kind);
    s->events = malloc(len * sizeof *s->events);
    s->bar = malloc(len * sizeof *s->bar);
    s->cond = malloc(len * sizeof *s->cond);
    assert_true(s->events && s->bar && s->cond);
    s->len = len;
    uint32_t x = seed;
    for (size_t p = 0; p < len; p++) {
        const int b = p < len / 2 ? bar1 : bar2;
        x = x * 1664525u + 1013904223u;
        s->bar[p] = (uint16_t)b;
        s->events[p] = p >= (size_t)b && (x >> 28) < 10 ? s->events[p - (size_t)b]
                                                         : (int32_t)((x >> 8) % (uint32_t)V);
        const rnn_metric_pos pos = {.bar_start = (int)(p % (size_t)b == 0),
                                    .beat_start = (int)(p % 4 == 0),
                                    .step_in_beat = (int)(p % 4),
                                    .beat_in_bar = (int)(p % (size_t)b / 4)};
        s->cond[p] = rnn_cond_code(&pos, 0);
    }
}

static void check_lookback(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden,
                           unsigned conds, const size_t *lens, const int (*bars)[2], int nseq)
{
    const rnn_model_config cfg = {.kind = kind,
                                  .steps_per_quarter = 4,
                                  .cell = cell,
                                  .layers = layers,
                                  .embed = embed,
                                  .hidden = hidden,
                                  .vocab = rnn_kind_vocab(kind),
                                  .conditions = conds,
                                  .lookback = 1};
    const int V = cfg.vocab, C = rnn_model_input_columns(&cfg), C0 = rnn_model_cond_columns(&cfg);
    assert_int_equal(C - C0, rnn_lookback_columns(kind));
    rnn_seq_list list = {calloc((size_t)nseq, sizeof(rnn_seq)), (size_t)nseq};
    assert_non_null(list.seqs);
    for (int i = 0; i < nseq; i++)
        make_seq(&list.seqs[i], kind, lens[i], bars[i][0], bars[i][1], 7u + (uint32_t)i);
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, 1, T, err, sizeof err);
    assert_non_null(tr);
    rnn_trainer_init_params(tr, 5);
    int32_t in[T], tg[T];

    /* a few training steps on random windows of the sequences */
    rnn_batcher *bt = rnn_batcher_create(&list, kind, 1, T, 1, 0, 3);
    assert_non_null(bt);
    assert_int_equal(rnn_batcher_set_conditions(bt, &cfg, 0.0f), 0);
    for (int step = 1; step <= 10; step++) {
        rnn_trainer_zero_grad(tr);
        rnn_batcher_next(bt, tr, in, tg);
        rnn_trainer_forward_cond(tr, in, rnn_batcher_cond(bt), tg, 1, NULL, NULL);
        rnn_trainer_backward(tr);
        rnn_trainer_adamw(tr, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
    }
    rnn_batcher_free(bt);

    const float *tensors[RNN_MAX_TENSORS];
    const int n = rnn_trainer_num_tensors(tr);
    for (int i = 0; i < n; i++)
        tensors[i] = rnn_trainer_tensor(tr, i);
    void *blob = NULL;
    size_t size = 0;
    assert_int_equal(rnn_model_serialize(&cfg, NULL, 0, tensors, &blob, &size, err, sizeof err), 0);
    rnn_model *model = rnn_model_load_memory(blob, size, "parity", err, sizeof err);
    if (!model) fail_msg("%s", err);
    rnn_net *net = rnn_net_create(model, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(rnn_net_cond_columns(net), C);
    rnn_lookback_ring *ring = malloc(sizeof *ring);
    float *cols = malloc((size_t)C * sizeof *cols);
    assert_true(ring && cols);

    /* the ordered batcher of one lane walks each sequence whole, window
     * after window from its first step: the net does the same, step by step */
    bt = rnn_batcher_create(&list, kind, 1, T, 0, 0, 0);
    assert_non_null(bt);
    assert_int_equal(rnn_batcher_set_conditions(bt, &cfg, 0.0f), 0);
    rnn_trainer_reset_state(tr);
    double worst = 0;
    long looked = 0, steps = 0;
    for (int i = 0; i < nseq; i++) {
        const rnn_seq *s = &list.seqs[i];
        rnn_net_reset(net);
        rnn_lookback_clear(ring);
        for (size_t pos = 0; pos + 1 < s->len; pos += T) {
            assert_true(rnn_batcher_next(bt, tr, in, tg) > 0);
            const float *bcols = rnn_batcher_cond(bt);
            rnn_trainer_forward_cond(tr, in, bcols, tg, 0, NULL, NULL);
            const float *batched = rnn_trainer_logits(tr);
            for (size_t t = 0; t < T && pos + t + 1 < s->len; t++) {
                const size_t p = pos + t;
                assert_int_equal(in[t], s->events[p]);
                rnn_cond_code_columns(s->cond[p], &cfg, 0, 1, cols);
                rnn_lookback_push(ring, s->events[p]);
                rnn_lookback_ring_fill(ring, kind, s->bar[p], cols + C0);
                /* the batcher's columns are the ring's */
                assert_memory_equal(cols, bcols + t * (size_t)C, (size_t)C * sizeof *cols);
                for (int j = C0; j < C; j++)
                    looked += cols[j] != 0.0f;
                const float *z = rnn_net_step_cond(net, s->events[p], cols);
                for (int k = 0; k < V; k++) {
                    const double d = fabs((double)z[k] - batched[t * (size_t)V + (size_t)k]);
                    if (d > worst) worst = d;
                }
                steps++;
            }
        }
    }
    assert_int_equal(rnn_batcher_next(bt, tr, in, tg), 0); /* every sequence was walked */
    print_message("%s %s L=%d E=%d H=%d C=%d lookback: %ld steps, max |logit difference| %.2e\n",
                  rnn_kind_name(kind), rnn_cell_name(cell), layers, embed, hidden, C, steps, worst);
    assert_true(looked > steps); /* the lookback columns were on, often */
    assert_true(worst <= 1e-4);
    rnn_batcher_free(bt);
    free(ring);
    free(cols);
    rnn_net_free(net);
    rnn_model_free(model);
    free(blob);
    rnn_trainer_free(tr);
    rnn_seq_list_free(&list);
}

/* short and long sequences (one past the history kept for the longest bar,
 * 2 x 1536 steps), bars changing within each */
static void test_parity_lookback(void **state)
{
    (void)state;
    const size_t lens[] = {100, 61, 3200};
    const int bars[][2] = {{5, 3}, {16, 12}, {16, 1536}};
    check_lookback(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 0, 24, 0, lens, bars, 2);
    check_lookback(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 8, 16, RNN_COND_METRIC, lens, bars, 2);
    check_lookback(RNN_KIND_DRUMS, RNN_CELL_RNN, 1, 0, 12, RNN_COND_METRIC, lens, bars, 3);
    check_lookback(RNN_KIND_DRUMS, RNN_CELL_GRU, 2, 6, 16, 0, lens + 2, bars + 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_lstm),     cmocka_unit_test(test_parity_gru),
        cmocka_unit_test(test_parity_rnn),      cmocka_unit_test(test_parity_attention),
        cmocka_unit_test(test_parity_lookback), cmocka_unit_test(test_parity_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
