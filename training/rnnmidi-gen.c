/* SPDX-License-Identifier: MIT */
/* rnnmidi-gen: a preset (and an optional primer) to a new MIDI file.
 *
 *   rnnmidi-gen --model FILE.rnnw [--primer FILE.mid] --bars N --temperature T
 *               --top-p P --seed S --tempo BPM --out OUT.mid
 *
 * The primer's longest sequence (as the trainer encodes it) is fed through
 * the net; then the net samples N bars of 4/4 on its grid (rnn_sample), which
 * are decoded (rnn_decode) and written as a MIDI file. The same seed gives the
 * same file. Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/encoding.h"
#include "../core/midifile.h"
#include "../core/model.h"
#include "../core/net.h"
#include "../core/sample.h"
#include "cli.h"

static const char *prog = "rnnmidi-gen";

/* The command line; the defaults are those of gen_args_default. */
typedef struct {
    const char *model, *primer, *out;
    double bars, temperature, top_p, seed, tempo, velocity;
} gen_args;

static const gen_args gen_args_default = {
    .bars = 8, .temperature = 1.0, .top_p = 0.95, .seed = 1, .tempo = 120, .velocity = 96};

static int parse_args(gen_args *a, int argc, char **argv)
{
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("model", 0, "FILE", "the preset", RNN_OPT_STRING, &a->model)},
        {RNN_CLI_OPT("primer", 0, "FILE.mid", "music to continue (its longest line, or drum part)",
                     RNN_OPT_STRING, &a->primer)},
        {RNN_CLI_OPT("bars", 0, "N", "bars of 4/4 to generate", RNN_OPT_DOUBLE, &a->bars), 1, 10000,
         "--bars '%s' is not in 1..10000", .show_default = 1},
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
        RNN_CLI_HELP_OPT(0),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-gen --model FILE.rnnw [--primer FILE.mid] [options] --out OUT.mid\n"
        "Generate music with a preset, optionally continuing a primer.\n",
        opts, sizeof opts / sizeof opts[0], NULL, 0};
    size_t npos;
    int rc = rnn_cli_args(prog, NULL, &spec, argc, argv, NULL, 0, &npos);
    if (rc != RNN_CLI_GO_ON) return rc;
    if (!a->model) return rnn_cli_usage_error(prog, NULL, "%s", "--model FILE.rnnw is required");
    if (!a->out) return rnn_cli_usage_error(prog, NULL, "%s", "--out OUT.mid is required");
    return RNN_CLI_GO_ON;
}

/* Feed the primer's longest sequence (as the trainer encodes it) through the
 * net; without a primer, one "no event" step. *logits: the net's answer. */
static int prime(rnn_net *net, const rnn_model_config *cfg, const char *primer,
                 const float **logits)
{
    if (!primer) {
        *logits = rnn_net_step(net, 0);
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
    rnn_midi_free(&mf);
    if (erc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, primer, err);
        return -1;
    }
    if (primed.count == 0) {
        fprintf(stderr, "%s: %s: no %s line long enough to prime with (%d steps, %d notes)\n", prog,
                primer, rnn_kind_name(cfg->kind), RNN_MIN_SEQ_STEPS, RNN_MIN_SEQ_NOTES);
        rnn_seq_list_free(&primed);
        return -1;
    }
    const rnn_seq *best = &primed.seqs[0];
    for (size_t i = 1; i < primed.count; i++)
        if (primed.seqs[i].len > best->len) best = &primed.seqs[i];
    for (size_t t = 0; t < best->len; t++)
        *logits = rnn_net_step(net, best->events[t]);
    rnn_seq_list_free(&primed);
    return 0;
}

/* len events drawn one step at a time, each fed back into the net. */
static void sample_events(rnn_net *net, rnn_sampler *sampler, const rnn_model_config *cfg,
                          const float *logits, const gen_args *a, int32_t *events, size_t len)
{
    rnn_rng rng;
    rnn_rng_seed(&rng, (uint64_t)a->seed);
    for (size_t t = 0; t < len; t++) {
        int e = rnn_sample(sampler, &rng, logits, cfg->vocab, (float)a->temperature,
                           (float)a->top_p, NULL);
        if (e < 0) e = 0;
        events[t] = e;
        logits = rnn_net_step(net, e);
    }
}

/* The events decoded to notes and written as a MIDI file at 480 ppq. */
static int write_events(const rnn_model_config *cfg, const int32_t *events, size_t len,
                        const gen_args *a)
{
    int channel = cfg->kind == RNN_KIND_DRUMS ? RNN_DRUMS_CHANNEL : 0;
    size_t n = rnn_decode(cfg->kind, events, len, channel, (int)a->velocity, NULL, 0);
    rnn_note *notes = malloc((n ? n : 1) * sizeof *notes);
    if (!notes) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    rnn_decode(cfg->kind, events, len, channel, (int)a->velocity, notes, n);
    const int ppq = 480, tps = ppq / cfg->steps_per_quarter;
    for (size_t i = 0; i < n; i++) {
        notes[i].track = 1;
        notes[i].on *= tps;
        notes[i].off *= tps;
    }
    char err[512];
    int rc = rnn_midi_write_path(a->out, notes, n, ppq, a->tempo, err, sizeof err);
    free(notes);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    fprintf(stderr, "%s: wrote %s: %zu notes in %g bars (%zu steps)\n", prog, a->out, n, a->bars,
            len);
    return 0;
}

/* Load the preset, prime, sample, write. */
static int generate(const gen_args *a)
{
    char err[512];
    int rc = EXIT_INPUT;
    rnn_model *model = rnn_model_load(a->model, err, sizeof err);
    rnn_net *net = NULL;
    rnn_sampler *sampler = NULL;
    int32_t *events = NULL;
    if (!model) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    net = rnn_net_create(model, err, sizeof err);
    sampler = rnn_sampler_create(cfg->vocab);
    if (!net || !sampler) {
        fprintf(stderr, "%s: %s\n", prog, net ? "out of memory" : err);
        goto done;
    }
    if (rnn_net_probe(net, a->model, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    const float *logits = NULL;
    if (prime(net, cfg, a->primer, &logits) != 0) goto done;
    size_t len = (size_t)a->bars * 4 * (size_t)cfg->steps_per_quarter;
    events = malloc(len * sizeof(int32_t));
    if (!events) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    sample_events(net, sampler, cfg, logits, a, events, len);
    if (write_events(cfg, events, len, a) == 0) rc = EXIT_OK;
done:
    free(events);
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
