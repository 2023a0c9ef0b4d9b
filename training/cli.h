/* SPDX-License-Identifier: MIT */
/* rnnmidi training: what the command-line tools (rnnmidi-data, -eval, -gen,
 * -train) share beside core/cli.h's option tables: their exit statuses, the
 * bad-usage message, the printing of a table's parse and help, and their
 * stop on a signal. Main thread only. */
#ifndef RNNMIDI_CLI_H
#define RNNMIDI_CLI_H

#include <stdio.h>

#include "../core/cli.h"

/* Exit statuses of every tool: success, bad input, bad usage. */
enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

/** Print "PROG: " (or "PROG CMD: " when cmd is not NULL), then fmt with its
 * one string argument, then "Try 'PROG[ CMD] --help'." to stderr. Returns
 * EXIT_USAGE. */
int rnn_cli_usage_error(const char *prog, const char *cmd, const char *fmt, const char *arg);

/* What rnn_cli_args returns when the tool goes on. */
enum { RNN_CLI_GO_ON = -1 };

/** Parse argv with spec's table (rnn_cli_parse). Returns RNN_CLI_GO_ON when
 * the tool goes on with its targets set and *npos arguments in pos; else the
 * status to exit with: EXIT_OK after the help on stdout, EXIT_USAGE after the
 * message on stderr (as rnn_cli_usage_error; prog and cmd name the tool). */
int rnn_cli_args(const char *prog, const char *cmd, const rnn_cli_spec *spec, int argc, char **argv,
                 const char **pos, size_t pos_cap, size_t *npos);

/** rnn_cli_help to f. */
void rnn_cli_print_help(const rnn_cli_spec *spec, FILE *f);

/** Make SIGINT and SIGTERM end the tool at once, wherever it is (a long
 * folder walk, a read): "PROG: interrupted" or "PROG: terminated" on stderr,
 * then death by that signal (a shell reports status 130 or 143). Also when
 * the default action would do nothing (the tool is process 1 of a container)
 * or the signals arrive blocked from the parent; a signal inherited as
 * ignored stays ignored. For the tools that keep nothing to save on the way
 * out (rnnmidi-train has its own handler, which checkpoints). Call first in
 * main. */
void rnn_cli_exit_on_signals(const char *prog);

/** An option table's setter (rnn_cli_opt .set) for a split name, "train",
 * "valid" or "test" (training/dataset.h), into the int row->target. */
int rnn_cli_set_split(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen);

#endif
