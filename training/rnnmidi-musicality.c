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
 * Output: a header line, one line per feature
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

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE.rnnw [options] PATH...\n"
            "       %s --kind melody|drums --vs-split NAME [options] PATH...\n"
            "Features of 4-bar windows of a preset's music beside those of real MIDI files.\n"
            "  --model FILE       the preset\n"
            "  --seeds N          zero-state takes, seeds 1..N (10)\n"
            "  --bars B           bars of 4/4 per take (32)\n"
            "  --primer-bars P    bars of each test file that prime a take (4; 0: none)\n"
            "  --temperature T    sampling temperature (1.0)\n"
            "  --top-p P          nucleus of probability P (0.95)\n"
            "  --split NAME       the real split: train, valid or test (train)\n"
            "  --kind KIND        without --model: melody or drums\n"
            "  --vs-split NAME    without --model: a real split in place of the preset's music\n"
            "  --quiet            no report of unreadable files\n"
            "  --help             this text\n",
            prog, prog);
}

static int bad_usage(const char *fmt, const char *arg)
{
    return rnn_cli_usage_error(prog, NULL, fmt, arg);
}

/* A test-split line kept to prime a take: its events and harmony. */
typedef struct {
    int32_t *events;
    uint16_t *harmony; /* NULL for drums */
    size_t len, first_bar;
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

static int keep_primer(corpus *c, const rnn_seq *q, const uint16_t *harmony, size_t first)
{
    primer *p = realloc(c->primers, (c->n_primers + 1) * sizeof *p);
    if (!p) return -1;
    c->primers = p;
    primer *x = &p[c->n_primers];
    x->events = malloc(q->len * sizeof *x->events);
    x->harmony = harmony ? malloc(q->len * sizeof *x->harmony) : NULL;
    if (!x->events || (harmony && !x->harmony)) {
        free(x->events);
        free(x->harmony);
        return -1;
    }
    memcpy(x->events, q->events, q->len * sizeof *x->events);
    if (harmony) memcpy(x->harmony, harmony, q->len * sizeof *x->harmony);
    x->len = q->len;
    x->first_bar = first;
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
        else if (prime && i == longest && first < q->len && keep_primer(c, q, harmony, first) != 0)
            rc = -1;
        free(ok);
        free(harmony);
    }
    rnn_seq_list_free(&l);
    rnn_midi_free(&mf);
    return rc;
}

/* Sample steps events after logits into out (the net steps on each). */
static void play(rnn_net *net, rnn_sampler *sampler, rnn_rng *rng, const float *logits, int V,
                 double temperature, double top_p, int32_t *out, size_t steps)
{
    for (size_t t = 0; t < steps; t++) {
        int e = rnn_sample(sampler, rng, logits, V, (float)temperature, (float)top_p, NULL);
        if (e < 0) e = 0;
        out[t] = e;
        logits = rnn_net_step(net, e);
    }
}

static void print_value(double v)
{
    if (isnan(v))
        printf(" %9s", "-");
    else
        printf(" %9.4f", v);
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    const char *model_path = NULL;
    double seeds = 10, bars = 32, primer_bars = 4, temperature = 1.0, top_p = 0.95;
    int split = RNN_SPLIT_TRAIN, vs_split = -1, quiet = 0, have_kind = 0;
    rnn_kind kind = RNN_KIND_MELODY;
    static const char *paths[256];
    size_t n_paths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (rnn_cli_is_help(a)) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            if (!v) return bad_usage("unknown option or missing value: '%s'", a);
            i++;
            if (!strcmp(a, "--model"))
                model_path = v;
            else if (!strcmp(a, "--seeds")) {
                if (rnn_cli_double(v, 0, 10000, &seeds))
                    return bad_usage("--seeds '%s' is not in 0..10000", v);
            } else if (!strcmp(a, "--bars")) {
                if (rnn_cli_double(v, 4, 10000, &bars))
                    return bad_usage("--bars '%s' is not in 4..10000", v);
            } else if (!strcmp(a, "--primer-bars")) {
                if (rnn_cli_double(v, 0, 1000, &primer_bars))
                    return bad_usage("--primer-bars '%s' is not in 0..1000", v);
            } else if (!strcmp(a, "--temperature")) {
                if (rnn_cli_double(v, 0, 100, &temperature))
                    return bad_usage("--temperature '%s' is not in 0..100", v);
            } else if (!strcmp(a, "--top-p")) {
                if (rnn_cli_double(v, 0, 1, &top_p))
                    return bad_usage("--top-p '%s' is not in 0..1", v);
            } else if (!strcmp(a, "--split")) {
                if ((split = rnn_split_parse(v)) < 0)
                    return bad_usage("unknown split '%s' (train, valid or test)", v);
            } else if (!strcmp(a, "--vs-split")) {
                if ((vs_split = rnn_split_parse(v)) < 0)
                    return bad_usage("unknown split '%s' (train, valid or test)", v);
            } else if (!strcmp(a, "--kind")) {
                if (rnn_cli_kind(v, &kind))
                    return bad_usage("unknown kind '%s' (melody or drums)", v);
                have_kind = 1;
            } else
                return bad_usage("unknown option '%s'", a);
        } else {
            if (n_paths == sizeof paths / sizeof paths[0]) return bad_usage("%s", "too many paths");
            paths[n_paths++] = a;
        }
    }
    if (!model_path && (!have_kind || vs_split < 0))
        return bad_usage("%s", "give --model FILE.rnnw, or --kind and --vs-split");
    if (model_path && (have_kind || vs_split >= 0))
        return bad_usage("%s", "--kind and --vs-split are for comparing two real splits, "
                               "without --model");
    if (vs_split == split) return bad_usage("%s", "--vs-split names the same split as --split");
    if (n_paths == 0) return bad_usage("%s", "give at least one MIDI file or folder");

    char err[512];
    int rc = EXIT_INPUT;
    rnn_model *model = NULL;
    rnn_net *net = NULL;
    rnn_sampler *sampler = NULL;
    char **files = NULL;
    size_t n_files = 0;
    int32_t *take = NULL;
    int spq = RNN_DEFAULT_STEPS_PER_QUARTER, V = 0;
    if (model_path) {
        model = rnn_model_load(model_path, err, sizeof err);
        if (!model) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return EXIT_INPUT;
        }
        const rnn_model_config *cfg = rnn_model_get_config(model);
        kind = cfg->kind;
        spq = cfg->steps_per_quarter;
        V = cfg->vocab;
        net = rnn_net_create(model, err, sizeof err);
        sampler = net ? rnn_sampler_create(V) : NULL;
        if (!net || !sampler || rnn_net_probe(net, model_path, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, net && !sampler ? "out of memory" : err);
            goto done;
        }
    }
    corpus c = {.kind = kind, .spq = spq, .split = split, .vs_split = vs_split};
    rnn_mus_set_init(&c.real, kind, spq);
    rnn_mus_set_init(&c.vs, kind, spq);
    rnn_mus_set gen, primed;
    rnn_mus_set_init(&gen, kind, spq);
    rnn_mus_set_init(&primed, kind, spq);

    if (rnn_dataset_list(paths, n_paths, &files, &n_files, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto free_sets;
    }
    for (size_t i = 0; i < n_files; i++)
        if (load_file(&c, files[i], model != NULL && primer_bars > 0, quiet) < 0) {
            fprintf(stderr, "%s: out of memory\n", prog);
            goto free_sets;
        }
    if (c.real.windows == 0) {
        fprintf(stderr, "%s: no 4-bar window of 4/4 %s in the %s split of the files given\n", prog,
                rnn_kind_name(kind), rnn_split_name((rnn_split)split));
        goto free_sets;
    }

    const size_t bar = 4 * (size_t)spq, steps = (size_t)bars * bar;
    size_t primed_takes = 0;
    if (model) {
        take = malloc(steps * sizeof *take);
        if (!take) {
            fprintf(stderr, "%s: out of memory\n", prog);
            goto free_sets;
        }
        for (long s = 1; s <= (long)seeds; s++) {
            rnn_rng rng;
            rnn_rng_seed(&rng, (uint64_t)s);
            rnn_net_reset(net);
            play(net, sampler, &rng, rnn_net_step(net, 0), V, temperature, top_p, take, steps);
            if (rnn_mus_set_add(&gen, take, steps, 0, NULL, NULL) < 0) goto oom;
        }
        /* primed takes: the harmony under the continuation is the file's
         * own where the file's line goes on, none after it */
        uint16_t *under = kind == RNN_KIND_MELODY ? calloc(steps, sizeof *under) : NULL;
        if (kind == RNN_KIND_MELODY && !under) goto oom;
        for (size_t i = 0; i < c.n_primers; i++) {
            const primer *p = &c.primers[i];
            const size_t k = p->first_bar + (size_t)primer_bars * bar;
            if (k > p->len) continue;
            rnn_rng rng;
            rnn_rng_seed(&rng, (uint64_t)(i + 1));
            rnn_net_reset(net);
            const float *logits = NULL;
            for (size_t t = 0; t < k; t++)
                logits = rnn_net_step(net, p->events[t]);
            play(net, sampler, &rng, logits, V, temperature, top_p, take, steps);
            for (size_t t = 0; under && t < steps; t++)
                under[t] = k + t < p->len ? p->harmony[k + t] : 0;
            if (rnn_mus_set_add(&primed, take, steps, 0, NULL, under) < 0) {
                free(under);
                goto oom;
            }
            primed_takes++;
        }
        free(under);
    }

    const rnn_mus_set *other = model ? &gen : &c.vs;
    printf("%s: %s, windows of %d bars of 4/4 (%zu steps a bar); real: %s split, %zu windows "
           "of %zu files\n",
           prog, rnn_kind_name(kind), RNN_MUS_WINDOW_BARS, bar, rnn_split_name((rnn_split)split),
           c.real.windows, c.files[split]);
    if (model)
        printf("%s: generated: %ld takes of %zu bars from a zero state (%zu windows); primed: %zu "
               "test files, %g bars each (%zu windows)\n",
               prog, (long)seeds, steps / bar, gen.windows, primed_takes, primer_bars,
               primed.windows);
    else
        printf("%s: compared: %s split, %zu windows of %zu files\n", prog,
               rnn_split_name((rnn_split)vs_split), c.vs.windows, c.files[vs_split]);
    printf("%-14s %9s %9s %9s %9s %9s\n", "feature",
           model ? "generated" : rnn_split_name((rnn_split)vs_split), "overlap", "primed",
           "overlap", rnn_split_name((rnn_split)split));
    double sum[2] = {0, 0};
    int n_sum[2] = {0, 0};
    for (int f = 0; f < rnn_mus_feature_count(kind); f++) {
        const rnn_mus_set *side[2] = {other, &primed};
        printf("%-14s", rnn_mus_feature_name(kind, f));
        for (int k = 0; k < 2; k++) {
            double ov = rnn_mus_overlap(side[k]->values[f], side[k]->count[f], c.real.values[f],
                                        c.real.count[f]);
            print_value(rnn_mus_set_mean(side[k], f));
            print_value(ov);
            if (!isnan(ov) && !rnn_mus_feature_needs_harmony(kind, f)) {
                sum[k] += ov;
                n_sum[k]++;
            }
        }
        print_value(rnn_mus_set_mean(&c.real, f));
        printf("\n");
    }
    printf("%-14s %9s", "mean_overlap", "");
    print_value(n_sum[0] ? sum[0] / n_sum[0] : NAN);
    printf(" %9s", "");
    print_value(n_sum[1] ? sum[1] / n_sum[1] : NAN);
    printf("\n");
    rc = EXIT_OK;
    goto free_sets;
oom:
    fprintf(stderr, "%s: out of memory\n", prog);
free_sets:
    rnn_mus_set_free(&gen);
    rnn_mus_set_free(&primed);
    rnn_mus_set_free(&c.real);
    rnn_mus_set_free(&c.vs);
    for (size_t i = 0; i < c.n_primers; i++) {
        free(c.primers[i].events);
        free(c.primers[i].harmony);
    }
    free(c.primers);
done:
    free(take);
    rnn_dataset_list_free(files, n_files);
    rnn_sampler_free(sampler);
    rnn_net_free(net);
    rnn_model_free(model);
    return rc;
}
