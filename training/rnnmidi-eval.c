/* SPDX-License-Identifier: MIT */
/* rnnmidi-eval: how well a preset predicts MIDI files.
 *
 *   rnnmidi-eval --model FILE.rnnw [--split train|valid|test] PATH...
 *
 * Runs the core's step-by-step inference (rnn_net_step, the code the plugin
 * runs) over every sequence of the files and folders given, each from a zero
 * state, and prints one line:
 *   nll_nats=... bits=... accuracy=... event_nll_nats=... event_accuracy=...
 *   steps=... files=...
 * (per predicted step; event_* counts only steps whose target is not class 0,
 * 'no event'). A conditioned preset hears each step's conditions computed
 * from its file as the trainer computes them (the metric position from the
 * file's time signatures, the harmony of its other voices); --no-harmony
 * zeroes the harmony, to measure what it brings. An encoder-decoder preset
 * (drumify) reads only the files with parts outside channel 10, its
 * encoder over windows of its encoder_window steps from each sequence's
 * start (row t of a window the input of the step its row t predicts, as
 * the trainer's ordered batcher gives them); --with-parts keeps the same
 * files for any preset, so a plain drums preset is measured on the files a
 * drumify preset reads. Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/encoder.h"
#include "../core/model.h"
#include "../core/net.h"
#include "cli.h"
#include "dataset.h"
#include "drumify.h"

static const char *prog = "rnnmidi-eval";

/* The command line: the preset, the split (-1: all) and the paths. */
typedef struct {
    const char *model;
    int split;
    int quiet;
    int no_harmony;
    int with_parts;
    const char **paths;
    size_t n_paths;
} eval_args;

/* a->paths is malloc'ed (room for argc) even on failure. */
static int parse_args(eval_args *a, int argc, char **argv)
{
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("model", 0, "FILE", "the preset", RNN_OPT_STRING, &a->model)},
        {RNN_CLI_OPT("split", 0, "NAME",
                     "only files of this split, train, valid or test (by the sha256 rule\n"
                     "of the trainer)",
                     RNN_OPT_CALL, &a->split),
         .set = rnn_cli_set_split},
        {RNN_CLI_OPT("quiet", 0, NULL, "no report of unreadable files", RNN_OPT_FLAG, &a->quiet),
         1},
        {RNN_CLI_OPT("no-harmony", 0, NULL,
                     "a preset that takes the harmony hears none (as\n"
                     "without a player)",
                     RNN_OPT_FLAG, &a->no_harmony),
         1},
        {RNN_CLI_OPT("with-parts", 0, NULL,
                     "only the files with parts outside channel 10 (those\n"
                     "a drumify preset reads; always so for one)",
                     RNN_OPT_FLAG, &a->with_parts),
         1},
        RNN_CLI_HELP_OPT(0),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-eval --model FILE.rnnw [--split train|valid|test] PATH...\n"
        "Negative log-likelihood and accuracy of a preset on MIDI files and folders,\n"
        "computed step by step with the plugin's inference code.\n",
        opts, sizeof opts / sizeof opts[0],
        "Prints: nll_nats bits accuracy event_nll_nats event_accuracy steps files\n", 1};
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

/* Running sums over the predicted steps; ev_* over those whose target is
 * an event (not class 0). */
typedef struct {
    double nll, ev_nll;
    long steps, hits, ev_steps, ev_hits;
} eval_sums;

/* An encoder-decoder preset's encoder, over windows of W steps (rows: W
 * encoder input rows); enc NULL for other presets. */
typedef struct {
    rnn_enc *enc;
    int W;
    float *rows;
} eval_encoder;

/* The encoder's outputs for the window of seq whose first row predicts
 * step t0 + 1: rows of the steps t0 + 1 .. t0 + W, zeros past the end. */
static const float *encode_window(const eval_encoder *e, const rnn_seq *seq, size_t t0)
{
    for (int r = 0; r < e->W; r++) {
        float *row = e->rows + (size_t)r * RNN_ENC_INPUT_COLUMNS;
        const size_t at = t0 + (size_t)r + 1;
        if (at < seq->len && seq->enc)
            rnn_enc_code_row(seq->enc[at], row);
        else
            memset(row, 0, RNN_ENC_INPUT_COLUMNS * sizeof *row);
    }
    rnn_enc_run(e->enc, e->rows, e->W);
    return rnn_enc_output(e->enc, NULL);
}

/* Every step of seq from a zero state, with its conditions and lookback
 * columns when the model takes them (cond: room for its columns) and its
 * encoder's outputs: its target's NLL and whether the likeliest class was
 * it. */
static void eval_sequence(rnn_net *net, int V, const rnn_seq *seq, int harmony_on, float *cond,
                          const eval_encoder *e, eval_sums *m)
{
    const rnn_model_config *cfg = rnn_model_get_config(rnn_net_model(net));
    const int C = rnn_net_cond_columns(net), Ce = rnn_net_enc_columns(net);
    const float *out = NULL;
    rnn_net_reset(net);
    for (size_t t = 0; t + 1 < seq->len; t++) {
        if (e->enc && t % (size_t)e->W == 0) out = encode_window(e, seq, t);
        if (C > 0) rnn_seq_columns(seq, t, cfg, harmony_on, cond);
        const float *z = rnn_net_step_enc(net, seq->events[t], C > 0 ? cond : NULL,
                                          out ? out + (t % (size_t)e->W) * (size_t)Ce : NULL);
        int y = seq->events[t + 1];
        int arg = 0;
        double mx = z[0];
        for (int k = 1; k < V; k++)
            if (z[k] > mx) {
                mx = z[k];
                arg = k;
            }
        double sum = 0;
        for (int k = 0; k < V; k++)
            sum += exp((double)z[k] - mx);
        double l = log(sum) + mx - (double)z[y];
        m->nll += l;
        m->steps++;
        m->hits += arg == y;
        if (y != 0) {
            m->ev_nll += l;
            m->ev_steps++;
            m->ev_hits += arg == y;
        }
    }
}

/* The sums over the chosen splits of ds, and the number of files. */
static size_t eval_dataset(rnn_net *net, int V, const rnn_dataset *ds, int split, int harmony_on,
                           const eval_encoder *e, eval_sums *m)
{
    size_t files = 0;
    float cond[RNN_MAX_INPUT_COLUMNS];
    for (int s = 0; s < RNN_SPLITS; s++) {
        if (split >= 0 && s != split) continue;
        files += ds->files[s];
        for (size_t q = 0; q < ds->split[s].count; q++)
            eval_sequence(net, V, &ds->split[s].seqs[q], harmony_on, cond, e, m);
    }
    return files;
}

/* Load the preset and the files, evaluate, print the line. */
static int evaluate(const eval_args *a)
{
    char err[512];
    rnn_model *model = rnn_model_load(a->model, err, sizeof err);
    if (!model) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    rnn_net *net = rnn_net_create(model, err, sizeof err);
    if (!net || rnn_net_probe(net, a->model, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_net_free(net);
        rnn_model_free(model);
        return EXIT_INPUT;
    }
    eval_encoder e = {NULL, 0, NULL};
    if (cfg->enc_layers > 0) {
        const char *w = rnn_model_meta(model, "encoder_window");
        long v = 64;
        if (w) rnn_cli_long(w, 1, RNN_ENC_MAX_STEPS, &v);
        e.W = (int)v;
        e.enc = rnn_enc_create_model(model, e.W, err, sizeof err);
        e.rows = malloc((size_t)e.W * RNN_ENC_INPUT_COLUMNS * sizeof *e.rows);
        if (!e.enc || !e.rows) {
            fprintf(stderr, "%s: %s\n", prog, e.enc ? "out of memory" : err);
            rnn_enc_free(e.enc), free(e.rows);
            rnn_net_free(net);
            rnn_model_free(model);
            return EXIT_INPUT;
        }
    }
    rnn_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (rnn_dataset_load_encoder(&ds, a->paths, a->n_paths, cfg->kind, cfg->steps_per_quarter,
                                 cfg->enc_layers > 0 || a->with_parts, a->quiet ? NULL : stderr,
                                 err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_enc_free(e.enc), free(e.rows);
        rnn_net_free(net);
        rnn_model_free(model);
        return EXIT_INPUT;
    }
    eval_sums m = {0};
    size_t files = eval_dataset(net, cfg->vocab, &ds, a->split, !a->no_harmony, &e, &m);
    int rc = EXIT_OK;
    if (m.steps == 0) {
        fprintf(stderr, "%s: no %s sequence to evaluate%s%s\n", prog, rnn_kind_name(cfg->kind),
                a->split >= 0 ? " in the split " : "",
                a->split >= 0 ? rnn_split_name(a->split) : "");
        rc = EXIT_INPUT;
    } else {
        printf("nll_nats=%.4f bits=%.4f accuracy=%.4f event_nll_nats=%.4f event_accuracy=%.4f "
               "steps=%ld files=%zu\n",
               m.nll / m.steps, m.nll / m.steps / log(2.0), (double)m.hits / m.steps,
               m.ev_steps ? m.ev_nll / m.ev_steps : 0.0,
               m.ev_steps ? (double)m.ev_hits / m.ev_steps : 0.0, m.steps, files);
    }
    rnn_dataset_free(&ds);
    rnn_enc_free(e.enc), free(e.rows);
    rnn_net_free(net);
    rnn_model_free(model);
    return rc;
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    eval_args a = {.split = -1};
    int rc = parse_args(&a, argc, argv);
    if (rc == RNN_CLI_GO_ON) rc = evaluate(&a);
    free(a.paths);
    return rc;
}
