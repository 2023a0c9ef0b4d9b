/* SPDX-License-Identifier: MIT */
/* rnnmidi-gen: a preset (and an optional primer) to a new MIDI file.
 *
 *   rnnmidi-gen --model FILE.rnnw [--primer FILE.mid] --bars N --temperature T
 *               --top-p P --seed S --tempo BPM --out OUT.mid
 *
 * The primer's longest sequence (as the trainer encodes it) is fed through
 * the net; then the net samples N bars of --meter (4/4) on its grid
 * (rnn_sample), which are decoded (rnn_decode) and written as a MIDI file.
 * The same seed gives the same file.
 *
 * A conditioned preset hears at each step what the trainer gave it: the
 * metric position of the step on the generated grid, and with --harmony
 * FILE.mid the harmony of that file's parts (every note outside the drum
 * channel sounding at the step). With --harmony the grid is the file's: its
 * time signatures, its first tempo, its length unless --bars is given; the
 * output holds the file's notes and the new line as a track of its own.
 * A lookback preset hears the events one and two bars back (bars of the
 * meter at each step) of the one sequence the primer and the new line make.
 *
 * With --attention-png FILE.png a preset with attention also draws the
 * generated passage's piano roll and, under it, the weights each step's
 * draw gave to the net's outputs of the steps before it
 * (training/attnplot.h); a preset without attention is refused before
 * anything is generated.
 * Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/condition.h"
#include "../core/encoding.h"
#include "../core/lookback.h"
#include "../core/midifile.h"
#include "../core/model.h"
#include "../core/net.h"
#include "../core/sample.h"
#include "attnplot.h"
#include "cli.h"
#include "dataset.h"

static const char *prog = "rnnmidi-gen";

/* The command line; the defaults are those of gen_args_default. */
typedef struct {
    const char *model, *primer, *out, *harmony, *attention_png;
    double bars, temperature, top_p, seed, tempo, velocity;
    rnn_midi_meter meter; /* --meter, at tick 0 */
    int bars_set;
} gen_args;

static const gen_args gen_args_default = {.bars = 8,
                                          .temperature = 1.0,
                                          .top_p = 0.95,
                                          .seed = 1,
                                          .tempo = 120,
                                          .velocity = 96,
                                          .meter = {0, 4, 4}};

/* "N/D": N 1..255 beats of 1/D notes, D a power of two 1..128 */
static int set_meter(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    rnn_midi_meter *m = row->target;
    char num[16], *slash = strchr(value, '/');
    long n, d;
    if (slash && (size_t)(slash - value) < sizeof num) {
        memcpy(num, value, (size_t)(slash - value));
        num[slash - value] = '\0';
        if (rnn_cli_long(num, 1, 255, &n) == 0 && rnn_cli_long(slash + 1, 1, 128, &d) == 0 &&
            (d & (d - 1)) == 0) {
            *m = (rnn_midi_meter){0, (int32_t)n, (int32_t)d};
            return 0;
        }
    }
    snprintf(msg, msglen, "--meter '%s' is not N/D (N 1..255, D a power of two up to 128)", value);
    return -1;
}

static int parse_args(gen_args *a, int argc, char **argv)
{
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("model", 0, "FILE", "the preset", RNN_OPT_STRING, &a->model)},
        {RNN_CLI_OPT("primer", 0, "FILE.mid", "music to continue (its longest line, or drum part)",
                     RNN_OPT_STRING, &a->primer)},
        {RNN_CLI_OPT("bars", 0, "N", "bars to generate (with --harmony: the file's length)",
                     RNN_OPT_DOUBLE, &a->bars),
         1, 10000, "--bars '%s' is not in 1..10000", .seen = &a->bars_set, .show_default = 1},
        {RNN_CLI_OPT("meter", 0, "N/D", "the meter of the generated bars (4/4)", RNN_OPT_CALL,
                     &a->meter),
         .set = set_meter},
        {RNN_CLI_OPT("harmony", 0, "FILE.mid",
                     "play over this file's parts: a conditioned preset\n"
                     "hears their harmony; the file's meter, tempo and\n"
                     "notes go into --out beside the new line",
                     RNN_OPT_STRING, &a->harmony)},
        {RNN_CLI_OPT("temperature", 0, "T", "sampling temperature, 0 = always the likeliest",
                     RNN_OPT_DOUBLE, &a->temperature),
         0, 100, "--temperature '%s' is not in 0..100", .show_default = 1},
        {RNN_CLI_OPT("top-p", 0, "P", "keep the likeliest classes up to probability P",
                     RNN_OPT_DOUBLE, &a->top_p),
         0, 1, "--top-p '%s' is not in 0..1", .show_default = 1},
        {RNN_CLI_OPT("seed", 0, "S", "random seed", RNN_OPT_DOUBLE, &a->seed), 0, 1e15,
         "--seed '%s' is not a number >= 0", .show_default = 1},
        {RNN_CLI_OPT("tempo", 0, "BPM", "tempo of the file", RNN_OPT_DOUBLE, &a->tempo), 10, 400,
         "--tempo '%s' is not in 10..400", .show_default = 1},
        {RNN_CLI_OPT("velocity", 0, "V", "note velocity 1..127", RNN_OPT_DOUBLE, &a->velocity), 1,
         127, "--velocity '%s' is not in 1..127", .show_default = 1},
        {RNN_CLI_OPT("out", 0, "OUT.mid", "the MIDI file to write", RNN_OPT_STRING, &a->out)},
        {RNN_CLI_OPT("attention-png", 0, "FILE.png",
                     "also draw the passage's piano roll and, under it,\n"
                     "the past steps each step attended to (a preset\n"
                     "with attention)",
                     RNN_OPT_STRING, &a->attention_png)},
        RNN_CLI_HELP_OPT(0),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-gen --model FILE.rnnw [--primer FILE.mid] [--harmony FILE.mid]\n"
        "                   [options] --out OUT.mid\n"
        "Generate music with a preset, optionally continuing a primer.\n",
        opts, sizeof opts / sizeof opts[0], NULL, 0};
    size_t npos;
    int rc = rnn_cli_args(prog, NULL, &spec, argc, argv, NULL, 0, &npos);
    if (rc != RNN_CLI_GO_ON) return rc;
    if (!a->model) return rnn_cli_usage_error(prog, NULL, "%s", "--model FILE.rnnw is required");
    if (!a->out) return rnn_cli_usage_error(prog, NULL, "%s", "--out OUT.mid is required");
    return RNN_CLI_GO_ON;
}

/* The grid the new line is generated on: its meters and ticks per quarter
 * (the --harmony file's, or --meter at tick 0), its length in steps, the
 * harmony of every step (the file's parts; zeros without a file) and the
 * tempo to write. */
typedef struct {
    rnn_midi_file mf; /* the --harmony file, zeroed without one */
    int have_file;
    const rnn_midi_meter *meters;
    size_t n_meters;
    int ppq;
    size_t len;
    uint16_t *harmony; /* len masks */
    double bpm;
} grid;

static void grid_free(grid *g)
{
    if (g->have_file) rnn_midi_free(&g->mf);
    free(g->harmony);
}

/* Steps of one bar of meter m at spq steps per quarter (at least 1). */
static size_t bar_steps(const rnn_midi_meter *m, int spq)
{
    const long n = (long)m->num * 4 * spq / m->den;
    return n > 0 ? (size_t)n : 1;
}

static int grid_load(grid *g, const gen_args *a, const rnn_model_config *cfg)
{
    char err[512];
    const int spq = cfg->steps_per_quarter;
    memset(g, 0, sizeof *g);
    g->meters = &a->meter;
    g->n_meters = 1;
    g->ppq = 480;
    g->bpm = a->tempo;
    g->len = (size_t)a->bars * bar_steps(&a->meter, spq);
    if (a->harmony) {
        if (rnn_midi_read_path(a->harmony, NULL, NULL, &g->mf, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return -1;
        }
        g->have_file = 1;
        g->meters = g->mf.meters;
        g->n_meters = g->mf.n_meters;
        g->ppq = g->mf.ppq;
        if (g->mf.n_tempos > 0 && g->mf.tempos[0].usec_per_quarter > 0)
            g->bpm = 60e6 / g->mf.tempos[0].usec_per_quarter;
        else
            g->bpm = 60e6 / RNN_MIDI_DEFAULT_TEMPO;
        if (!a->bars_set) {
            int64_t end = 0;
            for (size_t i = 0; i < g->mf.n_notes; i++)
                if (g->mf.notes[i].off > end) end = g->mf.notes[i].off;
            g->len = (size_t)((end * spq + g->ppq - 1) / g->ppq);
        } else {
            const rnn_midi_meter four = {0, 4, 4};
            g->len = (size_t)a->bars * bar_steps(g->n_meters ? &g->meters[0] : &four, spq);
        }
        if (g->len == 0) g->len = 1;
    }
    g->harmony = calloc(g->len, sizeof *g->harmony);
    if (!g->harmony) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    if (g->have_file) {
        /* no line of the file is the new one's: every part is the other voices */
        int32_t *silent = calloc(g->len, sizeof *silent);
        const rnn_seq line = {silent, g->len, 0, 0, 0, NULL, NULL, NULL};
        int rc = !silent || rnn_cond_harmony_file(g->mf.notes, g->mf.n_notes, g->ppq, spq, &line,
                                                  g->harmony, err, sizeof err) != 0;
        free(silent);
        if (rc) {
            fprintf(stderr, "%s: %s: %s\n", prog, a->harmony, silent ? err : "out of memory");
            return -1;
        }
    }
    return 0;
}

/* The columns of grid step `step` of g whose input is event e
 * (rnn_grid_columns; -1: the step before the first). */
static const float *grid_cond(const grid *g, const rnn_model_config *cfg, int64_t step, int e,
                              rnn_lookback_ring *look, float *cond)
{
    return rnn_grid_columns(g->meters, g->n_meters, g->ppq, g->harmony, 0, g->len, cfg, step, e,
                            look, cond);
}

/* Feed the primer's longest sequence (as the trainer encodes it) through the
 * net, with the metric position of its own steps in its file; without a
 * primer, one "no event" step before the grid. *logits: the net's answer. */
static int prime(rnn_net *net, const rnn_model_config *cfg, const grid *g, const char *primer,
                 rnn_lookback_ring *look, const float **logits)
{
    float cond[RNN_MAX_INPUT_COLUMNS];
    if (!primer) {
        *logits = rnn_net_step_cond(net, 0, grid_cond(g, cfg, -1, 0, look, cond));
        return 0;
    }
    char err[512];
    rnn_midi_file mf;
    if (rnn_midi_read_path(primer, NULL, NULL, &mf, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    rnn_seq_list primed = {0};
    int erc = rnn_encode(cfg->kind, mf.notes, mf.n_notes, mf.ppq, cfg->steps_per_quarter, &primed,
                         err, sizeof err);
    if (erc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, primer, err);
        rnn_midi_free(&mf);
        return -1;
    }
    if (primed.count == 0) {
        fprintf(stderr, "%s: %s: no %s line long enough to prime with (%d steps, %d notes)\n", prog,
                primer, rnn_kind_name(cfg->kind), RNN_MIN_SEQ_STEPS, RNN_MIN_SEQ_NOTES);
        rnn_seq_list_free(&primed);
        rnn_midi_free(&mf);
        return -1;
    }
    const rnn_seq *best = &primed.seqs[0];
    for (size_t i = 1; i < primed.count; i++)
        if (primed.seqs[i].len > best->len) best = &primed.seqs[i];
    const grid own = {.meters = mf.meters, .n_meters = mf.n_meters, .ppq = mf.ppq};
    for (size_t t = 0; t < best->len; t++)
        *logits = rnn_net_step_cond(
            net, best->events[t],
            grid_cond(&own, cfg, best->start_step + (int64_t)t, best->events[t], look, cond));
    rnn_seq_list_free(&primed);
    rnn_midi_free(&mf);
    return 0;
}

/* len events drawn one step at a time, each fed back into the net with the
 * conditions of its step. With weights (len rows of the attention window),
 * row t receives the attention weights of the net's step whose logits step
 * t is drawn from. */
static void sample_events(rnn_net *net, rnn_sampler *sampler, const rnn_model_config *cfg,
                          const grid *g, rnn_lookback_ring *look, const float *logits,
                          const gen_args *a, int32_t *events, size_t len, float *weights)
{
    float cond[RNN_MAX_INPUT_COLUMNS];
    rnn_rng rng;
    rnn_rng_seed(&rng, (uint64_t)a->seed);
    for (size_t t = 0; t < len; t++) {
        if (weights) {
            int n;
            const float *w = rnn_net_attn_weights(net, &n);
            memcpy(weights + t * (size_t)n, w, (size_t)n * sizeof *w);
        }
        int e = rnn_sample(sampler, &rng, logits, cfg->vocab, (float)a->temperature,
                           (float)a->top_p, NULL);
        if (e < 0) e = 0;
        events[t] = e;
        logits = rnn_net_step_cond(net, e, grid_cond(g, cfg, (int64_t)t, e, look, cond));
    }
}

/* The channel of the new line: drums on channel 10; a melody on the first
 * channel the --harmony file leaves free (0 without one). */
static int line_channel(const rnn_model_config *cfg, const grid *g)
{
    if (cfg->kind == RNN_KIND_DRUMS) return RNN_DRUMS_CHANNEL;
    int used[16] = {0};
    for (size_t i = 0; g->have_file && i < g->mf.n_notes; i++)
        used[g->mf.notes[i].channel & 15] = 1;
    for (int c = 0; c < 16; c++)
        if (c != RNN_DRUMS_CHANNEL && !used[c]) return c;
    return 0;
}

/* The events decoded to notes and written as a MIDI file: at 480 ppq, or
 * beside the --harmony file's notes, at its ppq, meters and first tempo. */
static int write_events(const rnn_model_config *cfg, const grid *g, const int32_t *events,
                        size_t len, const gen_args *a)
{
    const int channel = line_channel(cfg, g);
    size_t n = rnn_decode(cfg->kind, events, len, channel, (int)a->velocity, NULL, 0);
    const size_t extra = g->have_file ? g->mf.n_notes : 0;
    rnn_note *notes = malloc((n + extra ? n + extra : 1) * sizeof *notes);
    if (!notes) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    rnn_decode(cfg->kind, events, len, channel, (int)a->velocity, notes, n);
    int track = 1;
    for (size_t i = 0; i < extra; i++)
        if (g->mf.notes[i].track >= track) track = g->mf.notes[i].track + 1;
    const int ppq = g->have_file ? g->ppq : 480, spq = cfg->steps_per_quarter;
    for (size_t i = 0; i < n; i++) {
        notes[i].track = track;
        if (g->have_file) { /* the file's ppq need not be a multiple of spq */
            notes[i].on = notes[i].on * ppq / spq;
            notes[i].off = notes[i].off * ppq / spq;
        } else {
            notes[i].on *= ppq / spq;
            notes[i].off *= ppq / spq;
        }
    }
    if (extra) memcpy(notes + n, g->mf.notes, extra * sizeof *notes);
    char err[512];
    const int four = g->n_meters == 1 && g->meters[0].num == 4 && g->meters[0].den == 4;
    int rc = g->have_file || !four
                 ? rnn_midi_write_path_meters(a->out, notes, n + extra, ppq, g->bpm, g->meters,
                                              g->n_meters, err, sizeof err)
                 : rnn_midi_write_path(a->out, notes, n, ppq, a->tempo, err, sizeof err);
    free(notes);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    if (g->have_file)
        fprintf(stderr, "%s: wrote %s: %zu notes in %zu steps over the %zu notes of %s\n", prog,
                a->out, n, len, extra, a->harmony);
    else
        fprintf(stderr, "%s: wrote %s: %zu notes in %g bars (%zu steps)\n", prog, a->out, n,
                a->bars, len);
    return 0;
}

/* The attention picture of the passage (training/attnplot.h), its bars
 * those of the grid's first meter. */
static int write_picture(const rnn_model_config *cfg, const grid *g, const int32_t *events,
                         size_t len, const float *weights, const char *path)
{
    const rnn_midi_meter four = {0, 4, 4};
    const rnn_midi_meter *m = g->n_meters ? &g->meters[0] : &four;
    const int spq = cfg->steps_per_quarter;
    const int beat = m->den <= 4 ? spq * 4 / m->den : spq;
    const rnn_attn_picture p = {.kind = cfg->kind,
                                .events = events,
                                .T = len,
                                .weights = weights,
                                .n = cfg->attn_window,
                                .steps_per_beat = beat > 0 ? beat : 1,
                                .steps_per_bar = (int)bar_steps(m, spq)};
    char err[512];
    if (rnn_attn_picture_png(path, &p, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    fprintf(stderr, "%s: wrote %s: the attention of %zu steps over the last %d\n", prog, path, len,
            cfg->attn_window);
    return 0;
}

/* Load the preset and the grid, prime, sample, write. */
static int generate(const gen_args *a)
{
    char err[512];
    int rc = EXIT_INPUT;
    rnn_model *model = rnn_model_load(a->model, err, sizeof err);
    rnn_net *net = NULL;
    rnn_sampler *sampler = NULL;
    rnn_lookback_ring *look = NULL; /* the sequence's events, for a lookback model */
    int32_t *events = NULL;
    float *weights = NULL;
    grid g = {0};
    if (!model) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    if (cfg->enc_layers > 0) { /* it would play with its encoder's inputs all zero */
        fprintf(stderr,
                "%s: %s is a drumify preset (its drums follow a song's other parts): give the "
                "song to rnnmidi-drumify\n",
                prog, a->model);
        rnn_model_free(model);
        return EXIT_INPUT;
    }
    if (a->attention_png && cfg->attn_window == 0) {
        fprintf(stderr,
                "%s: --attention-png: %s has no attention to draw (a preset trained with "
                "rnnmidi-train --attention N has)\n",
                prog, a->model);
        rnn_model_free(model);
        return EXIT_INPUT;
    }
    net = rnn_net_create(model, err, sizeof err);
    sampler = rnn_sampler_create(cfg->vocab);
    look = cfg->lookback ? calloc(1, sizeof *look) : NULL;
    if (!net || !sampler || (cfg->lookback && !look)) {
        fprintf(stderr, "%s: %s\n", prog, net ? "out of memory" : err);
        goto done;
    }
    if (rnn_net_probe(net, a->model, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    if (grid_load(&g, a, cfg) != 0) goto done;
    const float *logits = NULL;
    if (prime(net, cfg, &g, a->primer, look, &logits) != 0) goto done;
    events = malloc(g.len * sizeof(int32_t));
    if (a->attention_png) weights = malloc(g.len * (size_t)cfg->attn_window * sizeof(float));
    if (!events || (a->attention_png && !weights)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    sample_events(net, sampler, cfg, &g, look, logits, a, events, g.len, weights);
    if (write_events(cfg, &g, events, g.len, a) == 0 &&
        (!weights || write_picture(cfg, &g, events, g.len, weights, a->attention_png) == 0))
        rc = EXIT_OK;
done:
    free(events);
    free(look);
    free(weights);
    grid_free(&g);
    rnn_sampler_free(sampler);
    rnn_net_free(net);
    rnn_model_free(model);
    return rc;
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    gen_args a = gen_args_default;
    int rc = parse_args(&a, argc, argv);
    if (rc != RNN_CLI_GO_ON) return rc;
    return generate(&a);
}
