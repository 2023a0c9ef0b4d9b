/* SPDX-License-Identifier: MIT */
/* rnnmidi-learn: replay MIDI files as if a player played them live, learn
 * their style as the plugin's Learn does, and print the learning curve.
 *
 *   rnnmidi-learn --model FILE.rnnw [--minutes M] [--bars N] [--dev PATH]...
 *                 [--split NAME] PATH...
 *
 * The files' sequences (the player's lines on the preset's grid, each step
 * with the conditions and lookback columns the engine computes, as
 * rnnmidi-eval feeds them) are played one after another at --bpm. Every
 * --bars bars of new material, core/learn (the plain C learner the plugin
 * runs) makes --steps AdamW updates on windows of what was heard, half of
 * them ending in the new bars, but for the newest --holdout bars: the
 * update is kept only when it predicts those no worse than before (the
 * plugin's validation on a held-back slice of the player's phrases), else
 * undone (--guard spread and --anchor try other checks, README's table).
 * After each update the tool prints the NLL of
 * the next --next minutes of the replay (not heard yet) under the preset
 * and under the learned weights, and the learned weights' NLL on the test
 * split of the --dev paths (what it may forget), all computed by rnn_net
 * step by step as rnnmidi-eval does. The last line compares the preset
 * and the learned model after --minutes. Exit status: 0 success, 1 bad
 * input, 2 bad usage. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/learn.h"
#include "../core/model.h"
#include "../core/net.h"
#include "cli.h"
#include "dataset.h"

static const char *prog = "rnnmidi-learn";

#define MAX_DEV 64

typedef struct {
    const char *model, *out, *svg;
    const char **paths;
    size_t n_paths;
    const char *dev[MAX_DEV];
    int n_dev;
    int split;
    double minutes, next, bpm;
    int bars, steps, batch, window, holdout;
    int spread; /* the held-back bars: 0 the newest, 1 the last of every update's bars */
    int anchor; /* the held-back check also against the preset, which it falls back to */
    rnn_learn_options opt;
    uint64_t seed;
    int quiet;
} learn_args;

static int set_guard(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    if (strcmp(value, "newest") != 0 && strcmp(value, "spread") != 0) {
        snprintf(msg, msglen, "unknown guard '%s' (newest or spread)", value);
        return -1;
    }
    *(int *)row->target = strcmp(value, "spread") == 0;
    return 0;
}

/* a->paths is malloc'ed (room for argc) even on failure. */
static int parse_args(learn_args *a, int argc, char **argv)
{
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("model", 0, "FILE", "the preset to start from", RNN_OPT_STRING, &a->model)},
        {RNN_CLI_OPT("split", 0, "NAME",
                     "replay only files of this split, train, valid or test (the\n"
                     "trainer's sha256 rule); default all",
                     RNN_OPT_CALL, &a->split),
         .set = rnn_cli_set_split},
        {RNN_CLI_OPT("minutes", 0, "M", "minutes of the replay to learn from", RNN_OPT_DOUBLE,
                     &a->minutes),
         0.01, 600, .show_default = 1},
        {RNN_CLI_OPT("next", 0, "M",
                     "minutes after the point reached, measured before they\n"
                     "are heard",
                     RNN_OPT_DOUBLE, &a->next),
         0.01, 600, .show_default = 1},
        {RNN_CLI_OPT("bpm", 0, "BPM", "the replay's tempo", RNN_OPT_DOUBLE, &a->bpm), 20, 400,
         .show_default = 1},
        {RNN_CLI_OPT("bars", 0, "N", "an update after every N new bars (of 4 quarters)",
                     RNN_OPT_INT, &a->bars),
         1, 1000, .show_default = 1},
        {RNN_CLI_OPT("steps", 0, "N", "AdamW steps per update", RNN_OPT_INT, &a->steps), 1, 10000,
         .show_default = 1},
        {RNN_CLI_OPT("holdout", 0, "N",
                     "the newest N bars are held back from an update, which is\n"
                     "kept only when it does not predict them worse (0: always kept)",
                     RNN_OPT_INT, &a->holdout),
         0, 1000, .show_default = 1},
        {RNN_CLI_OPT("guard", 0, "WHICH",
                     "which bars are held back: newest (the newest --holdout bars,\n"
                     "trained on by the next update) or spread (the last --holdout\n"
                     "bars of every update's --bars, never trained on; the check\n"
                     "reads up to --batch of them spread over the whole replay)\n"
                     "(newest)",
                     RNN_OPT_CALL, &a->spread),
         .set = set_guard},
        {RNN_CLI_OPT("anchor", 0, NULL,
                     "the check also compares with the preset: an update is kept\n"
                     "only when it predicts the held-back bars no worse than the\n"
                     "preset too, and weights worse there than the preset are\n"
                     "forgotten",
                     RNN_OPT_FLAG, &a->anchor),
         1},
        {RNN_CLI_OPT("batch", 0, "B", "windows per AdamW step", RNN_OPT_INT, &a->batch), 1, 256,
         .show_default = 1},
        {RNN_CLI_OPT("window", 0, "T", "grid steps per window", RNN_OPT_INT, &a->window), 2, 4096,
         .show_default = 1},
        {RNN_CLI_OPT("lr", 0, "X", "Adam's step size", RNN_OPT_FLOAT, &a->opt.lr), 0, 1,
         .show_default = 1},
        {RNN_CLI_OPT("radius", 0, "X",
                     "how far the weights may move: ||w - w0|| / ||w0|| at most\n"
                     "X (the plugin's learn rate)",
                     RNN_OPT_FLOAT, &a->opt.radius),
         0, 10, .show_default = 1},
        {RNN_CLI_OPT("pull", 0, "X", "decay towards the preset's weights, per unit of --lr",
                     RNN_OPT_FLOAT, &a->opt.pull),
         0, 1000, .show_default = 1},
        {RNN_CLI_OPT("dev", 0, "PATH",
                     "a MIDI file or folder whose test split measures what the\n"
                     "model forgets (repeatable)",
                     RNN_OPT_LIST, a->dev),
         0, MAX_DEV, .count = &a->n_dev},
        {RNN_CLI_OPT("seed", 0, "N", "the draw of the windows", RNN_OPT_U64, &a->seed), 0,
         (double)INT64_MAX, .show_default = 1},
        {RNN_CLI_OPT("out", 0, "FILE", "write the learned preset here", RNN_OPT_STRING, &a->out)},
        {RNN_CLI_OPT("svg", 0, "FILE", "draw the learning curve into this SVG file", RNN_OPT_STRING,
                     &a->svg)},
        {RNN_CLI_OPT("quiet", 0, NULL, "no report of unreadable files", RNN_OPT_FLAG, &a->quiet),
         1},
        RNN_CLI_HELP_OPT(0),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-learn --model FILE.rnnw [--minutes M] [--dev PATH]... PATH...\n"
        "Replay MIDI files as a player would play them, learn their style with the\n"
        "plugin's learner, and print the learning curve.\n",
        opts, sizeof opts / sizeof opts[0],
        "Prints one line per update (update minute heard_steps train_nll held_before\n"
        "held_after kept next_preset next_learned drop dev_learned dev_change distance\n"
        "seconds), then a result line.\n",
        1};
    a->paths = malloc((size_t)argc * sizeof *a->paths);
    if (!a->paths) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_INPUT;
    }
    int rc = rnn_cli_args(prog, NULL, &spec, argc, argv, a->paths, (size_t)argc, &a->n_paths);
    if (rc != RNN_CLI_GO_ON) return rc;
    if (!a->model) return rnn_cli_usage_error(prog, NULL, "%s", "--model FILE.rnnw is required");
    if (a->n_paths == 0)
        return rnn_cli_usage_error(prog, NULL, "%s", "give at least one MIDI file or folder");
    return RNN_CLI_GO_ON;
}

/* ------------------------------------------------------------------------ */
/* The replay: the sequences end to end, step g of the performance is step
 * g - start[k] of sequence k. */

typedef struct {
    const rnn_seq **seq;
    size_t *start;
    size_t n, total;
} timeline;

static int timeline_make(timeline *tl, const rnn_dataset *ds, int split)
{
    size_t n = 0;
    for (int s = 0; s < RNN_SPLITS; s++)
        if (split < 0 || s == split) n += ds->split[s].count;
    tl->seq = malloc((n ? n : 1) * sizeof *tl->seq);
    tl->start = malloc((n ? n : 1) * sizeof *tl->start);
    if (!tl->seq || !tl->start) return -1;
    tl->n = tl->total = 0;
    for (int s = 0; s < RNN_SPLITS; s++) {
        if (split >= 0 && s != split) continue;
        for (size_t q = 0; q < ds->split[s].count; q++) {
            tl->seq[tl->n] = &ds->split[s].seqs[q];
            tl->start[tl->n++] = tl->total;
            tl->total += ds->split[s].seqs[q].len;
        }
    }
    return 0;
}

static void timeline_free(timeline *tl)
{
    free(tl->seq);
    free(tl->start);
}

/* The sequence holding step g (< total). */
static size_t timeline_find(const timeline *tl, size_t g)
{
    size_t lo = 0, hi = tl->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tl->start[mid] <= g)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The input columns of step t of a sequence, as rnnmidi-eval gives them. */
static void step_columns(const rnn_seq *s, size_t t, const rnn_model_config *cfg, float *cols)
{
    if (rnn_model_input_columns(cfg) > 0) rnn_seq_columns(s, t, cfg, 1, cols);
}

/* ------------------------------------------------------------------------ */
/* Measures, by rnn_net step by step (the plugin's inference). */

typedef struct {
    double nll;
    long n;
} nll_sum;

/* Steps of s from the zero state; the predictions of targets t + 1 in
 * [from, to) are counted. */
static void seq_nll(rnn_net *net, const rnn_seq *s, size_t from, size_t to, nll_sum *m)
{
    const rnn_model_config *cfg = rnn_model_get_config(rnn_net_model(net));
    const int C = rnn_net_cond_columns(net), V = cfg->vocab;
    float cols[RNN_MAX_INPUT_COLUMNS];
    rnn_net_reset(net);
    for (size_t t = 0; t + 1 < s->len && t + 1 < to; t++) {
        step_columns(s, t, cfg, cols);
        const float *z = rnn_net_step_cond(net, s->events[t], C > 0 ? cols : NULL);
        if (t + 1 < from) continue;
        double mx = z[0], sum = 0;
        for (int k = 1; k < V; k++)
            mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < V; k++)
            sum += exp((double)z[k] - mx);
        m->nll += log(sum) + mx - (double)z[s->events[t + 1]];
        m->n++;
    }
}

/* Mean NLL of the performance's steps [g0, g1), each sequence run from its
 * start (the steps before g0 heard, not counted); -1 for none. */
static double range_nll(rnn_net *net, const timeline *tl, size_t g0, size_t g1)
{
    nll_sum m = {0, 0};
    if (g0 >= tl->total) return -1;
    for (size_t k = timeline_find(tl, g0); k < tl->n && tl->start[k] < g1; k++) {
        const size_t a = g0 > tl->start[k] ? g0 - tl->start[k] : 0;
        seq_nll(net, tl->seq[k], a, g1 - tl->start[k], &m);
    }
    return m.n ? m.nll / (double)m.n : -1;
}

/* Mean NLL over whole sequences (rnnmidi-eval's measure); -1 for none. */
static double list_nll(rnn_net *net, const rnn_seq_list *l)
{
    nll_sum m = {0, 0};
    for (size_t q = 0; q < l->count; q++)
        seq_nll(net, &l->seqs[q], 0, l->seqs[q].len, &m);
    return m.n ? m.nll / (double)m.n : -1;
}

/* ------------------------------------------------------------------------ */
/* An update: --steps AdamW steps, each on --batch windows of the steps heard
 * [0, heard), the first half of the windows ending in [fresh, heard). */

typedef struct {
    int32_t *in, *tg;
    float *cols;
    int B, T, C;
    uint64_t rng;
    size_t every, hold; /* spread guard: steps g with g % every >= every - hold are held back */
} batch_buf;

/* Step g is one of the spread guard's held-back steps. */
static int held_step(const batch_buf *bb, size_t g)
{
    return bb->hold > 0 && g % bb->every >= bb->every - bb->hold;
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Lane b: the window of T predictions whose last target is step g (global)
 * of the steps heard [0, heard), within its sequence; targets before step
 * count_from are not counted, nor the padding of a short window, nor (when
 * training) the spread guard's held-back steps. */
static void fill_lane(batch_buf *bb, int b, const timeline *tl, const rnn_model_config *cfg,
                      size_t g, size_t count_from, size_t heard, int training)
{
    const int T = bb->T, B = bb->B, C = bb->C;
    const size_t k = timeline_find(tl, g);
    const rnn_seq *s = tl->seq[k];
    const size_t at = tl->start[k];
    const size_t end = at + s->len < heard ? s->len : heard - at;
    const size_t last = g - at; /* the last target */
    const size_t t0 = last >= (size_t)T ? last - (size_t)T : 0;
    for (int t = 0; t < T; t++) {
        const size_t i = t0 + (size_t)t, r = (size_t)t * B + b;
        const int ok = i + 1 <= last && i + 1 < end;
        bb->in[r] = ok ? s->events[i] : 0;
        const int held = training && held_step(bb, at + i + 1);
        bb->tg[r] = ok && at + i + 1 >= count_from && !held ? s->events[i + 1] : -1;
        if (C > 0) {
            if (ok)
                step_columns(s, i, cfg, bb->cols + r * C);
            else
                memset(bb->cols + r * C, 0, (size_t)C * sizeof(float));
        }
    }
}

/* The held-back steps [h0, h1) as the targets of at most B windows: the
 * first ends at h1 - 1, each next one ends where the one before began (or
 * at the end of the sequence before); lanes left over count nothing. */
static void fill_held(batch_buf *bb, const timeline *tl, const rnn_model_config *cfg, size_t h0,
                      size_t h1)
{
    const size_t T = (size_t)bb->T;
    int b = 0;
    size_t g = h1; /* the windows so far count the targets [g, h1) */
    while (g > h0 && b < bb->B) {
        const size_t k = timeline_find(tl, g - 1), first = tl->start[k] + 1;
        if (g - 1 < first) { /* a sequence's first step is no target */
            g = tl->start[k];
            continue;
        }
        size_t from = g > T ? g - T : 0;
        from = from < first ? first : from;
        from = from < h0 ? h0 : from;
        fill_lane(bb, b++, tl, cfg, g - 1, from, h1, 0);
        g = from;
    }
    for (; b < bb->B; b++)
        for (size_t t = 0; t < T; t++) {
            bb->in[t * (size_t)bb->B + (size_t)b] = 0;
            bb->tg[t * (size_t)bb->B + (size_t)b] = -1;
        }
}

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double loss;         /* mean training NLL of the steps, -1 when none ran */
    double held0, held1; /* NLL of the held-back steps before and after, -1: none */
    int kept;            /* the update was kept */
} update_result;

/* The spread guard's check: one lane per update's held-back bars, for at
 * most B of the heard updates spread evenly from the first to the newest
 * (all of them while there are no more than B); the window of each ends
 * with its held-back steps, only those counted. */
static void fill_spread(batch_buf *bb, const timeline *tl, const rnn_model_config *cfg,
                        size_t heard)
{
    const size_t blocks = heard / bb->every, B = (size_t)bb->B;
    const size_t lanes = blocks < B ? blocks : B;
    for (size_t b = 0; b < B; b++) {
        if (b >= lanes) {
            for (size_t t = 0; t < (size_t)bb->T; t++) {
                bb->in[t * B + b] = 0;
                bb->tg[t * B + b] = -1;
            }
            continue;
        }
        const size_t k = lanes > 1 ? (b * (blocks - 1) + (lanes - 1) / 2) / (lanes - 1) : 0;
        const size_t end = (k + 1) * bb->every;
        fill_lane(bb, (int)b, tl, cfg, end - 1, end - bb->hold, heard, 0);
    }
}

/* The held-back steps' check of either guard into the batch. */
static void fill_check(batch_buf *bb, const timeline *tl, const rnn_model_config *cfg,
                       size_t train_end, size_t heard)
{
    if (bb->hold > 0)
        fill_spread(bb, tl, cfg, heard);
    else
        fill_held(bb, tl, cfg, train_end, heard);
}

/* An update after `heard` steps: the steps train on [0, train_end) (the
 * held-back bars after it; with the spread guard train_end = heard and the
 * held-back steps of every update are never targets), half the windows
 * ending in the new bars [fresh, train_end); kept when the held-back steps
 * are predicted no worse, else undone. With `preset` (--anchor, a learner
 * at the preset's weights) they must be predicted no worse than by the
 * preset too, and weights that were already worse there are forgotten. */
static update_result update(rnn_learn *ln, rnn_learn *preset, const learn_args *a, batch_buf *bb,
                            const timeline *tl, size_t fresh, size_t train_end, size_t heard)
{
    const rnn_model_config *cfg = rnn_learn_config(ln);
    update_result u = {-1, -1, -1, 1};
    const float *cols = bb->C ? bb->cols : NULL;
    const int check = bb->hold > 0 || train_end < heard;
    double held_preset = -1;
    if (check) {
        fill_check(bb, tl, cfg, train_end, heard);
        u.held0 = rnn_learn_nll(ln, bb->in, cols, bb->tg, bb->B, bb->T);
        if (preset) held_preset = rnn_learn_nll(preset, bb->in, cols, bb->tg, bb->B, bb->T);
    }
    double sum = 0;
    int n = 0;
    for (int s = 0; s < a->steps && train_end > 1; s++) {
        for (int b = 0; b < bb->B; b++) {
            const size_t lo = b < bb->B / 2 && fresh < train_end ? fresh : 0;
            size_t g = lo + next_u64(&bb->rng) % (train_end - lo);
            if (held_step(bb, g)) g -= g % bb->every - (bb->every - bb->hold - 1);
            fill_lane(bb, b, tl, cfg, g, 0, train_end, 1);
        }
        const double l = rnn_learn_step(ln, &a->opt, bb->in, cols, bb->tg, bb->B, bb->T);
        if (l >= 0) sum += l, n++;
    }
    u.loss = n ? sum / n : -1;
    if (u.held0 >= 0) {
        fill_check(bb, tl, cfg, train_end, heard);
        u.held1 = rnn_learn_nll(ln, bb->in, cols, bb->tg, bb->B, bb->T);
        u.kept = u.held1 >= 0 && u.held1 <= u.held0;
        if (held_preset >= 0 && u.held1 > held_preset) u.kept = 0;
    }
    if (u.kept)
        rnn_learn_accept(ln);
    else if (held_preset >= 0 && u.held0 > held_preset)
        rnn_learn_forget(ln); /* the weights before were worse than the preset too */
    else
        rnn_learn_reject(ln);
    return u;
}

/* ------------------------------------------------------------------------ */
/* The learning curve as a picture: per update, the NLL of the next minutes
 * under the preset and the learned weights, and the dev NLL. */

enum { CURVES = 3 };

typedef struct {
    double *minute, *y[CURVES]; /* next_preset, next_learned, dev_learned */
    int n;
    double dev0;
} curve;

/* A round step for about n ticks over a span. */
static double tick_step(double span, int n)
{
    const double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static int curve_svg(const curve *c, const char *path, const char *title, char *err, size_t errlen)
{
    static const char *names[CURVES] = {"next minutes, preset", "next minutes, learned",
                                        "development set, learned"};
    static const char *colors[CURVES] = {"#888888", "#1f6fb4", "#d9822b"};
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write", path);
        return -1;
    }
    const double W = 640, H = 360, L = 60, R = 20, T = 40, B = 50;
    double lo = c->dev0 > 0 ? c->dev0 : 1e30, hi = c->dev0 > 0 ? c->dev0 : -1e30;
    const double xmax = c->n ? c->minute[c->n - 1] : 1;
    for (int k = 0; k < CURVES; k++)
        for (int i = 0; i < c->n; i++)
            if (c->y[k][i] >= 0) lo = fmin(lo, c->y[k][i]), hi = fmax(hi, c->y[k][i]);
    if (hi <= lo) lo -= 0.5, hi += 0.5;
    const double ys = tick_step(hi - lo, 5);
    lo = floor(lo / ys) * ys, hi = ceil(hi / ys) * ys;
#define PX(x) (L + (x) / xmax * (W - L - R))
#define PY(y) (H - B - ((y)-lo) / (hi - lo) * (H - T - B))
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
            "height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"22\" font-size=\"14\">",
            W, H, L);
    for (const char *p = title; *p; p++)
        fputs(*p == '<' ? "&lt;" : *p == '&' ? "&amp;" : (char[2]){*p, 0}, f);
    fputs("</text>\n", f);
    for (double y = lo; y <= hi + ys / 2; y += ys)
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                L, W - R, PY(y), PY(y), L - 6, PY(y) + 4, y);
    const double xs = tick_step(xmax, 6);
    for (double x = 0; x <= xmax + xs / 100; x += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(x),
                H - B + 18, x);
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">minutes played</text>\n"
            "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
            "text-anchor=\"middle\">NLL (nats per step)</text>\n",
            (L + W - R) / 2, H - 12, (T + H - B) / 2, (T + H - B) / 2);
    if (c->dev0 > 0)
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-dasharray=\"4 4\"/>\n",
                L, W - R, PY(c->dev0), PY(c->dev0), colors[2]);
    for (int k = 0; k < CURVES; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[k]);
        for (int i = 0; i < c->n; i++)
            if (c->y[k][i] >= 0) fprintf(f, "%.1f,%.1f ", PX(c->minute[i]), PY(c->y[k][i]));
        fprintf(f,
                "\"/>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                W - R - 200, T + 4 + 16.0 * k, colors[k], W - R - 180, T + 9 + 16.0 * k, names[k]);
    }
#undef PX
#undef PY
    fputs("</svg>\n", f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */

typedef struct {
    rnn_model *model;
    rnn_net *net;
    rnn_learn *ln, *preset; /* preset: a learner that never moves (--anchor) */
    rnn_dataset replay, dev;
    timeline tl;
    batch_buf bb;
    curve cv;
} session;

static void session_free(session *s)
{
    rnn_learn_free(s->ln);
    rnn_learn_free(s->preset);
    rnn_net_free(s->net);
    rnn_model_free(s->model);
    rnn_dataset_free(&s->replay);
    rnn_dataset_free(&s->dev);
    timeline_free(&s->tl);
    free(s->bb.in);
    free(s->bb.tg);
    free(s->bb.cols);
    free(s->cv.minute);
    for (int k = 0; k < CURVES; k++)
        free(s->cv.y[k]);
}

/* The preset, its net and learner, the replay and the dev split. */
static int open_session(session *s, const learn_args *a, char *err, size_t errlen)
{
    s->model = rnn_model_load(a->model, err, errlen);
    if (!s->model) return -1;
    const rnn_model_config *cfg = rnn_model_get_config(s->model);
    s->net = rnn_net_create(s->model, err, errlen);
    if (!s->net || rnn_net_probe(s->net, a->model, err, errlen) != 0) return -1;
    s->ln = rnn_learn_create(s->model, a->batch, a->window, err, errlen);
    if (!s->ln) return -1;
    if (a->anchor && !(s->preset = rnn_learn_create(s->model, a->batch, a->window, err, errlen)))
        return -1;
    FILE *log = a->quiet ? NULL : stderr;
    if (rnn_dataset_load(&s->replay, a->paths, a->n_paths, cfg->kind, cfg->steps_per_quarter, log,
                         err, errlen) != 0)
        return -1;
    if (a->n_dev > 0 && rnn_dataset_load(&s->dev, a->dev, (size_t)a->n_dev, cfg->kind,
                                         cfg->steps_per_quarter, log, err, errlen) != 0)
        return -1;
    if (timeline_make(&s->tl, &s->replay, a->split) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->bb.B = a->batch, s->bb.T = a->window, s->bb.C = rnn_learn_columns(s->ln);
    s->bb.rng = a->seed;
    const size_t N = (size_t)a->batch * a->window;
    s->bb.in = malloc(N * sizeof *s->bb.in);
    s->bb.tg = malloc(N * sizeof *s->bb.tg);
    s->bb.cols = malloc(N * (size_t)(s->bb.C ? s->bb.C : 1) * sizeof *s->bb.cols);
    if (!s->bb.in || !s->bb.tg || !s->bb.cols) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* A net on the learned weights (its model in *model), or NULL. */
static rnn_net *learned_net(const rnn_learn *ln, rnn_model **model, char *err, size_t errlen)
{
    *model = rnn_learn_model(ln, NULL, 0, err, errlen);
    if (!*model) return NULL;
    rnn_net *net = rnn_net_create(*model, err, errlen);
    if (!net) {
        rnn_model_free(*model);
        *model = NULL;
    }
    return net;
}

static int write_learned(const session *s, const learn_args *a, char *err, size_t errlen)
{
    const char *name = rnn_model_meta(s->model, "name");
    char learned[256];
    snprintf(learned, sizeof learned, "%s-learned", name ? name : "preset");
    const rnn_meta meta[] = {{"name", learned}, {"learned_from", a->model}};
    rnn_model *m = rnn_learn_model(s->ln, meta, 2, err, errlen);
    if (!m) return -1;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(rnn_model_get_config(m), specs);
    const float *t[RNN_MAX_TENSORS];
    for (int i = 0; i < n; i++)
        t[i] = rnn_model_tensor(m, specs[i].name, NULL);
    const int rc = rnn_model_write(a->out, rnn_model_get_config(m), meta, 2, t, err, errlen);
    rnn_model_free(m);
    return rc;
}

/* The replay, an update every --bars bars, one line each; the result line. */
static int run(const learn_args *a)
{
    char err[512];
    session s;
    memset(&s, 0, sizeof s);
    if (open_session(&s, a, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        session_free(&s);
        return EXIT_INPUT;
    }
    const rnn_model_config *cfg = rnn_model_get_config(s.model);
    const double per_minute = a->bpm * cfg->steps_per_quarter;
    const size_t every = (size_t)a->bars * 4 * (size_t)cfg->steps_per_quarter;
    const size_t hold = (size_t)a->holdout * 4 * (size_t)cfg->steps_per_quarter;
    const size_t total = (size_t)(a->minutes * per_minute), ahead = (size_t)(a->next * per_minute);
    if (a->spread && hold >= every) {
        fprintf(stderr, "%s: --guard spread holds back --holdout %d of every --bars %d: fewer\n",
                prog, a->holdout, a->bars);
        session_free(&s);
        return EXIT_USAGE;
    }
    if (a->spread) s.bb.every = every, s.bb.hold = hold;
    if (s.tl.total < total + ahead) {
        fprintf(stderr,
                "%s: the replay holds %.2f minutes at %.0f bpm; --minutes %.2f and --next %.2f "
                "need %.2f\n",
                prog, (double)s.tl.total / per_minute, a->bpm, a->minutes, a->next,
                (double)(total + ahead) / per_minute);
        session_free(&s);
        return EXIT_INPUT;
    }
    const double dev0 = a->n_dev ? list_nll(s.net, &s.dev.split[RNN_SPLIT_TEST]) : -1;
    printf("preset %s: next_nll=%.4f dev_nll=%.4f steps_per_minute=%.0f update_every=%zu steps "
           "kernel=%s\n",
           a->model, range_nll(s.net, &s.tl, 0, ahead), dev0, per_minute, every,
           rnn_learn_kernel_name(s.ln));
    const size_t updates = total / every + 1;
    s.cv.minute = malloc(updates * sizeof(double));
    for (int k = 0; k < CURVES; k++)
        s.cv.y[k] = malloc(updates * sizeof(double));
    if (!s.cv.minute || !s.cv.y[0] || !s.cv.y[1] || !s.cv.y[2]) {
        fprintf(stderr, "%s: out of memory\n", prog);
        session_free(&s);
        return EXIT_INPUT;
    }
    s.cv.dev0 = dev0;
    double next0 = -1, next1 = -1, dev1 = -1;
    int u = 0, kept = 0;
    for (size_t heard = every; heard <= total; heard += every) {
        const double t0 = thread_seconds();
        const size_t train_end = a->spread ? heard : heard > hold ? heard - hold : 0;
        const update_result up =
            update(s.ln, s.preset, a, &s.bb, &s.tl, train_end > every ? train_end - every : 0,
                   train_end, heard);
        const double secs = thread_seconds() - t0;
        kept += up.kept;
        rnn_model *lm = NULL;
        rnn_net *ln = learned_net(s.ln, &lm, err, sizeof err);
        if (!ln) {
            fprintf(stderr, "%s: %s\n", prog, err);
            session_free(&s);
            return EXIT_INPUT;
        }
        next0 = range_nll(s.net, &s.tl, heard, heard + ahead);
        next1 = range_nll(ln, &s.tl, heard, heard + ahead);
        dev1 = a->n_dev ? list_nll(ln, &s.dev.split[RNN_SPLIT_TEST]) : -1;
        printf("update=%d minute=%.2f heard_steps=%zu train_nll=%.4f held_before=%.4f "
               "held_after=%.4f kept=%d next_preset=%.4f next_learned=%.4f drop=%.1f%% "
               "dev_learned=%.4f dev_change=%+.1f%% distance=%.4f seconds=%.3f\n",
               ++u, (double)heard / per_minute, heard, up.loss, up.held0, up.held1, up.kept, next0,
               next1, 100.0 * (next0 - next1) / next0, dev1,
               dev0 > 0 ? 100.0 * (dev1 - dev0) / dev0 : 0, rnn_learn_distance(s.ln), secs);
        fflush(stdout);
        s.cv.minute[s.cv.n] = (double)heard / per_minute;
        s.cv.y[0][s.cv.n] = next0, s.cv.y[1][s.cv.n] = next1, s.cv.y[2][s.cv.n++] = dev1;
        rnn_net_free(ln);
        rnn_model_free(lm);
    }
    if (u == 0) {
        fprintf(stderr, "%s: --minutes %.2f is shorter than --bars %d\n", prog, a->minutes,
                a->bars);
        session_free(&s);
        return EXIT_USAGE;
    }
    printf("result: after %.2f minutes, %d updates (%d kept): next %.2f minutes nll preset=%.4f "
           "learned=%.4f drop=%.1f%%; dev nll preset=%.4f learned=%.4f change=%+.1f%%\n",
           (double)(total / every * every) / per_minute, u, kept, a->next, next0, next1,
           100.0 * (next0 - next1) / next0, dev0, dev1,
           dev0 > 0 ? 100.0 * (dev1 - dev0) / dev0 : 0);
    int rc = EXIT_OK;
    char title[512];
    snprintf(title, sizeof title, "Learning %.0f s of replay into %s", a->minutes * 60, a->model);
    if (a->svg && curve_svg(&s.cv, a->svg, title, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = EXIT_INPUT;
    }
    if (a->out && write_learned(&s, a, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = EXIT_INPUT;
    }
    session_free(&s);
    return rc;
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    learn_args a = {.split = -1,
                    .minutes = 5,
                    .next = 2,
                    .bpm = 120,
                    .bars = 8,
                    .holdout = 2,
                    .steps = 8,
                    .batch = 8,
                    .window = 64,
                    .seed = 1};
    rnn_learn_options_default(&a.opt);
    int rc = parse_args(&a, argc, argv);
    if (rc == RNN_CLI_GO_ON) rc = run(&a);
    free(a.paths);
    return rc;
}
