/* SPDX-License-Identifier: MIT */
/* rnnmidi-listen: the notes the plugin's audio-note detector hears in a
 * recording.
 *
 *   rnnmidi-listen FILE.wav    one note per line: onset offset pitch
 *
 * It runs the plugin's own detector (detector.c through listen_file.c), so
 * it lives beside it, on the plugin side of the tree, and links core/ and
 * this folder only. Exit status: 0 success, 1 bad input, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/cli.h"
#include "listen_file.h"

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

static const char prog[] = "rnnmidi-listen";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    return EXIT_USAGE;
}

static void put(void *f, const char *text)
{
    fputs(text, f);
}

/* The one positional argument into *path; --quiet is taken as the training
 * tools take it, and "--" ends the options. Returns -1 to go on, else the
 * exit status (after the help, or a message). */
static int parse_args(int argc, char **argv, const char **path)
{
    int quiet = 0;
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("quiet", 'q', NULL, "changes nothing (the detector has no warnings)",
                     RNN_OPT_FLAG, &quiet),
         1},
        RNN_CLI_HELP_OPT('h'),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-listen [options] FILE\n"
        "Print the notes the plugin's audio-note detector hears in a sound file (any\n"
        "format libsndfile reads, 8 to 192 kHz, channels averaged), one per line,\n"
        "  onset_seconds offset_seconds pitch\n"
        "The times are the detector's estimates of when each note began and ended;\n"
        "live, the plugin receives each note-on some 25 ms after its onset.\n"
        "\n",
        opts, sizeof opts / sizeof opts[0], NULL, 1};
    const char **pos = malloc((size_t)argc * sizeof *pos);
    if (!pos) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_INPUT;
    }
    size_t npos;
    char msg[512];
    int rc = -1;
    switch (rnn_cli_parse(&spec, argc, argv, pos, (size_t)argc, &npos, msg, sizeof msg)) {
    case RNN_CLI_HELP:
        rnn_cli_help(&spec, put, stdout);
        rc = EXIT_OK;
        break;
    case RNN_CLI_ERROR:
        rc = usage_error("%s", msg);
        break;
    default:
        if (npos != 1)
            rc = usage_error("expects %s", "one sound file");
        else
            *path = pos[0];
    }
    free(pos);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int rc = parse_args(argc, argv, &path);
    if (rc >= 0) return rc;

    rnn_heard_note *notes;
    size_t n;
    double rate;
    char err[512];
    if (rnn_listen_file(path, NULL, &notes, &n, &rate, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    for (size_t i = 0; i < n; i++)
        printf("%.3f %.3f %d\n", notes[i].on, notes[i].off, notes[i].pitch);
    free(notes);
    return EXIT_OK;
}
