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
