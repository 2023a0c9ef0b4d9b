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

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE.rnnw [--primer FILE.mid] [options] --out OUT.mid\n"
            "Generate music with a preset, optionally continuing a primer.\n"
            "  --model FILE        the preset\n"
            "  --primer FILE.mid   music to continue (its longest line, or drum part)\n"
            "  --bars N            bars of 4/4 to generate (8)\n"
            "  --temperature T     sampling temperature, 0 = always the likeliest (1.0)\n"
            "  --top-p P           keep the likeliest classes up to probability P (0.95)\n"
            "  --seed S            random seed (1)\n"
            "  --tempo BPM         tempo of the file (120)\n"
            "  --velocity V        note velocity 1..127 (96)\n"
            "  --out OUT.mid       the MIDI file to write\n"
            "  --help              this text\n",
            prog);
}

static int bad_usage(const char *fmt, const char *arg)
{
    return rnn_cli_usage_error(prog, NULL, fmt, arg);
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    const char *model_path = NULL, *primer = NULL, *out = NULL;
    double bars = 8, temperature = 1.0, top_p = 0.95, seed = 1, tempo = 120, velocity = 96;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (rnn_cli_is_help(a)) {
            usage(stdout);
            return EXIT_OK;
        }
        if (!v) return bad_usage("unknown option or missing value: '%s'", a);
        i++;
        if (!strcmp(a, "--model"))
            model_path = v;
        else if (!strcmp(a, "--primer"))
            primer = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--bars")) {
            if (rnn_cli_double(v, 1, 10000, &bars))
                return bad_usage("--bars '%s' is not in 1..10000", v);
        } else if (!strcmp(a, "--temperature")) {
            if (rnn_cli_double(v, 0, 100, &temperature))
                return bad_usage("--temperature '%s' is not in 0..100", v);
        } else if (!strcmp(a, "--top-p")) {
            if (rnn_cli_double(v, 0, 1, &top_p)) return bad_usage("--top-p '%s' is not in 0..1", v);
        } else if (!strcmp(a, "--seed")) {
            if (rnn_cli_double(v, 0, 1e15, &seed))
                return bad_usage("--seed '%s' is not a number >= 0", v);
        } else if (!strcmp(a, "--tempo")) {
            if (rnn_cli_double(v, 10, 400, &tempo))
                return bad_usage("--tempo '%s' is not in 10..400", v);
        } else if (!strcmp(a, "--velocity")) {
            if (rnn_cli_double(v, 1, 127, &velocity))
                return bad_usage("--velocity '%s' is not in 1..127", v);
        } else
            return bad_usage("unknown option '%s'", a);
    }
    if (!model_path) return bad_usage("%s", "--model FILE.rnnw is required");
    if (!out) return bad_usage("%s", "--out OUT.mid is required");

    char err[512];
    int rc = EXIT_INPUT;
    rnn_model *model = rnn_model_load(model_path, err, sizeof err);
    rnn_net *net = NULL;
    rnn_sampler *sampler = NULL;
    rnn_seq_list primed = {0};
    int32_t *events = NULL;
    rnn_note *notes = NULL;
    if (!model) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    net = rnn_net_create(model, err, sizeof err);
    sampler = rnn_sampler_create(cfg->vocab);
    if (!net || !sampler) {
        fprintf(stderr, "%s: %s\n", prog, net ? "out of memory" : err);
        goto done;
    }
    if (rnn_net_probe(net, model_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }

    const float *logits = NULL;
    if (primer) {
        rnn_midi_file mf;
        if (rnn_midi_read_path(primer, NULL, NULL, &mf, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            goto done;
        }
        int erc = rnn_encode(cfg->kind, mf.notes, mf.n_notes, mf.ppq, cfg->steps_per_quarter,
                             &primed, err, sizeof err);
        rnn_midi_free(&mf);
        if (erc != 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, primer, err);
            goto done;
        }
        if (primed.count == 0) {
            fprintf(stderr, "%s: %s: no %s line long enough to prime with (%d steps, %d notes)\n",
                    prog, primer, rnn_kind_name(cfg->kind), RNN_MIN_SEQ_STEPS, RNN_MIN_SEQ_NOTES);
            goto done;
        }
        const rnn_seq *best = &primed.seqs[0];
        for (size_t i = 1; i < primed.count; i++)
            if (primed.seqs[i].len > best->len) best = &primed.seqs[i];
        for (size_t t = 0; t < best->len; t++)
            logits = rnn_net_step(net, best->events[t]);
    } else {
        logits = rnn_net_step(net, 0);
    }

    size_t len = (size_t)bars * 4 * (size_t)cfg->steps_per_quarter;
    events = malloc(len * sizeof(int32_t));
    if (!events) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    rnn_rng rng;
    rnn_rng_seed(&rng, (uint64_t)seed);
    for (size_t t = 0; t < len; t++) {
        int e =
            rnn_sample(sampler, &rng, logits, cfg->vocab, (float)temperature, (float)top_p, NULL);
        if (e < 0) e = 0;
        events[t] = e;
        logits = rnn_net_step(net, e);
    }
    int channel = cfg->kind == RNN_KIND_DRUMS ? RNN_DRUMS_CHANNEL : 0;
    size_t n = rnn_decode(cfg->kind, events, len, channel, (int)velocity, NULL, 0);
    notes = malloc((n ? n : 1) * sizeof *notes);
    if (!notes) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    rnn_decode(cfg->kind, events, len, channel, (int)velocity, notes, n);
    const int ppq = 480, tps = ppq / cfg->steps_per_quarter;
    for (size_t i = 0; i < n; i++) {
        notes[i].track = 1;
        notes[i].on *= tps;
        notes[i].off *= tps;
    }
    if (rnn_midi_write_path(out, notes, n, ppq, tempo, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    fprintf(stderr, "%s: wrote %s: %zu notes in %g bars (%zu steps)\n", prog, out, n, bars, len);
    rc = EXIT_OK;
done:
    free(events);
    free(notes);
    rnn_seq_list_free(&primed);
    rnn_sampler_free(sampler);
    rnn_net_free(net);
    rnn_model_free(model);
    return rc;
}
