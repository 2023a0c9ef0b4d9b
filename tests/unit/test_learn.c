/* SPDX-License-Identifier: MIT */
/* core/learn against three references. (1) Central finite differences of
 * its own forward, for every parameter tensor of every cell type, one-hot
 * and embedded input, with and without the input columns (conditions and
 * lookback), with and without attention (windows shorter and longer than
 * the phrase), 1 to 3 layers. (2) The offline trainer (training/train.h,
 * OpenBLAS, itself checked against PyTorch's golden files by
 * test_train_golden and test_train_attention) on the same batch and
 * weights from the zero state and an empty attention ring: the NLL and
 * every gradient agree. (3) core/net stepping the model that
 * rnn_learn_model writes: its NLL over the batch is the learner's, with and
 * without attention, and on the PyTorch-made attention preset of
 * tests/golden. Then the optimiser: updates lower the NLL of the batch they
 * see, the distance from the starting weights stays within the radius, a
 * rejected update comes back to the accepted weights exactly, Forget
 * restores the start. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/learn.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../training/train.h"
#include "../support/random.h"

enum { B = 3, T = 7 };

/* A model of cfg with weights uniform in +-scale, the attention's in
 * +-2 scale: scores that differ from key to key, as a trained model's do,
 * so the attention's gradients stand out of the noise of the finite
 * differences. */
static rnn_model *make_model(const rnn_model_config *cfg, uint64_t seed, float scale)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    assert_true(n > 0);
    float *t[RNN_MAX_TENSORS];
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        const int attn = strncmp(specs[i].name, "attn.", 5) == 0;
        t[i] = xorshift_floats(&s, specs[i].count, attn ? 2.0f * scale : scale);
        assert_non_null(t[i]);
    }
    void *buf;
    size_t len;
    char err[256];
    if (rnn_model_serialize(cfg, NULL, 0, (const float *const *)t, &buf, &len, err, sizeof err))
        fail_msg("%s", err);
    rnn_model *m = rnn_model_load_memory(buf, len, "test", err, sizeof err);
    if (!m) fail_msg("%s", err);
    free(buf);
    for (int i = 0; i < n; i++)
        free(t[i]);
    return m;
}

/* A batch: events, targets (one not counted; the last lane shorter, its
 * tail not counted) and 0/1 columns with a few on per step. */
typedef struct {
    int32_t in[T * B], tg[T * B];
    float *cols;
    int C;
} batch;

static void make_batch(batch *bt, int V, int C, uint64_t seed)
{
    uint64_t s = seed;
    for (int r = 0; r < T * B; r++) {
        bt->in[r] = (int32_t)((xorshift_uniform(&s) + 1.0f) * 0.5f * (float)V) % V;
        bt->tg[r] = (int32_t)((xorshift_uniform(&s) + 1.0f) * 0.5f * (float)V) % V;
    }
    bt->tg[4] = -1;
    for (int t = T - 2; t < T; t++)
        bt->tg[t * B + B - 1] = -1;
    bt->C = C;
    bt->cols = C ? calloc((size_t)T * B * C, sizeof(float)) : NULL;
    for (int i = 0; C && i < T * B * C; i++)
        bt->cols[i] = xorshift_uniform(&s) > 0.8f ? 1.0f : 0.0f;
}

static double mean_nll(rnn_learn *ln, const batch *bt)
{
    return rnn_learn_nll(ln, bt->in, bt->cols, bt->tg, B, T);
}

static rnn_model_config config(rnn_cell cell, int layers, int embed, int hidden, unsigned conds,
                               int look)
{
    rnn_model_config cfg = {RNN_KIND_MELODY,  1,     cell, layers, embed, hidden,
                            RNN_MELODY_VOCAB, conds, 0,    0,      look, 0, 0, 0};
    return cfg;
}

/* The same with attention over a window of `win` outputs, size A. */
static rnn_model_config config_attn(rnn_cell cell, int layers, int embed, int hidden,
                                    unsigned conds, int look, int win, int A)
{
    rnn_model_config cfg = config(cell, layers, embed, hidden, conds, look);
    cfg.attn_window = win;
    cfg.attn_size = A;
    return cfg;
}

/* ------------------------------------------------------------------------ */
/* (1) finite differences */

static void check_fd_cfg(const rnn_model_config cfg)
{
    const rnn_cell cell = cfg.cell;
    const int layers = cfg.layers, embed = cfg.embed;
    rnn_model *m = make_model(&cfg, 11 + (uint64_t)cell * 7 + (uint64_t)layers, 0.6f);
    char err[256];
    rnn_learn *ln = rnn_learn_create(m, B, T, err, sizeof err);
    if (!ln) fail_msg("%s", err);
    batch bt;
    make_batch(&bt, cfg.vocab, rnn_learn_columns(ln), 99 + (uint64_t)cell);
    long n = 0;
    rnn_learn_forward(ln, bt.in, bt.cols, bt.tg, B, T, &n);
    assert_int_equal(n, T * B - 3);
    rnn_learn_backward(ln);
    const size_t P = rnn_learn_num_params(ln);
    float *g = malloc(P * sizeof *g);
    assert_non_null(g);
    memcpy(g, rnn_learn_grads(ln), P * sizeof *g);
    float *w = rnn_learn_params(ln);

    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int nt = rnn_model_tensor_specs(&cfg, specs);
    size_t off = 0;
    const float eps = 1e-2f;
    for (int k = 0; k < nt; k++) {
        /* at most 400 entries of a tensor, spread over it */
        const size_t cnt = specs[k].count, stride = cnt > 400 ? cnt / 400 + 1 : 1;
        double num = 0, den = 0;
        size_t used = 0;
        for (size_t j = 0; j < cnt; j += stride, used++) {
            float *p = w + off + j;
            const float keep = *p;
            *p = keep + eps;
            const double lp = mean_nll(ln, &bt);
            *p = keep - eps;
            const double lm = mean_nll(ln, &bt);
            *p = keep;
            const double fd = (lp - lm) / (2.0 * eps), d = fd - g[off + j];
            num += d * d;
            den += (double)g[off + j] * g[off + j];
        }
        /* as test_train_grad: float central differences carry a noise of
         * about ulp(loss) / (2 eps) on top of a relative error */
        const int ok = sqrt(num) <= 2e-3 * sqrt(den) + 2e-5 * sqrt((double)used);
        if (!ok || getenv("GRAD_VERBOSE"))
            print_message("%s L=%d E=%d C=%d W=%d %-18s error %.2e of |g| %.2e\n",
                          rnn_cell_name(cell), layers, embed, bt.C, cfg.attn_window, specs[k].name,
                          sqrt(num), sqrt(den));
        assert_true(ok);
        assert_true(den > 0); /* an all-zero gradient would pass trivially */
        off += cnt;
    }
    assert_int_equal(off, P);
    free(g);
    free(bt.cols);
    rnn_learn_free(ln);
    rnn_model_free(m);
}

static void check_fd(rnn_cell cell, int layers, int embed, unsigned conds, int look)
{
    check_fd_cfg(config(cell, layers, embed, 5, conds, look));
}

/* with attention: a window shorter than the phrase (the oldest outputs drop
 * out of it) and one longer (every earlier step attended) */
static void check_fd_attn(rnn_cell cell, int layers, int embed, unsigned conds, int look, int win,
                          int A)
{
    check_fd_cfg(config_attn(cell, layers, embed, 5, conds, look, win, A));
}

static void test_fd_rnn(void **state)
{
    (void)state;
    check_fd(RNN_CELL_RNN, 1, 0, 0, 0);
    check_fd(RNN_CELL_RNN, 2, 4, RNN_COND_ALL, 1);
    check_fd_attn(RNN_CELL_RNN, 1, 0, 0, 0, 3, 4);
    check_fd_attn(RNN_CELL_RNN, 2, 4, RNN_COND_ALL, 1, 16, 9);
}

static void test_fd_lstm(void **state)
{
    (void)state;
    check_fd(RNN_CELL_LSTM, 2, 0, RNN_COND_METRIC, 0);
    check_fd(RNN_CELL_LSTM, 3, 6, RNN_COND_ALL, 1);
    check_fd_attn(RNN_CELL_LSTM, 2, 0, RNN_COND_METRIC, 0, 4, 3);
    check_fd_attn(RNN_CELL_LSTM, 1, 6, 0, 1, 32, 8);
}

static void test_fd_gru(void **state)
{
    (void)state;
    check_fd(RNN_CELL_GRU, 1, 6, 0, 0);
    check_fd(RNN_CELL_GRU, 2, 0, RNN_COND_ALL, 1);
    check_fd_attn(RNN_CELL_GRU, 1, 6, 0, 0, 2, 5);
    check_fd_attn(RNN_CELL_GRU, 2, 0, RNN_COND_ALL, 1, 5, 16);
}

/* ------------------------------------------------------------------------ */
/* (2) the offline trainer on the same batch and weights */

static void check_trainer_cfg(const rnn_model_config cfg)
{
    const rnn_cell cell = cfg.cell;
    const int layers = cfg.layers, embed = cfg.embed, hidden = cfg.hidden;
    rnn_model *m = make_model(&cfg, 5 + (uint64_t)cell + 3 * (uint64_t)layers, 0.3f);
    char err[256];
    rnn_learn *ln = rnn_learn_create(m, B, T, err, sizeof err);
    if (!ln) fail_msg("%s", err);
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    if (!tr) fail_msg("%s", err);
    if (rnn_trainer_load_model(tr, m, err, sizeof err)) fail_msg("%s", err);
    rnn_trainer_reset_state(tr);
    batch bt;
    make_batch(&bt, cfg.vocab, rnn_learn_columns(ln), 31 + (uint64_t)layers);

    long n1 = 0, n2 = 0;
    const double a = rnn_learn_forward(ln, bt.in, bt.cols, bt.tg, B, T, &n1);
    rnn_learn_backward(ln);
    rnn_trainer_zero_grad(tr);
    const double b = rnn_trainer_forward_cond(tr, bt.in, bt.cols, bt.tg, 0, &n2, NULL);
    rnn_trainer_backward(tr);
    assert_int_equal(n1, n2);
    assert_true(fabs(a - b) <= 1e-5 * fabs(b));

    const size_t P = rnn_learn_num_params(ln);
    assert_int_equal(P, rnn_trainer_num_params(tr));
    const float *g1 = rnn_learn_grads(ln), *g2 = rnn_trainer_grads(tr);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int nt = rnn_model_tensor_specs(&cfg, specs);
    /* attn.W2's gradient sums the terms of attn.W1's (each key's dP_k),
     * but over the keys of a step, where they cancel: the softmax's du_k
     * sum to zero. Its rounding is that of W1's terms, so its floor below
     * is W1's largest. */
    double w1max = 0;
    size_t off = 0;
    for (int k = 0; k < nt; k++) {
        if (strcmp(specs[k].name, "attn.W1") == 0)
            for (size_t j = 0; j < specs[k].count; j++)
                w1max = fmax(w1max, fabs(g2[off + j]));
        off += specs[k].count;
    }
    off = 0;
    for (int k = 0; k < nt; k++) {
        /* relative to each value, with a floor of 1e-2 of the tensor's
         * largest: a gradient that is a sum of terms cancelling to almost
         * nothing keeps the rounding of its terms (summed in another order
         * by OpenBLAS), not of its value. Measured: at most 3.5e-5, and
         * the same with attention but for the attention's own tensors:
         * their terms pass through the softmax's du_k = a_k (da_k - sum a da)
         * and 1 - tanh^2, differences of nearly equal numbers, rounded
         * differently by the two builds (the learner contracts to FMA);
         * measured at most 2.3e-4 there, held to 1e-3. */
        double mx = 0, worst = 0;
        for (size_t j = 0; j < specs[k].count; j++)
            mx = fmax(mx, fabs(g2[off + j]));
        const double floor = 1e-2 * (strcmp(specs[k].name, "attn.W2") == 0 ? fmax(mx, w1max) : mx);
        const double tol = strncmp(specs[k].name, "attn.", 5) == 0 ? 1e-3 : 1e-4;
        for (size_t j = 0; j < specs[k].count; j++) {
            const double d = fabs((double)g1[off + j] - g2[off + j]);
            worst = fmax(worst, d / fmax(fabs(g2[off + j]), floor));
        }
        if (worst > tol || getenv("GRAD_VERBOSE"))
            print_message("%s L=%d E=%d H=%d C=%d W=%d %-18s worst relative difference %.2e\n",
                          rnn_cell_name(cell), layers, embed, hidden, bt.C, cfg.attn_window,
                          specs[k].name, worst);
        assert_true(worst <= tol);
        assert_true(mx > 0);
        off += specs[k].count;
    }
    free(bt.cols);
    rnn_trainer_free(tr);
    rnn_learn_free(ln);
    rnn_model_free(m);
}

static void check_trainer(rnn_cell cell, int layers, int embed, int hidden, unsigned conds,
                          int look)
{
    check_trainer_cfg(config(cell, layers, embed, hidden, conds, look));
}

static void test_trainer_parity(void **state)
{
    (void)state;
    for (int c = 0; c < RNN_CELL_COUNT; c++) {
        check_trainer((rnn_cell)c, 1, 0, 8, 0, 0);
        check_trainer((rnn_cell)c, 2, 16, 24, RNN_COND_ALL, 0);
        check_trainer((rnn_cell)c, 3, 0, 20, RNN_COND_METRIC, 1);
        check_trainer((rnn_cell)c, 4, 8, 12, RNN_COND_ALL, 1);
    }
}

/* with attention: the trainer's window is the phrase, its ring empty at
 * the start (rnn_trainer_reset_state), as the learner's */
static void test_trainer_parity_attention(void **state)
{
    (void)state;
    for (int c = 0; c < RNN_CELL_COUNT; c++) {
        check_trainer_cfg(config_attn((rnn_cell)c, 1, 0, 8, 0, 0, 4, 6));
        check_trainer_cfg(config_attn((rnn_cell)c, 2, 16, 24, RNN_COND_ALL, 0, 32, 16));
        check_trainer_cfg(config_attn((rnn_cell)c, 2, 0, 20, RNN_COND_METRIC, 1, 3, 12));
        check_trainer_cfg(config_attn((rnn_cell)c, 3, 8, 17, RNN_COND_ALL, 1, 6, 9));
    }
}

/* ------------------------------------------------------------------------ */
/* (3) core/net on the model the learner writes */

/* Three updates of the learner on a batch, then core/net steps the model
 * it writes through each phrase from its reset state (attention ring
 * empty): the same mean NLL within 1e-4 of it. */
static void check_net(const rnn_model *m)
{
    const rnn_model_config cfg = *rnn_model_get_config(m);
    char err[256];
    rnn_learn *ln = rnn_learn_create(m, B, T, err, sizeof err);
    if (!ln) fail_msg("%s", err);
    batch bt;
    make_batch(&bt, cfg.vocab, rnn_learn_columns(ln), 5);
    rnn_learn_options o;
    rnn_learn_options_default(&o);
    for (int i = 0; i < 3; i++)
        assert_true(rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T) > 0);
    const double mine = mean_nll(ln, &bt);

    const rnn_meta meta[] = {{"name", "learned"}};
    rnn_model *lm = rnn_learn_model(ln, meta, 1, err, sizeof err);
    if (!lm) fail_msg("%s", err);
    assert_string_equal(rnn_model_meta(lm, "name"), "learned");
    rnn_net *net = rnn_net_create(lm, err, sizeof err);
    if (!net) fail_msg("%s", err);
    const int C = rnn_learn_columns(ln);
    double sum = 0;
    long n = 0;
    for (int b = 0; b < B; b++) {
        rnn_net_reset(net);
        for (int t = 0; t < T; t++) {
            const int r = t * B + b;
            const float *lg = rnn_net_step_cond(net, bt.in[r], C ? bt.cols + (size_t)r * C : NULL);
            if (bt.tg[r] < 0) continue;
            double mx = lg[0], s = 0;
            for (int k = 1; k < cfg.vocab; k++)
                mx = fmax(mx, lg[k]);
            for (int k = 0; k < cfg.vocab; k++)
                s += exp(lg[k] - mx);
            sum += mx + log(s) - lg[bt.tg[r]];
            n++;
        }
    }
    assert_true(fabs(sum / (double)n - mine) <= 1e-4 * mine);
    rnn_net_free(net);
    rnn_model_free(lm);
    free(bt.cols);
    rnn_learn_free(ln);
}

static void test_net_parity(void **state)
{
    (void)state;
    const rnn_model_config cfgs[] = {
        config(RNN_CELL_LSTM, 2, 8, 16, RNN_COND_ALL, 1),
        config_attn(RNN_CELL_LSTM, 2, 8, 16, RNN_COND_ALL, 1, 4, 8),
        config_attn(RNN_CELL_GRU, 1, 0, 12, 0, 0, 32, 5),
        config_attn(RNN_CELL_RNN, 2, 6, 9, RNN_COND_METRIC, 0, 2, 16),
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        rnn_model *m = make_model(&cfgs[i], 77 + i, 0.3f);
        check_net(m);
        rnn_model_free(m);
    }
}

/* ------------------------------------------------------------------------ */
/* the optimiser */

static void test_update(void **state)
{
    (void)state;
    const rnn_model_config cfg = config(RNN_CELL_GRU, 2, 0, 16, RNN_COND_METRIC, 0);
    rnn_model *m = make_model(&cfg, 3, 0.3f);
    char err[256];
    rnn_learn *ln = rnn_learn_create(m, B, T, err, sizeof err);
    if (!ln) fail_msg("%s", err);
    batch bt;
    make_batch(&bt, cfg.vocab, rnn_learn_columns(ln), 8);
    rnn_learn_options o;
    rnn_learn_options_default(&o);
    o.lr = 1e-2f;
    o.radius = 0.5f;
    const double before = mean_nll(ln, &bt);
    double first = 0;
    for (int i = 0; i < 20; i++) {
        const double l = rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T);
        if (i == 0) first = l;
        assert_true(l > 0);
        assert_true(rnn_learn_distance(ln) <= 0.5 * (1 + 1e-5));
    }
    assert_true(fabs(first - before) <= 1e-6 * before);
    assert_int_equal(rnn_learn_steps(ln), 20);
    const double after = mean_nll(ln, &bt);
    assert_true(after < 0.8 * before);

    /* a small radius binds: the distance is exactly the bound */
    rnn_learn_forget(ln);
    o.radius = 1e-3f;
    for (int i = 0; i < 5; i++)
        rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T);
    assert_true(fabs(rnn_learn_distance(ln) - 1e-3) <= 1e-6);

    /* accept keeps the weights reached; reject comes back to them */
    const size_t P = rnn_learn_num_params(ln);
    float *kept = malloc(P * sizeof *kept);
    assert_non_null(kept);
    rnn_learn_accept(ln);
    memcpy(kept, rnn_learn_params(ln), P * sizeof *kept);
    for (int i = 0; i < 3; i++)
        rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T);
    assert_int_equal(rnn_learn_steps(ln), 8);
    assert_memory_not_equal(rnn_learn_params(ln), kept, P * sizeof *kept);
    rnn_learn_reject(ln);
    assert_int_equal(rnn_learn_steps(ln), 5);
    assert_memory_equal(rnn_learn_params(ln), kept, P * sizeof *kept);
    /* and the optimiser goes on from there as if the rejected steps never ran */
    rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T);
    memcpy(kept, rnn_learn_params(ln), P * sizeof *kept);
    rnn_learn_reject(ln);
    rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T);
    assert_memory_equal(rnn_learn_params(ln), kept, P * sizeof *kept);
    free(kept);

    /* Forget: the starting weights, bit for bit, and the count zeroed */
    rnn_learn_forget(ln);
    assert_int_equal(rnn_learn_steps(ln), 0);
    assert_memory_equal(rnn_learn_params(ln), rnn_learn_start(ln),
                        rnn_learn_num_params(ln) * sizeof(float));
    assert_true(rnn_learn_distance(ln) == 0.0);
    assert_true(mean_nll(ln, &bt) == before);

    /* bad shapes change nothing */
    assert_true(rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B + 1, T) == -1);
    assert_true(rnn_learn_step(ln, &o, bt.in, bt.cols, bt.tg, B, T + 1) == -1);
    assert_int_equal(rnn_learn_steps(ln), 0);
    free(bt.cols);
    rnn_learn_free(ln);
    rnn_model_free(m);
}

/* Presets with attention made by PyTorch (tests/golden, a melody LSTM and
 * a drum GRU): learned on, and what core/net makes of the result is still
 * the learner's. */
static void test_golden_attention(void **state)
{
    (void)state;
    const char *files[] = {"tests/golden/attn_lstm_e16_l2.rnnw",
                           "tests/golden/attn_drums_gru_e8_l1.rnnw"};
    for (int i = 0; i < 2; i++) {
        char err[256];
        rnn_model *m = rnn_model_load(files[i], err, sizeof err);
        if (!m) fail_msg("%s", err);
        assert_true(rnn_model_get_config(m)->attn_window > 0);
        check_net(m);
        rnn_model_free(m);
    }
    rnn_learn_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_rnn),
        cmocka_unit_test(test_fd_lstm),
        cmocka_unit_test(test_fd_gru),
        cmocka_unit_test(test_trainer_parity),
        cmocka_unit_test(test_trainer_parity_attention),
        cmocka_unit_test(test_net_parity),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_golden_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
