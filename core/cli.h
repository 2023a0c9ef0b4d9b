/* SPDX-License-Identifier: MIT */
/* rnnmidi core: what every command-line tool (the trainer's tools on one
 * side, rnnmidi-demo and rnnmidi-listen on the other) parses its arguments
 * with: checked value parsers, and one option table per tool from which both
 * the parsing and the --help text come, so the two cannot drift.
 *
 * A table row names one option (long name, short letter, the value's name,
 * its help) and where its value goes (a typed target with its range, or a
 * setter for the odd ones). Nothing here prints or exits: rnn_cli_parse
 * returns a status with the message in the caller's buffer, rnn_cli_help
 * hands its text to a callback. Main thread only; the table and its targets
 * belong to the caller. */
#ifndef RNNMIDI_CORE_CLI_H
#define RNNMIDI_CORE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "encoding.h"

/** Whether arg asks for help ("--help" or "-h"). */
int rnn_cli_is_help(const char *arg);

/** Parse a whole decimal integer in lo..hi into *out. Returns 0, or -1 (and
 * *out untouched) when s is not one. */
int rnn_cli_long(const char *s, long lo, long hi, long *out);

/** Parse a whole number (strtod syntax) in lo..hi into *out. Returns 0, or
 * -1 (and *out untouched) when s is not one; NaN is never in range. */
int rnn_cli_double(const char *s, double lo, double hi, double *out);

/** Parse "melody" or "drums" into *out. Returns 0, or -1 (and *out
 * untouched) for anything else. */
int rnn_cli_kind(const char *s, rnn_kind *out);

/* What a row's target is. */
typedef enum {
    RNN_OPT_TEXT,   /* no option: a line of the help text (a section title, "" a gap) */
    RNN_OPT_FLAG,   /* int: set to lo when given; takes no value */
    RNN_OPT_INT,    /* int in lo..hi */
    RNN_OPT_LONG,   /* long in lo..hi */
    RNN_OPT_U64,    /* uint64_t in lo..hi (hi at most LONG_MAX) */
    RNN_OPT_FLOAT,  /* float in lo..hi */
    RNN_OPT_DOUBLE, /* double in lo..hi */
    RNN_OPT_STRING, /* const char *: the argument itself (argv's, not copied) */
    RNN_OPT_LIST,   /* const char *[hi]: one more entry at each use, counted in *count */
    RNN_OPT_KIND,   /* rnn_kind: melody or drums */
    RNN_OPT_CALL,   /* the row's set() takes the value (NULL for a row without arg) */
    RNN_OPT_HELP,   /* --help itself: listed like an option; rnn_cli_parse answers it */
} rnn_opt_type;

typedef struct rnn_cli_opt rnn_cli_opt;

/* A setter: takes value for row (row->target is the setter's own), or
 * writes a message (without the program's name) into msg and returns -1. */
typedef int (*rnn_cli_setter)(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen);

struct rnn_cli_opt {
    const char *name; /* long name without "--"; NULL for a RNN_OPT_TEXT row */
    char letter;      /* short name (-m) or 0 */
    const char *arg;  /* the value's name in the help (FILE.rnnw); NULL: takes no value */
    const char *help; /* a '\n' goes on at the help column of the next line */
    rnn_opt_type type;
    void *target;
    double lo, hi;      /* a number's range; a FLAG's value; a LIST's capacity (hi) */
    const char *bad;    /* message for a bad value, a format with one %s (the value); for a
                           LIST the one when it is full; NULL: "--NAME 'VALUE' is not ..." */
    int *seen;          /* set to 1 when the option is given; NULL: not recorded */
    int *count;         /* RNN_OPT_LIST: entries in target so far */
    rnn_cli_setter set; /* RNN_OPT_CALL */
    int show_default;   /* the help ends with the target's value before parsing: " (120)" */
};

/* A row's first six fields by name, so that a row reads
 *   {RNN_CLI_OPT("bars", 0, "N", "bars to generate", RNN_OPT_INT, &a->bars), 1, 10000}
 * and the fields after target may follow in order or by name. */
#define RNN_CLI_OPT(name_, letter_, arg_, help_, type_, target_)                                   \
    .name = (name_), .letter = (letter_), .arg = (arg_), .help = (help_), .type = (type_),         \
    .target = (target_)

/* A line of the help between the options (a section title; "" a gap). */
#define RNN_CLI_TEXT(text_)                                                                        \
    {                                                                                              \
        .type = RNN_OPT_TEXT, .help = (text_)                                                      \
    }

/* The row of --help (and -h, which every tool takes, listed when letter_ is 'h'). */
#define RNN_CLI_HELP_OPT(letter_)                                                                  \
    {.name = "help", .letter = (letter_), .help = "this text", .type = RNN_OPT_HELP}

/* A tool's (or a subcommand's) whole command line. */
typedef struct {
    const char *usage; /* the help's first lines, up to the options */
    const rnn_cli_opt *opts;
    size_t n_opts;
    const char *epilogue; /* the help's last lines, or NULL */
    int positional;       /* whether arguments that are not options are taken */
} rnn_cli_spec;

enum {
    RNN_CLI_OK = 0,    /* parsed; *npos positional arguments in pos */
    RNN_CLI_HELP = 1,  /* "--help" or "-h" before any "--": nothing was parsed */
    RNN_CLI_ERROR = -1 /* bad usage: the message (no program name) in msg */
};

/** Parse argv[1..argc-1] against spec's table: "--name VALUE",
 * "--name=VALUE", "-l VALUE", flags, "--" (everything after it is
 * positional); "-" alone is positional. Each option's target is written as
 * it is met, so targets hold their defaults before the call. Positional
 * arguments go into pos (room for pos_cap, argv's strings, in order) and
 * their count into *npos; spec->positional == 0 refuses them. Returns
 * RNN_CLI_OK, RNN_CLI_HELP, or RNN_CLI_ERROR with a message naming the option
 * and the value (e.g. "unknown option '--x'", "--bars needs a value",
 * the row's bad format filled with the value). */
int rnn_cli_parse(const rnn_cli_spec *spec, int argc, char **argv, const char **pos, size_t pos_cap,
                  size_t *npos, char *msg, size_t msglen);

/** The --help text of spec: usage, one line (or more) per row, epilogue,
 * handed to write(user, text) piece by piece. The defaults shown are read
 * from the targets: call it before parsing, or after rnn_cli_parse returned
 * RNN_CLI_HELP (which writes no target). */
void rnn_cli_help(const rnn_cli_spec *spec, void (*write)(void *user, const char *text),
                  void *user);

#endif
