/* SPDX-License-Identifier: MIT */
/* rnnmidi training: what the command-line tools (rnnmidi-data, -eval, -gen,
 * -train) share: their exit statuses, the bad-usage message, and checked
 * parsing of option values. Main thread only. */
#ifndef RNNMIDI_CLI_H
#define RNNMIDI_CLI_H

#include "../core/encoding.h"

/* Exit statuses of every tool: success, bad input, bad usage. */
enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

/** Whether arg asks for help ("--help" or "-h"). */
int rnn_cli_is_help(const char *arg);

/** Print "PROG: " (or "PROG CMD: " when cmd is not NULL), then fmt with its
 * one string argument, then "Try 'PROG[ CMD] --help'." to stderr. Returns
 * EXIT_USAGE. */
int rnn_cli_usage_error(const char *prog, const char *cmd, const char *fmt, const char *arg);

/** Parse a whole decimal integer in lo..hi into *out. Returns 0, or -1 (and
 * *out untouched) when s is not one. */
int rnn_cli_long(const char *s, long lo, long hi, long *out);

/** Parse a whole number (strtod syntax) in lo..hi into *out. Returns 0, or
 * -1 (and *out untouched) when s is not one; NaN is never in range. */
int rnn_cli_double(const char *s, double lo, double hi, double *out);

/** Parse "melody" or "drums" into *out. Returns 0, or -1 (and *out
 * untouched) for anything else. */
int rnn_cli_kind(const char *s, rnn_kind *out);

/** Make SIGINT and SIGTERM end the tool at once, wherever it is (a long
 * folder walk, a read): "PROG: interrupted" or "PROG: terminated" on stderr,
 * then death by that signal (a shell reports status 130 or 143). Also when
 * the default action would do nothing (the tool is process 1 of a container)
 * or the signals arrive blocked from the parent; a signal inherited as
 * ignored stays ignored. For the tools that keep nothing to save on the way
 * out (rnnmidi-train has its own handler, which checkpoints). Call first in
 * main. */
void rnn_cli_exit_on_signals(const char *prog);

#endif
