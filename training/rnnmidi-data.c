/* SPDX-License-Identifier: MIT */
/* rnnmidi-data: look at MIDI files the way the trainer sees them.
 *
 *   rnnmidi-data notes FILE.mid            the note list, as midicsv would give it
 *   rnnmidi-data encode --kind K FILE.mid  the event sequences of one file
 *   rnnmidi-data stats PATH...             files, sequences, steps per split
 *
 * Exit status: 0 success, 1 bad input, 2 bad usage. A subcommand is one row
 * of the table at the end of this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/encoding.h"
#include "../core/midifile.h"
#include "cli.h"
#include "dataset.h"

static const char *prog = "rnnmidi-data";

static void print_warning(void *user, const char *message)
{
    (void)user;
    fprintf(stderr, "%s: warning: %s\n", prog, message);
}

/* The options of a subcommand: --kind, --steps-per-quarter (where its table
 * row allows them), --quiet; the rest are positional arguments. */
typedef struct {
    rnn_kind kind;
    int kind_set;
    int spq;
    int quiet;
    const char **pos;
    size_t npos;
} options;

/* Read the one MIDI file named, warnings to stderr unless --quiet. */
static int read_midi(const options *o, rnn_midi_file *f)
{
    char err[512];
    if (rnn_midi_read_path(o->pos[0], o->quiet ? NULL : print_warning, NULL, f, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */

static const char notes_help[] =
    "Usage: rnnmidi-data notes [--quiet] FILE.mid\n"
    "Print the notes of a Standard MIDI File: '# ppq N', then one note per line,\n"
    "  track channel pitch velocity on_tick off_tick\n"
    "sorted by on_tick, track, channel, pitch. Tracks count from 1 in file order,\n"
    "channels from 0 to 15, as midicsv prints them. Warnings about tolerated\n"
    "oddities go to stderr (--quiet drops them).\n"
    "\n";

static int cmd_notes(const options *o)
{
    rnn_midi_file f;
    int rc = read_midi(o, &f);
    if (rc) return rc;
    printf("# ppq %d\n", f.ppq);
    for (size_t i = 0; i < f.n_notes; i++) {
        const rnn_note *n = &f.notes[i];
        printf("%d %d %d %d %lld %lld\n", n->track, n->channel, n->pitch, n->velocity,
               (long long)n->on, (long long)n->off);
    }
    rnn_midi_free(&f);
    return EXIT_OK;
}

static const char encode_help[] =
    "Usage: rnnmidi-data encode --kind melody|drums [--steps-per-quarter N] [--quiet] FILE.mid\n"
    "Print the event sequences of a file, one per line, event ids separated by\n"
    "spaces (melody: 0 no event, 1 note-off, 2+p note-on of pitch p; drums: the\n"
    "9-bit set of drum classes struck on the step).\n"
    "\n";

static int cmd_encode(const options *o)
{
    rnn_midi_file f;
    int rc = read_midi(o, &f);
    if (rc) return rc;
    rnn_seq_list list = {0};
    char err[512];
    if (rnn_encode(o->kind, f.notes, f.n_notes, f.ppq, o->spq, &list, err, sizeof err)) {
        fprintf(stderr, "%s: %s: %s\n", prog, o->pos[0], err);
        rnn_midi_free(&f);
        return EXIT_INPUT;
    }
    for (size_t i = 0; i < list.count; i++) {
        const rnn_seq *s = &list.seqs[i];
        for (size_t t = 0; t < s->len; t++)
            printf(t ? " %d" : "%d", s->events[t]);
        putchar('\n');
    }
    rnn_seq_list_free(&list);
    rnn_midi_free(&f);
    return EXIT_OK;
}

static const char stats_help[] =
    "Usage: rnnmidi-data stats [--kind melody|drums] [--steps-per-quarter N] PATH...\n"
    "Read every .mid/.midi/.kar file under the paths, split them by the sha256 of\n"
    "their bytes (first hex digit f: test, e: valid, else train) and print, per\n"
    "encoding kind (both unless --kind) and split: files, sequences, steps,\n"
    "notes read, and the share of 'no event' steps; then every file that could\n"
    "not be read, with its reason.\n"
    "\n";

static int cmd_stats(const options *o)
{
    printf("# steps per quarter %d\n", o->spq);
    printf("%-7s %-6s %6s %10s %10s %10s %9s\n", "kind", "split", "files", "sequences", "steps",
           "notes", "no_event");
    for (int k = RNN_KIND_MELODY; k <= RNN_KIND_DRUMS; k++) {
        if (o->kind_set && (rnn_kind)k != o->kind) continue;
        rnn_dataset ds;
        memset(&ds, 0, sizeof ds);
        char err[512];
        if (rnn_dataset_load(&ds, o->pos, o->npos, (rnn_kind)k, o->spq, NULL, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            rnn_dataset_free(&ds);
            return EXIT_INPUT;
        }
        for (int s = 0; s < RNN_SPLITS; s++) {
            size_t steps = 0, empty = 0;
            const rnn_seq_list *l = &ds.split[s];
            for (size_t i = 0; i < l->count; i++) {
                steps += l->seqs[i].len;
                for (size_t t = 0; t < l->seqs[i].len; t++)
                    empty += l->seqs[i].events[t] == 0;
            }
            printf("%-7s %-6s %6zu %10zu %10zu %10zu %9.4f\n", rnn_kind_name((rnn_kind)k),
                   rnn_split_name((rnn_split)s), ds.files[s], l->count, steps, ds.notes[s],
                   steps ? (double)empty / (double)steps : 0.0);
        }
        if (k == RNN_KIND_MELODY || o->kind_set) {
            printf("failed %zu\n", ds.n_failed);
            for (size_t i = 0; i < ds.n_failed; i++)
                printf("failed %s: %s\n", ds.failed[i].path, ds.failed[i].reason);
        }
        rnn_dataset_free(&ds);
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */

/* How a subcommand takes --kind and --steps-per-quarter. */
enum { KIND_NONE, KIND_OPTIONAL, KIND_REQUIRED };

typedef struct {
    const char *name;
    const char *summary;
    const char *help;
    int kind_opts;       /* KIND_* */
    int one_path;        /* exactly one positional argument, else at least one */
    const char *expects; /* what the positional arguments are, for a usage error */
    int (*run)(const options *o);
} command;

static const command commands[] = {
    {"notes", "print the notes of a MIDI file", notes_help, KIND_NONE, 1, "one MIDI file",
     cmd_notes},
    {"encode", "print the event sequences of a MIDI file", encode_help, KIND_REQUIRED, 1,
     "one MIDI file", cmd_encode},
    {"stats", "corpus figures per split, and the files that failed", stats_help, KIND_OPTIONAL, 0,
     "at least one file or folder", cmd_stats},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Parse the options of subcommand c (argv[0] is its name) into o with the
 * rows its table row allows. o->pos is malloc'ed even on failure. Returns
 * RNN_CLI_GO_ON or the exit status. */
static int parse_options(const command *c, int argc, char **argv, options *o)
{
    const char *cmd = c->name;
    o->kind = RNN_KIND_MELODY;
    o->kind_set = 0;
    o->spq = RNN_DEFAULT_STEPS_PER_QUARTER;
    o->quiet = 0;
    o->npos = 0;
    o->pos = malloc((size_t)(argc + 1) * sizeof *o->pos);
    if (!o->pos) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_INPUT;
    }
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("kind", 0, "melody|drums",
                     c->kind_opts == KIND_REQUIRED ? "the encoding"
                                                   : "one encoding (default: both)",
                     RNN_OPT_KIND, &o->kind),
         .bad = "unknown kind '%s' (melody or drums)", .seen = &o->kind_set},
        {RNN_CLI_OPT("steps-per-quarter", 0, "N", "grid steps per quarter note, 1..96", RNN_OPT_INT,
                     &o->spq),
         1, 96, "steps per quarter '%s' is not a number in 1..96", .show_default = 1},
        {RNN_CLI_OPT("quiet", 'q', NULL, "no warnings", RNN_OPT_FLAG, &o->quiet), 1},
        RNN_CLI_HELP_OPT('h'),
    };
    const size_t skip = c->kind_opts == KIND_NONE ? 2 : 0;
    const rnn_cli_spec spec = {c->help, opts + skip, sizeof opts / sizeof opts[0] - skip, NULL, 1};
    int rc = rnn_cli_args(prog, cmd, &spec, argc, argv, o->pos, (size_t)argc, &o->npos);
    if (rc != RNN_CLI_GO_ON) return rc;
    if (c->kind_opts == KIND_REQUIRED && !o->kind_set)
        return rnn_cli_usage_error(prog, cmd, "%s is required", "--kind melody|drums");
    if (c->one_path ? o->npos != 1 : o->npos < 1)
        return rnn_cli_usage_error(prog, cmd, "expects %s", c->expects);
    return RNN_CLI_GO_ON;
}

static int run_command(const command *c, int argc, char **argv)
{
    options o;
    int rc = parse_options(c, argc, argv, &o);
    if (rc == RNN_CLI_GO_ON) rc = c->run(&o);
    free(o.pos);
    return rc;
}

static void main_help(FILE *fp)
{
    fprintf(fp, "Usage: %s COMMAND [OPTIONS] ARGS\n\nCommands:\n", prog);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(fp, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp,
            "\n'%s COMMAND --help' describes one command.\n"
            "Exit status: 0 success, 1 bad input, 2 bad usage.\n",
            prog);
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (rnn_cli_is_help(argv[1])) {
        main_help(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        return run_command(&commands[i], argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[1]);
    main_help(stderr);
    return EXIT_USAGE;
}
