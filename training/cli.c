/* SPDX-License-Identifier: MIT */
/* rnnmidi training: helpers of the command-line tools (cli.h). Main thread
 * only. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rnn_cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int rnn_cli_usage_error(const char *prog, const char *cmd, const char *fmt, const char *arg)
{
    const char *sep = cmd ? " " : "", *sub = cmd ? cmd : "";
    fprintf(stderr, "%s%s%s: ", prog, sep, sub);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s%s%s --help'.\n", prog, sep, sub);
    return EXIT_USAGE;
}

int rnn_cli_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int rnn_cli_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int rnn_cli_kind(const char *s, rnn_kind *out)
{
    for (int k = RNN_KIND_MELODY; k <= RNN_KIND_DRUMS; k++)
        if (strcmp(s, rnn_kind_name((rnn_kind)k)) == 0) {
            *out = (rnn_kind)k;
            return 0;
        }
    return -1;
}
