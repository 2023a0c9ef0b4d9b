/* SPDX-License-Identifier: MIT */
/* rnnmidi-drumify: a drum part for a MIDI file, from an encoder-decoder
 * preset (rnnmidi-train --kind drums --encoder N).
 *
 *   rnnmidi-drumify IN.mid --model FILE.rnnw --out OUT.mid
 *                   [--temperature T] [--top-p P] [--seed S] [--velocity V]
 *
 * The preset's bidirectional encoder reads the file's parts outside
 * channel 10 (training/drumify.h: their line and pitch classes at every
 * step) in windows of the length it was trained on (the metadata's
 * encoder_window, 64 without one), each window whole, forwards and
 * backwards; the decoder then draws the drums step by step over the file's
 * length, the step that draws step j hearing the encoder's output at step j
 * (and, when the preset takes them, the metric position from the file's
 * time signatures and the lookback of its own drums), as the trainer paired
 * them. OUT.mid is IN.mid byte for byte with one more track: the drums on
 * channel 10. The same seed gives the same file.
 * Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/condition.h"
#include "../core/encoder.h"
#include "../core/encoding.h"
#include "../core/lookback.h"
#include "../core/midifile.h"
#include "../core/model.h"
#include "../core/net.h"
#include "../core/sample.h"
#include "cli.h"
#include "dataset.h"
#include "drumify.h"

static const char *prog = "rnnmidi-drumify";

#define DEFAULT_WINDOW 64

typedef struct {
    const char *in, *model, *out;
    double temperature, top_p, seed, velocity;
} drumify_args;

static int parse_args(drumify_args *a, int argc, char **argv)
{
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("model", 0, "FILE", "an encoder-decoder drums preset", RNN_OPT_STRING,
                     &a->model)},
        {RNN_CLI_OPT("out", 0, "OUT.mid", "IN.mid with the drums added as a track of their own",
                     RNN_OPT_STRING, &a->out)},
        {RNN_CLI_OPT("temperature", 0, "T", "sampling temperature, 0 = always the likeliest",
                     RNN_OPT_DOUBLE, &a->temperature),
         0, 100, "--temperature '%s' is not in 0..100", .show_default = 1},
        {RNN_CLI_OPT("top-p", 0, "P", "keep the likeliest classes up to probability P",
                     RNN_OPT_DOUBLE, &a->top_p),
         0, 1, "--top-p '%s' is not in 0..1", .show_default = 1},
        {RNN_CLI_OPT("seed", 0, "S", "random seed", RNN_OPT_DOUBLE, &a->seed), 0, 1e15,
         "--seed '%s' is not a number >= 0", .show_default = 1},
        {RNN_CLI_OPT("velocity", 0, "V", "drum velocity 1..127", RNN_OPT_DOUBLE, &a->velocity), 1,
         127, "--velocity '%s' is not in 1..127", .show_default = 1},
        RNN_CLI_HELP_OPT(0),
    };
    const char *pos[2] = {NULL, NULL};
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-drumify IN.mid --model FILE.rnnw --out OUT.mid [options]\n"
        "Add a drum part that fits IN.mid's other parts (an encoder-decoder drums preset).\n",
        opts, sizeof opts / sizeof opts[0], NULL, 1};
    size_t npos = 0;
    int rc = rnn_cli_args(prog, NULL, &spec, argc, argv, pos, 2, &npos);
    if (rc != RNN_CLI_GO_ON) return rc;
    a->in = pos[0];
    if (npos != 1 || !a->in) return rnn_cli_usage_error(prog, NULL, "%s", "one IN.mid is required");
    if (!a->model) return rnn_cli_usage_error(prog, NULL, "%s", "--model FILE.rnnw is required");
    if (!a->out) return rnn_cli_usage_error(prog, NULL, "%s", "--out OUT.mid is required");
    return RNN_CLI_GO_ON;
}

/* The columns of grid step `step` of mf whose input is the drum event e,
 * as rnnmidi-gen gives them (rnn_grid_columns; -1: the step before the
 * first). */
static const float *step_cond(const rnn_midi_file *mf, const rnn_model_config *cfg, int64_t step,
                              int e, rnn_lookback_ring *look, float *cond)
{
    return rnn_grid_columns(mf->meters, mf->n_meters, mf->ppq, NULL, 0, 0, cfg, step, e, look,
                            cond);
}

/* What a run holds, released by run_free. */
typedef struct {
    rnn_model *model;
    rnn_net *net;
    rnn_enc *enc;
    rnn_sampler *sampler;
    unsigned char *data, *out;
    rnn_midi_file mf;
    uint32_t *codes;
    float *rows;
    int32_t *events;
    rnn_note *notes;
} run;

static void run_free(run *r)
{
    rnn_sampler_free(r->sampler);
    rnn_enc_free(r->enc);
    rnn_net_free(r->net);
    rnn_model_free(r->model);
    rnn_midi_free(&r->mf);
    free(r->data), free(r->out), free(r->codes), free(r->rows), free(r->events), free(r->notes);
}

/* The encoder's window: the metadata's encoder_window, else DEFAULT_WINDOW. */
static int encoder_window(const rnn_model *m)
{
    const char *w = rnn_model_meta(m, "encoder_window");
    long v;
    return w && rnn_cli_long(w, 1, RNN_ENC_MAX_STEPS, &v) == 0 ? (int)v : DEFAULT_WINDOW;
}

/* Open the preset, its net, encoder and sampler, and the input file with
 * its encoder inputs; 0, or an exit status. */
static int open_all(run *r, const drumify_args *a, int *W, size_t *n)
{
    char err[512];
    if (!(r->model = rnn_model_load(a->model, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    const rnn_model_config *cfg = rnn_model_get_config(r->model);
    if (cfg->kind != RNN_KIND_DRUMS || cfg->enc_layers < 1) {
        fprintf(stderr,
                "%s: %s is a %s preset %s; drumify needs a drums preset with an encoder "
                "(rnnmidi-train --kind drums --encoder N)\n",
                prog, a->model, rnn_kind_name(cfg->kind),
                cfg->enc_layers ? "with an encoder" : "without an encoder");
        return 1;
    }
    *W = encoder_window(r->model);
    if (!(r->net = rnn_net_create(r->model, err, sizeof err)) ||
        rnn_net_probe(r->net, a->model, err, sizeof err) != 0 ||
        !(r->enc = rnn_enc_create_model(r->model, *W, err, sizeof err)) ||
        !(r->sampler = rnn_sampler_create(cfg->vocab))) {
        fprintf(stderr, "%s: %s\n", prog, r->sampler || !r->enc ? err : "out of memory");
        return 1;
    }
    size_t size, other;
    if (!(r->data = rnn_midi_slurp(a->in, &size, err, sizeof err)) ||
        rnn_midi_read(r->data, size, a->in, &r->mf, err, sizeof err) != 0 ||
        rnn_enc_codes_file(&r->mf, cfg->steps_per_quarter, &r->codes, n, &other, err, sizeof err) !=
            0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    if (other == 0) {
        fprintf(stderr, "%s: %s has no notes outside channel 10 to put drums to\n", prog, a->in);
        return 1;
    }
    r->rows = calloc((size_t)*W * RNN_ENC_INPUT_COLUMNS, sizeof *r->rows);
    r->events = calloc(*n ? *n : 1, sizeof *r->events);
    if (!r->rows || !r->events) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    return 0;
}

/* The encoder's outputs of the window that starts at step j0: its W rows,
 * the file's steps then zero rows past its end (as the trainer pads). */
static const float *encode_window(run *r, int W, size_t j0, size_t n)
{
    for (int t = 0; t < W; t++) {
        float *row = r->rows + (size_t)t * RNN_ENC_INPUT_COLUMNS;
        if (j0 + (size_t)t < n)
            rnn_enc_code_row(r->codes[j0 + (size_t)t], row);
        else
            memset(row, 0, RNN_ENC_INPUT_COLUMNS * sizeof *row);
    }
    rnn_enc_run(r->enc, r->rows, W);
    return rnn_enc_output(r->enc, NULL);
}

/* Draw the n steps' drums: the step that draws step j hears the encoder's
 * output at step j. */
static void draw(run *r, const drumify_args *a, int W, size_t n)
{
    const rnn_model_config *cfg = rnn_model_get_config(r->model);
    const int Ce = rnn_net_enc_columns(r->net);
    float cond[RNN_MAX_INPUT_COLUMNS];
    rnn_lookback_ring look;
    rnn_lookback_clear(&look);
    rnn_rng rng;
    rnn_rng_seed(&rng, (uint64_t)a->seed);
    const float *out = encode_window(r, W, 0, n);
    const float *logits =
        rnn_net_step_enc(r->net, 0, step_cond(&r->mf, cfg, -1, 0, &look, cond), out);
    for (size_t j = 0; j < n; j++) {
        int e = rnn_sample(r->sampler, &rng, logits, cfg->vocab, (float)a->temperature,
                           (float)a->top_p, NULL);
        r->events[j] = e < 0 ? 0 : e;
        if (j + 1 == n) break;
        if ((j + 1) % (size_t)W == 0) out = encode_window(r, W, j + 1, n);
        logits = rnn_net_step_enc(r->net, r->events[j],
                                  step_cond(&r->mf, cfg, (int64_t)j, r->events[j], &look, cond),
                                  out + ((j + 1) % (size_t)W) * (size_t)Ce);
    }
}

/* IN.mid with the drums as one more track, written through a temporary
 * file renamed over --out. */
static int write_out(run *r, const drumify_args *a, size_t n)
{
    const rnn_model_config *cfg = rnn_model_get_config(r->model);
    const int spq = cfg->steps_per_quarter, ppq = r->mf.ppq;
    size_t k =
        rnn_decode(RNN_KIND_DRUMS, r->events, n, RNN_DRUMS_CHANNEL, (int)a->velocity, NULL, 0);
    r->notes = malloc((k ? k : 1) * sizeof *r->notes);
    if (!r->notes) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    rnn_decode(RNN_KIND_DRUMS, r->events, n, RNN_DRUMS_CHANNEL, (int)a->velocity, r->notes, k);
    for (size_t i = 0; i < k; i++) { /* steps to the file's ticks */
        r->notes[i].on = r->notes[i].on * ppq / spq;
        r->notes[i].off = r->notes[i].off * ppq / spq;
    }
    char err[512];
    size_t size;
    if (!(r->out = rnn_midi_add_track(r->data, r->mf.bytes_read, ppq, r->notes, k, &size, err,
                                      sizeof err))) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->in, err);
        return 1;
    }
    const size_t plen = strlen(a->out) + 8;
    char *tmp = malloc(plen);
    if (!tmp) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    snprintf(tmp, plen, "%s.tmp~", a->out);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(r->out, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, a->out) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->out, strerror(errno));
        remove(tmp);
        free(tmp);
        return 1;
    }
    free(tmp);
    fprintf(stderr, "%s: wrote %s: %zu drum hits in %zu steps over the %zu notes of %s\n", prog,
            a->out, k, n, r->mf.n_notes, a->in);
    return 0;
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    drumify_args a = {.temperature = 1.0, .top_p = 0.95, .seed = 1, .velocity = 100};
    int rc = parse_args(&a, argc, argv);
    if (rc != RNN_CLI_GO_ON) return rc;
    run r;
    memset(&r, 0, sizeof r);
    int W = DEFAULT_WINDOW;
    size_t n = 0;
    rc = open_all(&r, &a, &W, &n);
    if (rc == 0) {
        draw(&r, &a, W, n);
        rc = write_out(&r, &a, n);
    }
    run_free(&r);
    return rc;
}
