/* SPDX-License-Identifier: MIT */
/* rnnmidi training: helpers of the command-line tools (cli.h). Main thread
 * only. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"

int rnn_cli_usage_error(const char *prog, const char *cmd, const char *fmt, const char *arg)
{
    const char *sep = cmd ? " " : "", *sub = cmd ? cmd : "";
    fprintf(stderr, "%s%s%s: ", prog, sep, sub);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s%s%s --help'.\n", prog, sep, sub);
    return EXIT_USAGE;
}

static void put(void *f, const char *text)
{
    fputs(text, f);
}

void rnn_cli_print_help(const rnn_cli_spec *spec, FILE *f)
{
    rnn_cli_help(spec, put, f);
}

int rnn_cli_args(const char *prog, const char *cmd, const rnn_cli_spec *spec, int argc, char **argv,
                 const char **pos, size_t pos_cap, size_t *npos)
{
    char msg[512];
    switch (rnn_cli_parse(spec, argc, argv, pos, pos_cap, npos, msg, sizeof msg)) {
    case RNN_CLI_OK:
        return RNN_CLI_GO_ON;
    case RNN_CLI_HELP:
        rnn_cli_print_help(spec, stdout);
        return EXIT_OK;
    default:
        return rnn_cli_usage_error(prog, cmd, "%s", msg);
    }
}

static const char *stop_prog = "rnnmidi";

/* Async-signal-safe calls only. The message, then death by the signal
 * itself, so a calling shell sees what happened; where the default action
 * does nothing (process 1 of a PID namespace), exit 128 + the signal. */
static void on_stop_signal(int sig)
{
    const char *what = sig == SIGINT ? ": interrupted\n" : ": terminated\n";
    if (write(STDERR_FILENO, stop_prog, strlen(stop_prog)) < 0 ||
        write(STDERR_FILENO, what, strlen(what)) < 0) {
        /* nothing more to do about a closed stderr */
    }
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig);
}

void rnn_cli_exit_on_signals(const char *prog)
{
    stop_prog = prog;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = {SIGINT, SIGTERM};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* a signal the caller chose to ignore stays ignored (a background job's SIGINT) */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&set, sigs[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int rnn_cli_set_split(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    const int split = rnn_split_parse(value);
    if (split < 0) {
        snprintf(msg, msglen, "unknown split '%s' (train, valid or test)", value);
        return -1;
    }
    *(int *)row->target = split;
    return 0;
}
