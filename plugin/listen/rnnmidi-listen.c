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

#include "listen_file.h"

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

static const char prog[] = "rnnmidi-listen";

static const char help[] =
    "Usage: rnnmidi-listen FILE\n"
    "Print the notes the plugin's audio-note detector hears in a sound file (any\n"
    "format libsndfile reads, 8 to 192 kHz, channels averaged), one per line,\n"
    "  onset_seconds offset_seconds pitch\n"
    "The times are the detector's estimates of when each note began and ended;\n"
    "live, the plugin receives each note-on some 25 ms after its onset.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    return EXIT_USAGE;
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* The one positional argument into *path; --quiet (-q) is taken and changes
 * nothing (the detector has no warnings), "--" ends the options. */
static int parse_args(int argc, char **argv, const char **path)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) continue;
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++, npos++)
                *path = argv[i];
            break;
        }
        if (a[0] == '-' && a[1]) return usage_error("unknown option '%s'", a);
        *path = a;
        npos++;
    }
    if (npos != 1) return usage_error("expects %s", "one sound file");
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--") == 0) break;
        if (is_help(argv[a])) {
            fputs(help, stdout);
            return EXIT_OK;
        }
    }
    const char *path = NULL;
    int rc = parse_args(argc, argv, &path);
    if (rc) return rc;

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
