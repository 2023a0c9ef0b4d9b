/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the batcher and the evaluation (contract in train.h).
 *
 * B lanes each walk through sequences window after window; a lane that
 * starts a sequence has its carried state zeroed in the trainer. A random
 * batcher shuffles the sequence order every pass, starts each sequence at a
 * random offset and may transpose it; an ordered one runs each sequence
 * whole, once. Its state (order, lanes, generator) goes into checkpoints.
 * For a conditioned model it also fills each window's condition columns
 * from the sequences' packed conditions (training/dataset.h), and for a
 * lookback model the lookback columns after them, from each sequence's own
 * events since its first step (transposed as the window is), with the bar
 * length of each step's meter (rnn_seq.bar). For a model with a
 * bidirectional encoder it fills each window's encoder rows from the
 * sequences' packed encoder inputs (rnn_seq.enc, drumify.h): row t is the
 * input of the step the window's row t predicts (the sequence's step
 * pos + t + 1), all zero where the window has no target. */
#include "dataset.h"
#include "drumify.h"
#include "train_impl.h"

#include "../core/lookback.h"

#include <string.h>

/* The events before a window that its lookback columns can reach: two of
 * the longest bar. */
#define LOOK_SPAN (2 * (size_t)RNN_LOOKBACK_MAX_BAR)

typedef struct {
    int32_t seq; /* -1: no sequence */
    int32_t k;   /* transposition */
    int64_t pos; /* first input of the next window */
} lane;

struct rnn_batcher {
    const rnn_seq_list *seqs;
    rnn_kind kind;
    int B, T, random, transpose;
    uint64_t rng;
    int32_t *order; /* shuffled (or plain) sequence order */
    size_t n, next; /* sequences, next place in order */
    lane *lanes;
    int32_t *scratch; /* a whole sequence, to check a transposition */
    int32_t *window;  /* T + 1 events */
    size_t maxlen;

    rnn_model_config cfg; /* its conditions, when set */
    int C;                /* condition and lookback columns, 0 = none */
    int C0;               /* the condition columns among them, first */
    float harmony_drop;
    float *cond;   /* (T, B, C) of the last window */
    float *enc;    /* (T, B, RNN_ENC_INPUT_COLUMNS) its encoder rows, with an encoder */
    int32_t *hist; /* lookback: the events a window looks back over, transposed */
};

static void shuffle(rnn_batcher *bt)
{
    for (size_t i = bt->n; i > 1; i--) {
        size_t j = (size_t)rng_below(&bt->rng, (long)i);
        int32_t t = bt->order[i - 1];
        bt->order[i - 1] = bt->order[j];
        bt->order[j] = t;
    }
}

rnn_batcher *rnn_batcher_create(const rnn_seq_list *seqs, rnn_kind kind, int B, int T, int random,
                                int transpose, uint64_t seed)
{
    if (B < 1 || T < 1) return NULL;
    rnn_batcher *bt = calloc(1, sizeof *bt);
    if (!bt) return NULL;
    bt->seqs = seqs;
    bt->kind = kind;
    bt->B = B;
    bt->T = T;
    bt->random = random;
    bt->transpose = kind == RNN_KIND_MELODY && transpose > 0 ? transpose : 0;
    bt->rng = seed ^ 0x0BA7C4E5ull;
    for (size_t i = 0; i < seqs->count; i++)
        if (seqs->seqs[i].len >= 2) bt->n++;
    for (size_t i = 0; i < seqs->count; i++)
        if (seqs->seqs[i].len > bt->maxlen) bt->maxlen = seqs->seqs[i].len;
    bt->order = xcalloc(bt->n, sizeof(int32_t));
    bt->lanes = xcalloc((size_t)B, sizeof(lane));
    bt->window = xcalloc((size_t)T + 1, sizeof(int32_t));
    bt->scratch = bt->transpose ? xcalloc(bt->maxlen, sizeof(int32_t)) : NULL;
    if (!bt->order || !bt->lanes || !bt->window || (bt->transpose && !bt->scratch) ||
        (random && bt->n == 0) || seqs->count > INT32_MAX) {
        rnn_batcher_free(bt);
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < seqs->count; i++)
        if (seqs->seqs[i].len >= 2) bt->order[j++] = (int32_t)i;
    if (random) shuffle(bt);
    for (int b = 0; b < B; b++)
        bt->lanes[b].seq = -1;
    return bt;
}

void rnn_batcher_free(rnn_batcher *bt)
{
    if (!bt) return;
    free(bt->order);
    free(bt->lanes);
    free(bt->scratch);
    free(bt->window);
    free(bt->cond);
    free(bt->hist);
    free(bt->enc);
    free(bt);
}

int rnn_batcher_set_conditions(rnn_batcher *bt, const rnn_model_config *cfg, float harmony_drop)
{
    const int C = rnn_model_input_columns(cfg);
    float *cond = C ? xcalloc((size_t)bt->T * bt->B * (size_t)C, sizeof(float)) : NULL;
    int32_t *hist = cfg->lookback ? xcalloc(LOOK_SPAN + (size_t)bt->T + 1, sizeof(int32_t)) : NULL;
    const size_t In = cfg->enc_layers > 0 ? (size_t)cfg->enc_inputs : 0;
    float *enc = In ? xcalloc((size_t)bt->T * bt->B * In, sizeof(float)) : NULL;
    if ((C && !cond) || (cfg->lookback && !hist) || (In && !enc)) {
        free(cond);
        free(hist);
        free(enc);
        return -1;
    }
    free(bt->cond);
    free(bt->hist);
    free(bt->enc);
    bt->cond = cond;
    bt->hist = hist;
    bt->enc = enc;
    bt->cfg = *cfg;
    bt->C = C;
    bt->C0 = rnn_model_cond_columns(cfg);
    bt->harmony_drop = harmony_drop;
    return 0;
}

const float *rnn_batcher_cond(const rnn_batcher *bt)
{
    return bt->C ? bt->cond : NULL;
}

const float *rnn_batcher_enc(const rnn_batcher *bt)
{
    return bt->enc;
}

/* The encoder rows of lane b's window: row t the input of step pos + t + 1
 * of s while the window has a target there (t + 1 < n), else zeros. */
static void lane_enc(rnn_batcher *bt, int b, const rnn_seq *s, int64_t pos, int n)
{
    const size_t In = (size_t)bt->cfg.enc_inputs;
    for (int t = 0; t < bt->T; t++) {
        float *row = bt->enc + ((size_t)t * bt->B + b) * In;
        if (s && s->enc && t + 1 < n)
            rnn_enc_code_row(s->enc[pos + t + 1], row);
        else
            memset(row, 0, In * sizeof *row);
    }
}

/* The lookback columns of lane b's window: the n inputs of sequence s from
 * pos, each over the sequence's events from its first step (the last
 * LOOK_SPAN before the window reach as far back as a bar can), transposed by
 * k as the window is. A sequence without bar lengths is in 4/4. */
static void lane_lookback(rnn_batcher *bt, int b, const rnn_seq *s, int64_t pos, int n, int k)
{
    const int B = bt->B, C = bt->C, spq = bt->cfg.steps_per_quarter;
    const int64_t first = pos > (int64_t)LOOK_SPAN ? pos - (int64_t)LOOK_SPAN : 0;
    const size_t held = (size_t)(pos - first) + (size_t)n;
    memcpy(bt->hist, s->events + first, held * sizeof(int32_t));
    if (k) rnn_transpose_melody(bt->hist, held, k); /* the whole sequence takes k */
    for (int t = 0; t < n && t < bt->T; t++) {
        const int bar = s->bar ? s->bar[pos + t] : rnn_lookback_bar_steps(4, 4, spq);
        rnn_lookback_fill(bt->cfg.kind, bt->hist, (size_t)(pos - first) + (size_t)t + 1, bar,
                          bt->cond + ((size_t)t * B + b) * C + bt->C0);
    }
}

/* The condition (and lookback) columns of lane b's window: n steps of
 * sequence s from pos, transposed by k, zero after them. */
static void lane_cond(rnn_batcher *bt, int b, const rnn_seq *s, int64_t pos, int n, int k)
{
    const int B = bt->B, T = bt->T, C = bt->C;
    int harmony_on = 1;
    /* only a harmony model draws, so the windows of the others stay as they were */
    if (bt->cfg.conditions & RNN_COND_HARMONY)
        harmony_on = bt->random ? rng_uniform(&bt->rng) >= bt->harmony_drop : bt->harmony_drop < 1;
    /* the input of step t hears the conditions of step t + 1, whose event it
     * predicts (RNN_COND_NEXT), or of its own (earlier models) */
    const int ahead = (bt->cfg.conditions & RNN_COND_NEXT) != 0;
    for (int t = 0; t < T; t++) {
        float *cols = bt->cond + ((size_t)t * B + b) * C;
        if (t + ahead < n && s && s->cond)
            rnn_cond_code_columns(s->cond[pos + t + ahead], &bt->cfg, k, harmony_on, cols);
        else
            memset(cols, 0, (size_t)C * sizeof *cols);
    }
    if (bt->cfg.lookback && s) lane_lookback(bt, b, s, pos, n, k);
}

/* Give lane b its next sequence; 0 when an ordered batcher has none left. */
static int lane_start(rnn_batcher *bt, lane *ln)
{
    if (bt->next >= bt->n) {
        if (!bt->random) {
            ln->seq = -1;
            return 0;
        }
        shuffle(bt);
        bt->next = 0;
    }
    ln->seq = bt->order[bt->next++];
    ln->pos = 0;
    ln->k = 0;
    if (!bt->random) return 1;
    const rnn_seq *s = &bt->seqs->seqs[ln->seq];
    long room = (long)s->len - 1;
    ln->pos = rng_below(&bt->rng, room < bt->T ? room : bt->T);
    if (bt->transpose) {
        int k = (int)rng_below(&bt->rng, 2L * bt->transpose + 1) - bt->transpose;
        if (k != 0) {
            memcpy(bt->scratch, s->events, s->len * sizeof(int32_t));
            if (rnn_transpose_melody(bt->scratch, s->len, k) == 0) ln->k = k;
        }
    }
    return 1;
}

long rnn_batcher_next(rnn_batcher *bt, rnn_trainer *tr, int32_t *inputs, int32_t *targets)
{
    const int B = bt->B, T = bt->T;
    long counted = 0;
    for (int b = 0; b < B; b++) {
        lane *ln = &bt->lanes[b];
        if (ln->seq < 0 || ln->pos + 1 >= (int64_t)bt->seqs->seqs[ln->seq].len) {
            if (ln->seq < 0 && !bt->random && bt->next >= bt->n) {
                /* an exhausted ordered lane stays idle */
            } else {
                lane_start(bt, ln);
                if (tr) rnn_trainer_reset_lane(tr, b);
            }
        }
        if (ln->seq < 0) {
            for (int t = 0; t < T; t++) {
                inputs[(size_t)t * B + b] = 0;
                targets[(size_t)t * B + b] = -1;
            }
            if (bt->C) lane_cond(bt, b, NULL, 0, 0, 0);
            if (bt->enc) lane_enc(bt, b, NULL, 0, 0);
            continue;
        }
        const rnn_seq *s = &bt->seqs->seqs[ln->seq];
        int64_t avail = (int64_t)s->len - ln->pos; /* events from pos */
        int n = avail > T + 1 ? T + 1 : (int)avail;
        memcpy(bt->window, s->events + ln->pos, (size_t)n * sizeof(int32_t));
        if (ln->k) rnn_transpose_melody(bt->window, (size_t)n, ln->k);
        if (bt->C) lane_cond(bt, b, s, ln->pos, n, ln->k);
        if (bt->enc) lane_enc(bt, b, s, ln->pos, n);
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)t * B + b;
            inputs[r] = t < n ? bt->window[t] : 0;
            targets[r] = t + 1 < n ? bt->window[t + 1] : -1;
            counted += t + 1 < n;
        }
        ln->pos += T;
    }
    return counted;
}

#define BATCHER_MAGIC 0x42544348u

size_t rnn_batcher_state_size(const rnn_batcher *bt)
{
    return 5 * sizeof(uint64_t) + bt->n * sizeof(int32_t) + (size_t)bt->B * sizeof(lane);
}

void rnn_batcher_state_save(const rnn_batcher *bt, void *dst)
{
    uint64_t head[5] = {BATCHER_MAGIC, bt->n, (uint64_t)bt->B, bt->rng, bt->next};
    unsigned char *p = dst;
    memcpy(p, head, sizeof head);
    p += sizeof head;
    memcpy(p, bt->order, bt->n * sizeof(int32_t));
    p += bt->n * sizeof(int32_t);
    memcpy(p, bt->lanes, (size_t)bt->B * sizeof(lane));
}

int rnn_batcher_state_load(rnn_batcher *bt, const void *src, size_t size)
{
    if (size != rnn_batcher_state_size(bt)) return -1;
    uint64_t head[5];
    memcpy(head, src, sizeof head);
    if (head[0] != BATCHER_MAGIC || head[1] != bt->n || head[2] != (uint64_t)bt->B ||
        head[4] > bt->n)
        return -1;
    const unsigned char *p = (const unsigned char *)src + sizeof head;
    int32_t *order = malloc(bt->n ? bt->n * sizeof(int32_t) : 1);
    lane *lanes = malloc((size_t)bt->B * sizeof(lane));
    if (!order || !lanes) {
        free(order);
        free(lanes);
        return -1;
    }
    memcpy(order, p, bt->n * sizeof(int32_t));
    memcpy(lanes, p + bt->n * sizeof(int32_t), (size_t)bt->B * sizeof(lane));
    for (size_t i = 0; i < bt->n; i++)
        if (order[i] < 0 || (size_t)order[i] >= bt->seqs->count) goto bad;
    for (int b = 0; b < bt->B; b++)
        if (lanes[b].seq >= (int32_t)bt->seqs->count || lanes[b].seq < -1 || lanes[b].pos < 0 ||
            lanes[b].k < -127 || lanes[b].k > 127)
            goto bad;
    memcpy(bt->order, order, bt->n * sizeof(int32_t));
    memcpy(bt->lanes, lanes, (size_t)bt->B * sizeof(lane));
    bt->next = (size_t)head[4];
    bt->rng = head[3];
    free(order);
    free(lanes);
    return 0;
bad:
    free(order);
    free(lanes);
    return -1;
}

double rnn_trainer_evaluate(rnn_trainer *tr, const rnn_seq_list *seqs, rnn_kind kind,
                            double *accuracy, long *steps)
{
    const size_t TB = (size_t)tr->T * tr->B;
    rnn_batcher *bt = rnn_batcher_create(seqs, kind, tr->B, tr->T, 0, 0, 0);
    if (bt && rnn_batcher_set_conditions(bt, &tr->cfg, 0.0f)) {
        rnn_batcher_free(bt);
        bt = NULL;
    }
    int32_t *in = malloc(TB * sizeof(int32_t)), *tg = malloc(TB * sizeof(int32_t));
    double nll = 0;
    long n = 0, hit = 0;
    const int Bg = tr->Bg, b0 = tr->b0; /* a lane slice evaluates on its own lanes */
    tr->Bg = tr->B;
    tr->b0 = 0;
    if (bt && in && tg) {
        rnn_trainer_reset_state(tr);
        while (rnn_batcher_next(bt, tr, in, tg) > 0) {
            long c = 0, h = 0;
            nll += rnn_trainer_forward_enc(tr, in, rnn_batcher_cond(bt), rnn_batcher_enc(bt), tg, 0,
                                           &c, &h);
            n += c;
            hit += h;
        }
    }
    tr->count = 0;
    tr->Bg = Bg;
    tr->b0 = b0;
    rnn_batcher_free(bt);
    free(in);
    free(tg);
    if (accuracy) *accuracy = n ? (double)hit / n : 0;
    if (steps) *steps = n;
    return n ? nll / n : -1;
}
