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
 * 'no event'). Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/model.h"
#include "../core/net.h"
#include "cli.h"
#include "dataset.h"

static const char *prog = "rnnmidi-eval";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE.rnnw [--split train|valid|test] PATH...\n"
            "Negative log-likelihood and accuracy of a preset on MIDI files and folders,\n"
            "computed step by step with the plugin's inference code.\n"
            "  --model FILE   the preset\n"
            "  --split NAME   only files of this split (by the sha256 rule of the trainer)\n"
            "  --quiet        no report of unreadable files\n"
            "  --help         this text\n"
            "Prints: nll_nats bits accuracy event_nll_nats event_accuracy steps files\n",
            prog);
}

static int bad_usage(const char *fmt, const char *arg)
{
    return rnn_cli_usage_error(prog, NULL, fmt, arg);
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    const char *model_path = NULL;
    int split = -1, quiet = 0;
    static const char *paths[256];
    size_t n_paths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (rnn_cli_is_help(a)) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--model")) {
            if (++i >= argc) return bad_usage("%s needs a value", a);
            model_path = argv[i];
        } else if (!strcmp(a, "--split")) {
            if (++i >= argc) return bad_usage("%s needs a value", a);
            split = rnn_split_parse(argv[i]);
            if (split < 0) return bad_usage("unknown split '%s' (train, valid or test)", argv[i]);
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            return bad_usage("unknown option '%s'", a);
        } else {
            if (n_paths == sizeof paths / sizeof paths[0]) return bad_usage("%s", "too many paths");
            paths[n_paths++] = a;
        }
    }
    if (!model_path) return bad_usage("%s", "--model FILE.rnnw is required");
    if (n_paths == 0) return bad_usage("%s", "give at least one MIDI file or folder");

    char err[512];
    rnn_model *model = rnn_model_load(model_path, err, sizeof err);
    if (!model) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    rnn_net *net = rnn_net_create(model, err, sizeof err);
    if (!net || rnn_net_probe(net, model_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_net_free(net);
        rnn_model_free(model);
        return EXIT_INPUT;
    }
    rnn_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (rnn_dataset_load(&ds, paths, n_paths, cfg->kind, cfg->steps_per_quarter,
                         quiet ? NULL : stderr, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_net_free(net);
        rnn_model_free(model);
        return EXIT_INPUT;
    }

    const int V = cfg->vocab;
    double nll = 0, ev_nll = 0;
    long steps = 0, hits = 0, ev_steps = 0, ev_hits = 0;
    size_t files = 0;
    for (int s = 0; s < RNN_SPLITS; s++) {
        if (split >= 0 && s != split) continue;
        files += ds.files[s];
        const rnn_seq_list *list = &ds.split[s];
        for (size_t q = 0; q < list->count; q++) {
            const rnn_seq *seq = &list->seqs[q];
            rnn_net_reset(net);
            for (size_t t = 0; t + 1 < seq->len; t++) {
                const float *z = rnn_net_step(net, seq->events[t]);
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
                nll += l;
                steps++;
                hits += arg == y;
                if (y != 0) {
                    ev_nll += l;
                    ev_steps++;
                    ev_hits += arg == y;
                }
            }
        }
    }
    int rc = EXIT_OK;
    if (steps == 0) {
        fprintf(stderr, "%s: no %s sequence to evaluate%s%s\n", prog, rnn_kind_name(cfg->kind),
                split >= 0 ? " in the split " : "", split >= 0 ? rnn_split_name(split) : "");
        rc = EXIT_INPUT;
    } else {
        printf("nll_nats=%.4f bits=%.4f accuracy=%.4f event_nll_nats=%.4f event_accuracy=%.4f "
               "steps=%ld files=%zu\n",
               nll / steps, nll / steps / log(2.0), (double)hits / steps,
               ev_steps ? ev_nll / ev_steps : 0.0, ev_steps ? (double)ev_hits / ev_steps : 0.0,
               steps, files);
    }
    rnn_dataset_free(&ds);
    rnn_net_free(net);
    rnn_model_free(model);
    return rc;
}
