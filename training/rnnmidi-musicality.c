/* SPDX-License-Identifier: MIT */
/* rnnmidi-musicality: how much what a preset plays is like real music.
 *
 *   rnnmidi-musicality --model FILE.rnnw [options] PATH...
 *   rnnmidi-musicality --kind melody|drums --vs-split test [options] PATH...
 *
 * From a zero state the preset plays --seeds takes of --bars bars (4/4),
 * sampled as rnnmidi-gen samples (core net and sampler, temperature 1,
 * top-p 0.95 unless told otherwise); then, primed by the first --primer-bars
 * bars of the longest line of each test-split file, it continues each for
 * --bars bars. The features of training/musicality.h, per 4-bar window, are
 * printed beside those of the real windows of a split of the MIDI files
 * given (split by file sha256, as the trainer splits), with the overlap of
 * the two distributions. Real windows are 4 whole 4/4 bars of a sequence,
 * bars placed by the file's time signatures. Without --model, a second real
 * split (--vs-split) takes the generated music's place.
 *
 * A conditioned preset hears at each step what the trainer gave it, through
 * the trainer's own functions (training/dataset.h): a zero-state take the
 * metric position of a 4/4 grid from bar 0 (the step before it at the end
 * of a bar, as rnnmidi-gen has it) and no harmony, since no one plays
 * along; a primed take, for primer and continuation alike, the metric
 * position of the file's own steps and, for melody, the harmony of the
 * file's other voices, none where the file's line has ended. The chord
 * tones of a primed take are counted against that same harmony; with
 * --no-harmony the net hears none, so the two runs tell what the harmony
 * input brings.
 *
 * Output: a header line (two, and a third naming the conditions of a
 * conditioned preset), one line per feature
 *   FEATURE  GENERATED  OVERLAP  PRIMED  OVERLAP  REAL
 * ('-' where a value is undefined: chord_tones needs a harmony, which a
 * zero-state take has not), and the mean overlap over the features other
 * than chord_tones. Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/condition.h"
#include "../core/encoding.h"
#include "../core/midifile.h"
#include "../core/model.h"
#include "../core/net.h"
#include "../core/sample.h"
#include "cli.h"
#include "dataset.h"
#include "musicality.h"

static const char *prog = "rnnmidi-musicality";

static int bad_usage(const char *fmt, const char *arg)
{
    return rnn_cli_usage_error(prog, NULL, fmt, arg);
}

/* A test-split line kept to prime a take: its events, harmony and the
 * file's meter map, which places its steps and those after it. */
typedef struct {
    int32_t *events;
    uint16_t *harmony; /* NULL for drums */
    size_t len, first_bar;
    int64_t start_step; /* of events[0] in the file */
    rnn_midi_meter *meters;
    size_t n_meters;
    int ppq;
} primer;

typedef struct {
    rnn_kind kind;
    int spq;
    int split, vs_split;  /* vs_split -1: none */
    rnn_mus_set real, vs; /* the real split, and the other one */
    primer *primers;      /* test-split lines (with a model) */
    size_t n_primers;
    size_t files[RNN_SPLITS];
} corpus;

/* The first bar line of a sequence and which of its bars are whole 4/4 bars. */
static size_t place_bars(const rnn_midi_file *mf, int spq, const rnn_seq *q, unsigned char **ok,
                         size_t *n_ok)
{
    const size_t bar = 4 * (size_t)spq;
    size_t first = q->len;
    for (size_t i = 0; i < q->len && i < 64 * bar; i++) {
        rnn_metric_pos p;
        if (rnn_cond_metric_file(mf->meters, mf->n_meters, mf->ppq, spq, q->start_step + (int64_t)i,
                                 &p) == 0 &&
            p.bar_start) {
            first = i;
            break;
        }
    }
    *n_ok = first < q->len ? (q->len - first) / bar : 0;
    *ok = calloc(*n_ok ? *n_ok : 1, 1);
    if (!*ok) return (size_t)-1;
    for (size_t b = 0; b < *n_ok; b++) {
        rnn_metric_pos p0, p1;
        int64_t s = q->start_step + (int64_t)(first + b * bar);
        if (rnn_cond_metric_file(mf->meters, mf->n_meters, mf->ppq, spq, s, &p0) ||
            rnn_cond_metric_file(mf->meters, mf->n_meters, mf->ppq, spq, s + (int64_t)bar - 1, &p1))
            continue;
        (*ok)[b] = p0.bar_start && p0.num == 4 && p0.den == 4 && p1.num == 4 && p1.den == 4 &&
                   p1.beat_in_bar == 3 && p1.step_in_beat == spq - 1;
    }
    return first;
}

static void primer_free(primer *x)
{
    free(x->events);
    free(x->harmony);
    free(x->meters);
}

static int keep_primer(corpus *c, const rnn_midi_file *mf, const rnn_seq *q,
                       const uint16_t *harmony, size_t first)
{
    primer *p = realloc(c->primers, (c->n_primers + 1) * sizeof *p);
    if (!p) return -1;
    c->primers = p;
    primer *x = &p[c->n_primers];
    *x = (primer){.len = q->len,
                  .first_bar = first,
                  .start_step = q->start_step,
                  .n_meters = mf->n_meters,
                  .ppq = mf->ppq};
    x->events = malloc(q->len * sizeof *x->events);
    x->harmony = harmony ? malloc(q->len * sizeof *x->harmony) : NULL;
    x->meters = malloc((mf->n_meters ? mf->n_meters : 1) * sizeof *x->meters);
    if (!x->events || (harmony && !x->harmony) || !x->meters) {
        primer_free(x);
        return -1;
    }
    memcpy(x->events, q->events, q->len * sizeof *x->events);
    if (harmony) memcpy(x->harmony, harmony, q->len * sizeof *x->harmony);
    if (mf->n_meters) memcpy(x->meters, mf->meters, mf->n_meters * sizeof *x->meters);
    c->n_primers++;
    return 0;
}

/* One file: its sequences into the real set(s), its longest line into the
 * primers when it is a test file. Returns 0, 1 (skipped: reported), -1 (out of memory). */
static int load_file(corpus *c, const char *path, int want_primers, int quiet)
{
    char why[512];
    size_t size;
    unsigned char *data = rnn_midi_slurp(path, &size, why, sizeof why);
    rnn_midi_file mf;
    if (!data || rnn_midi_read(data, size, path, &mf, why, sizeof why) != 0) {
        free(data);
        if (!quiet) fprintf(stderr, "%s: skipped %s\n", prog, why);
        return 1;
    }
    const int split = (int)rnn_split_of_bytes(data, size);
    free(data);
    rnn_mus_set *set = split == c->split ? &c->real : split == c->vs_split ? &c->vs : NULL;
    const int prime = want_primers && split == RNN_SPLIT_TEST;
    if (!set && !prime) {
        rnn_midi_free(&mf);
        return 0;
    }
    rnn_seq_list l = {0};
    if (rnn_encode(c->kind, mf.notes, mf.n_notes, mf.ppq, c->spq, &l, why, sizeof why) != 0) {
        if (!quiet) fprintf(stderr, "%s: skipped %s: %s\n", prog, path, why);
        rnn_midi_free(&mf);
        return 1;
    }
    c->files[split]++;
    int rc = 0;
    size_t longest = 0;
    for (size_t i = 0; i < l.count; i++)
        if (l.seqs[i].len > l.seqs[longest].len) longest = i;
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        const rnn_seq *q = &l.seqs[i];
        uint16_t *harmony = NULL;
        unsigned char *ok = NULL;
        size_t n_ok;
        if (c->kind == RNN_KIND_MELODY) {
            harmony = malloc(q->len * sizeof *harmony);
            if (!harmony || rnn_cond_harmony_file(mf.notes, mf.n_notes, mf.ppq, c->spq, q, harmony,
                                                  why, sizeof why) != 0) {
                free(harmony);
                rc = -1;
                break;
            }
        }
        size_t first = place_bars(&mf, c->spq, q, &ok, &n_ok);
        if (first == (size_t)-1)
            rc = -1;
        else if (set && first < q->len &&
                 rnn_mus_set_add(set, q->events, q->len, first, ok, harmony) < 0)
            rc = -1;
        else if (prime && i == longest && first < q->len &&
                 keep_primer(c, &mf, q, harmony, first) != 0)
            rc = -1;
        free(ok);
        free(harmony);
    }
    rnn_seq_list_free(&l);
    rnn_midi_free(&mf);
    return rc;
}

static void print_value(double v)
{
    if (isnan(v))
        printf(" %9s", "-");
    else
        printf(" %9.4f", v);
}

typedef struct {
    const char *model_path;
    double seeds, bars, primer_bars, temperature, top_p;
    int split, vs_split, quiet, have_kind, no_harmony;
    rnn_kind kind;
    const char **paths; /* malloc'ed by parse_options, room for argc */
    size_t n_paths;
} options;

/* Returns -1 when the tool should go on, else the exit status. o->paths is
 * malloc'ed (room for argc) even on failure. */
static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.seeds = 10,
                   .bars = 32,
                   .primer_bars = 4,
                   .temperature = 1.0,
                   .top_p = 0.95,
                   .split = RNN_SPLIT_TRAIN,
                   .vs_split = -1,
                   .kind = RNN_KIND_MELODY};
    int kind_seen = 0;
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("model", 0, "FILE", "the preset", RNN_OPT_STRING, &o->model_path)},
        {RNN_CLI_OPT("seeds", 0, "N", "zero-state takes, seeds 1..N", RNN_OPT_DOUBLE, &o->seeds), 0,
         10000, .show_default = 1},
        {RNN_CLI_OPT("bars", 0, "B", "bars of 4/4 per take", RNN_OPT_DOUBLE, &o->bars), 4, 10000,
         .show_default = 1},
        {RNN_CLI_OPT("primer-bars", 0, "P", "bars of each test file that prime a take (0: none)",
                     RNN_OPT_DOUBLE, &o->primer_bars),
         0, 1000, .show_default = 1},
        {RNN_CLI_OPT("temperature", 0, "T", "sampling temperature", RNN_OPT_DOUBLE,
                     &o->temperature),
         0, 100, .show_default = 1},
        {RNN_CLI_OPT("top-p", 0, "P", "nucleus of probability P", RNN_OPT_DOUBLE, &o->top_p), 0, 1,
         .show_default = 1},
        {RNN_CLI_OPT("split", 0, "NAME", "the real split: train, valid or test (train)",
                     RNN_OPT_CALL, &o->split),
         .set = rnn_cli_set_split},
        {RNN_CLI_OPT("kind", 0, "KIND", "without --model: melody or drums", RNN_OPT_KIND, &o->kind),
         .seen = &kind_seen},
        {RNN_CLI_OPT("vs-split", 0, "NAME",
                     "without --model: a real split in place of the preset's music", RNN_OPT_CALL,
                     &o->vs_split),
         .set = rnn_cli_set_split},
        {RNN_CLI_OPT("no-harmony", 0, NULL,
                     "a preset that takes the harmony hears none in primed\n"
                     "takes (chord tones still count against the file's)",
                     RNN_OPT_FLAG, &o->no_harmony),
         1},
        {RNN_CLI_OPT("quiet", 0, NULL, "no report of unreadable files", RNN_OPT_FLAG, &o->quiet),
         1},
        RNN_CLI_HELP_OPT(0),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-musicality --model FILE.rnnw [options] PATH...\n"
        "       rnnmidi-musicality --kind melody|drums --vs-split NAME [options] PATH...\n"
        "Features of 4-bar windows of a preset's music beside those of real MIDI files.\n",
        opts, sizeof opts / sizeof opts[0], NULL, 1};
    o->paths = malloc((size_t)argc * sizeof *o->paths);
    if (!o->paths) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_INPUT;
    }
    int rc = rnn_cli_args(prog, NULL, &spec, argc, argv, o->paths, (size_t)argc, &o->n_paths);
    if (rc != RNN_CLI_GO_ON) return rc;
    o->have_kind = kind_seen;
    if (!o->model_path && (!o->have_kind || o->vs_split < 0))
        return bad_usage("%s", "give --model FILE.rnnw, or --kind and --vs-split");
    if (o->model_path && (o->have_kind || o->vs_split >= 0))
        return bad_usage("%s", "--kind and --vs-split are for comparing two real splits, "
                               "without --model");
    if (o->vs_split == o->split)
        return bad_usage("%s", "--vs-split names the same split as --split");
    if (o->n_paths == 0) return bad_usage("%s", "give at least one MIDI file or folder");
    return -1;
}

/* The preset and what plays it, as rnnmidi-gen has them. */
typedef struct {
    rnn_model *model;
    const rnn_model_config *cfg;
    rnn_net *net;
    rnn_sampler *sampler;
    int V, C;       /* vocabulary, condition and lookback columns */
    int harmony_on; /* 0: the harmony columns stay zero (--no-harmony) */
    float cond[RNN_MAX_INPUT_COLUMNS];
    rnn_lookback_ring *look; /* the take's events so far, for a lookback preset */
} player;

/* Where a run of steps lies: the meter map that places them (none: 4/4),
 * the grid step of the first, and the harmony of the first n_harmony
 * (none after them, or at all when harmony is NULL). */
typedef struct {
    const rnn_midi_meter *meters;
    size_t n_meters;
    int ppq;
    int64_t first_step;
    const uint16_t *harmony;
    size_t n_harmony;
    int before; /* the 'no event' step before a take (rnn_grid_columns' step -1) */
} placing;

/* Start a take: the zero state, nothing heard. */
static void fresh(player *pl)
{
    rnn_net_reset(pl->net);
    if (pl->look) rnn_lookback_clear(pl->look);
}

/* Feed event e of step t of a placing, with the step's conditions and
 * lookback columns as the trainer computes them when the preset takes any;
 * the net's logits. */
static const float *step_at(player *pl, int e, const placing *g, size_t t)
{
    const float *cols = rnn_grid_columns(
        g->meters, g->n_meters, g->ppq, pl->harmony_on ? g->harmony : NULL, g->first_step,
        g->n_harmony, pl->cfg, g->before ? -1 : g->first_step + (int64_t)t, e, pl->look, pl->cond);
    return rnn_net_step_cond(pl->net, e, cols);
}

/* Sample steps events after logits into out, the net stepping on each at
 * its place in g. */
static void play(player *pl, const placing *g, rnn_rng *rng, const float *logits,
                 double temperature, double top_p, int32_t *out, size_t steps)
{
    for (size_t t = 0; t < steps; t++) {
        int e = rnn_sample(pl->sampler, rng, logits, pl->V, (float)temperature, (float)top_p, NULL);
        if (e < 0) e = 0;
        out[t] = e;
        logits = step_at(pl, e, g, t);
    }
}

static void player_free(player *pl)
{
    rnn_sampler_free(pl->sampler);
    rnn_net_free(pl->net);
    rnn_model_free(pl->model);
    free(pl->look);
}

static int player_load(player *pl, const char *path, rnn_kind *kind, int *spq)
{
    char err[512];
    pl->model = rnn_model_load(path, err, sizeof err);
    if (!pl->model) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    const rnn_model_config *cfg = rnn_model_get_config(pl->model);
    *kind = cfg->kind;
    *spq = cfg->steps_per_quarter;
    pl->cfg = cfg;
    pl->V = cfg->vocab;
    pl->C = rnn_model_input_columns(cfg);
    pl->net = rnn_net_create(pl->model, err, sizeof err);
    pl->sampler = pl->net ? rnn_sampler_create(pl->V) : NULL;
    pl->look = cfg->lookback ? calloc(1, sizeof *pl->look) : NULL;
    if (pl->net && pl->sampler && cfg->lookback && !pl->look) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    if (!pl->net || !pl->sampler || rnn_net_probe(pl->net, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, pl->net && !pl->sampler ? "out of memory" : err);
        return -1;
    }
    return 0;
}

static void corpus_free(corpus *c)
{
    rnn_mus_set_free(&c->real);
    rnn_mus_set_free(&c->vs);
    for (size_t i = 0; i < c->n_primers; i++)
        primer_free(&c->primers[i]);
    free(c->primers);
}

/* The real windows of the files, and the primers when a preset will play. */
static int corpus_load(corpus *c, const options *o, int want_primers)
{
    char err[512];
    char **files;
    size_t n_files;
    if (rnn_dataset_list(o->paths, o->n_paths, &files, &n_files, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n_files && rc == 0; i++)
        if (load_file(c, files[i], want_primers, o->quiet) < 0) {
            fprintf(stderr, "%s: out of memory\n", prog);
            rc = -1;
        }
    rnn_dataset_list_free(files, n_files);
    if (rc == 0 && c->real.windows == 0) {
        fprintf(stderr, "%s: no 4-bar window of 4/4 %s in the %s split of the files given\n", prog,
                rnn_kind_name(c->kind), rnn_split_name((rnn_split)c->split));
        rc = -1;
    }
    return rc;
}

/* Any tick rate places the steps of a file without meters (4/4 throughout). */
#define ZERO_STATE_PPQ 480

/* Takes from a zero state, seeds 1..N, into gen. */
static int zero_state_takes(player *pl, const options *o, size_t steps, int32_t *take,
                            rnn_mus_set *gen)
{
    const placing grid = {.ppq = ZERO_STATE_PPQ};
    const placing before = {.ppq = ZERO_STATE_PPQ, .before = 1};
    for (long s = 1; s <= (long)o->seeds; s++) {
        rnn_rng rng;
        rnn_rng_seed(&rng, (uint64_t)s);
        fresh(pl);
        play(pl, &grid, &rng, step_at(pl, 0, &before, 0), o->temperature, o->top_p, take, steps);
        if (rnn_mus_set_add(gen, take, steps, 0, NULL, NULL) < 0) return -1;
    }
    return 0;
}

/* Takes primed by each test file's first bars (primer i plays with seed
 * i + 1), into primed; the harmony under a continuation is the file's own
 * where the file's line goes on, none after it, and its metric position
 * the file's. Returns the takes, or -1. */
static long primed_takes(player *pl, const options *o, const corpus *c, size_t steps, int32_t *take,
                         rnn_mus_set *primed)
{
    const size_t bar = 4 * (size_t)c->spq;
    uint16_t *under = c->kind == RNN_KIND_MELODY ? calloc(steps, sizeof *under) : NULL;
    if (c->kind == RNN_KIND_MELODY && !under) return -1;
    long takes = 0;
    for (size_t i = 0; i < c->n_primers && takes >= 0; i++) {
        const primer *p = &c->primers[i];
        const size_t k = p->first_bar + (size_t)o->primer_bars * bar;
        if (k > p->len) continue;
        rnn_rng rng;
        rnn_rng_seed(&rng, (uint64_t)(i + 1));
        fresh(pl);
        const placing own = {p->meters, p->n_meters, p->ppq, p->start_step, p->harmony, p->len, 0};
        const placing after = {p->meters,
                               p->n_meters,
                               p->ppq,
                               p->start_step + (int64_t)k,
                               p->harmony ? p->harmony + k : NULL,
                               p->len - k,
                               0};
        const float *logits = NULL;
        for (size_t t = 0; t < k; t++)
            logits = step_at(pl, p->events[t], &own, t);
        play(pl, &after, &rng, logits, o->temperature, o->top_p, take, steps);
        for (size_t t = 0; under && t < steps; t++)
            under[t] = k + t < p->len ? p->harmony[k + t] : 0;
        takes = rnn_mus_set_add(primed, take, steps, 0, NULL, under) < 0 ? -1 : takes + 1;
    }
    free(under);
    return takes;
}

/* The conditions a preset hears, on one line. */
static void print_conditions(const rnn_model_config *cfg, int harmony_on)
{
    const int harmony = (cfg->conditions & RNN_COND_HARMONY) != 0;
    printf("%s: conditions: %s%s%s\n", prog, cfg->conditions & RNN_COND_METRIC ? "metric" : "",
           cfg->conditions & RNN_COND_METRIC && harmony ? "," : "",
           !harmony     ? ""
           : harmony_on ? "harmony (the test files' own in primed takes)"
                        : "harmony (zeroed: --no-harmony)");
}

/* One line per feature: each side's mean and its overlap with the real
 * split, then the real mean; the mean overlap leaves chord_tones out. */
static void print_table(const corpus *c, const rnn_mus_set *side0, const char *name0,
                        const rnn_mus_set *primed)
{
    printf("%-14s %9s %9s %9s %9s %9s\n", "feature", name0, "overlap", "primed", "overlap",
           rnn_split_name((rnn_split)c->split));
    double sum[2] = {0, 0};
    int n_sum[2] = {0, 0};
    for (int f = 0; f < rnn_mus_feature_count(c->kind); f++) {
        const rnn_mus_set *side[2] = {side0, primed};
        printf("%-14s", rnn_mus_feature_name(c->kind, f));
        for (int k = 0; k < 2; k++) {
            double ov = rnn_mus_overlap(side[k]->values[f], side[k]->count[f], c->real.values[f],
                                        c->real.count[f]);
            print_value(rnn_mus_set_mean(side[k], f));
            print_value(ov);
            if (!isnan(ov) && !rnn_mus_feature_needs_harmony(c->kind, f)) {
                sum[k] += ov;
                n_sum[k]++;
            }
        }
        print_value(rnn_mus_set_mean(&c->real, f));
        printf("\n");
    }
    printf("%-14s %9s", "mean_overlap", "");
    print_value(n_sum[0] ? sum[0] / n_sum[0] : NAN);
    printf(" %9s", "");
    print_value(n_sum[1] ? sum[1] / n_sum[1] : NAN);
    printf("\n");
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) {
        free(o.paths);
        return rc;
    }
    rc = EXIT_INPUT;

    player pl = {0};
    int spq = RNN_DEFAULT_STEPS_PER_QUARTER;
    rnn_kind kind = o.kind;
    pl.harmony_on = !o.no_harmony;
    if (o.model_path && player_load(&pl, o.model_path, &kind, &spq) != 0) {
        player_free(&pl);
        free(o.paths);
        return EXIT_INPUT;
    }
    corpus c = {.kind = kind, .spq = spq, .split = o.split, .vs_split = o.vs_split};
    rnn_mus_set gen, primed;
    rnn_mus_set_init(&c.real, kind, spq);
    rnn_mus_set_init(&c.vs, kind, spq);
    rnn_mus_set_init(&gen, kind, spq);
    rnn_mus_set_init(&primed, kind, spq);
    const size_t bar = 4 * (size_t)spq, steps = (size_t)o.bars * bar;
    int32_t *take = NULL;
    long primed_count = 0;
    if (corpus_load(&c, &o, pl.model != NULL && o.primer_bars > 0) != 0) goto done;
    if (pl.model) {
        take = malloc(steps * sizeof *take);
        if (!take || zero_state_takes(&pl, &o, steps, take, &gen) != 0 ||
            (primed_count = primed_takes(&pl, &o, &c, steps, take, &primed)) < 0) {
            fprintf(stderr, "%s: out of memory\n", prog);
            goto done;
        }
    }

    printf("%s: %s, windows of %d bars of 4/4 (%zu steps a bar); real: %s split, %zu windows "
           "of %zu files\n",
           prog, rnn_kind_name(kind), RNN_MUS_WINDOW_BARS, bar, rnn_split_name((rnn_split)o.split),
           c.real.windows, c.files[o.split]);
    if (pl.model) {
        printf("%s: generated: %ld takes of %zu bars from a zero state (%zu windows); primed: %ld "
               "test files, %g bars each (%zu windows)\n",
               prog, (long)o.seeds, steps / bar, gen.windows, primed_count, o.primer_bars,
               primed.windows);
        if (pl.cfg->conditions) print_conditions(pl.cfg, pl.harmony_on);
        if (pl.cfg->lookback)
            printf("%s: lookback: the events one and two bars back\n", prog);
        print_table(&c, &gen, "generated", &primed);
    } else {
        printf("%s: compared: %s split, %zu windows of %zu files\n", prog,
               rnn_split_name((rnn_split)o.vs_split), c.vs.windows, c.files[o.vs_split]);
        print_table(&c, &c.vs, rnn_split_name((rnn_split)o.vs_split), &primed);
    }
    rc = EXIT_OK;
done:
    free(take);
    rnn_mus_set_free(&gen);
    rnn_mus_set_free(&primed);
    corpus_free(&c);
    player_free(&pl);
    free(o.paths);
    return rc;
}
