/* SPDX-License-Identifier: MIT */
/* rnnmidi core: checked value parsers and option tables of the
 * command-line tools (contract in cli.h). Main thread only. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rnn_cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
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

/* ---- parsing ------------------------------------------------------------- */

static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return RNN_CLI_ERROR;
}

/* The row arg names ("--name", "--name=VALUE" or "-l"), with the text after
 * '=' into *value; NULL when no row does. */
static const rnn_cli_opt *find_row(const rnn_cli_spec *spec, const char *arg, const char **value)
{
    *value = NULL;
    const int is_long = arg[1] == '-';
    const char *name = arg + (is_long ? 2 : 1);
    const char *eq = is_long ? strchr(name, '=') : NULL;
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t r = 0; r < spec->n_opts; r++) {
        const rnn_cli_opt *o = &spec->opts[r];
        if (o->type == RNN_OPT_TEXT) continue;
        if (is_long ? o->name && strlen(o->name) == len && strncmp(o->name, name, len) == 0
                    : o->letter && len == 1 && name[0] == o->letter) {
            if (eq) *value = eq + 1;
            return o;
        }
    }
    return NULL;
}

/* The message for a bad value of row: its own, or one naming the option,
 * the value and what it must be. */
static int bad_value(const rnn_cli_opt *o, const char *value, char *msg, size_t msglen)
{
    if (o->bad) return fail(msg, msglen, o->bad, value);
    switch (o->type) {
    case RNN_OPT_KIND:
        return fail(msg, msglen, "--%s '%s' is not a kind (melody or drums)", o->name, value);
    case RNN_OPT_LIST:
        return fail(msg, msglen, "too many --%s (at most %.0f)", o->name, o->hi);
    default:
        return fail(msg, msglen, "--%s '%s' is not a number in %.15g..%.15g", o->name, value, o->lo,
                    o->hi);
    }
}

/* Take value into row o's target. */
static int take(const rnn_cli_opt *o, const char *value, char *msg, size_t msglen)
{
    long l;
    double d;
    rnn_kind k;
    switch (o->type) {
    case RNN_OPT_TEXT:
    case RNN_OPT_HELP: /* answered before any option is taken */
        break;
    case RNN_OPT_FLAG:
        *(int *)o->target = (int)o->lo;
        break;
    case RNN_OPT_INT:
    case RNN_OPT_LONG:
    case RNN_OPT_U64:
        if (rnn_cli_long(value, (long)o->lo, (long)o->hi, &l))
            return bad_value(o, value, msg, msglen);
        if (o->type == RNN_OPT_INT)
            *(int *)o->target = (int)l;
        else if (o->type == RNN_OPT_LONG)
            *(long *)o->target = l;
        else
            *(uint64_t *)o->target = (uint64_t)l;
        break;
    case RNN_OPT_FLOAT:
    case RNN_OPT_DOUBLE:
        if (rnn_cli_double(value, o->lo, o->hi, &d)) return bad_value(o, value, msg, msglen);
        if (o->type == RNN_OPT_FLOAT)
            *(float *)o->target = (float)d;
        else
            *(double *)o->target = d;
        break;
    case RNN_OPT_STRING:
        *(const char **)o->target = value;
        break;
    case RNN_OPT_LIST:
        if (*o->count >= (int)o->hi) return bad_value(o, value, msg, msglen);
        ((const char **)o->target)[(*o->count)++] = value;
        break;
    case RNN_OPT_KIND:
        if (rnn_cli_kind(value, &k)) return bad_value(o, value, msg, msglen);
        *(rnn_kind *)o->target = k;
        break;
    case RNN_OPT_CALL:
        if (o->set(o, value, msg, msglen) != 0) return RNN_CLI_ERROR;
        break;
    }
    if (o->seen) *o->seen = 1;
    return RNN_CLI_OK;
}

static int positional(const rnn_cli_spec *spec, const char *arg, const char **pos, size_t pos_cap,
                      size_t *npos, char *msg, size_t msglen)
{
    if (!spec->positional) return fail(msg, msglen, "unexpected argument '%s'", arg);
    if (*npos >= pos_cap) return fail(msg, msglen, "too many arguments (at most %zu)", pos_cap);
    pos[(*npos)++] = arg;
    return RNN_CLI_OK;
}

int rnn_cli_parse(const rnn_cli_spec *spec, int argc, char **argv, const char **pos, size_t pos_cap,
                  size_t *npos, char *msg, size_t msglen)
{
    *npos = 0;
    if (msglen) msg[0] = 0;
    /* help wins wherever it stands, before any target changes */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (rnn_cli_is_help(argv[i])) return RNN_CLI_HELP;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                if (positional(spec, argv[i], pos, pos_cap, npos, msg, msglen))
                    return RNN_CLI_ERROR;
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (positional(spec, a, pos, pos_cap, npos, msg, msglen)) return RNN_CLI_ERROR;
            continue;
        }
        const char *value;
        const rnn_cli_opt *o = find_row(spec, a, &value);
        if (!o) return fail(msg, msglen, "unknown option '%s'", a);
        if (o->arg && !value) {
            if (i + 1 >= argc) return fail(msg, msglen, "%s needs a value", a);
            value = argv[++i];
        } else if (!o->arg && value) {
            return fail(msg, msglen, "--%s takes no value ('%s')", o->name, a);
        }
        if (take(o, value, msg, msglen)) return RNN_CLI_ERROR;
    }
    return RNN_CLI_OK;
}

/* ---- help ---------------------------------------------------------------- */

enum { HELP_MAX_COLUMN = 30 };

/* "  -m, --model FILE" (the letter column only when some row has a letter) */
static void left_part(char *buf, size_t n, const rnn_cli_opt *o, int letters)
{
    char letter[8] = "";
    if (letters) snprintf(letter, sizeof letter, o->letter ? "-%c, " : "    ", o->letter);
    snprintf(buf, n, "  %s--%s%s%s", letter, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* " (DEFAULT)" of a row that shows its target's value */
static void default_part(char *buf, size_t n, const rnn_cli_opt *o)
{
    buf[0] = 0;
    if (!o->show_default) return;
    switch (o->type) {
    case RNN_OPT_INT:
        snprintf(buf, n, " (%d)", *(const int *)o->target);
        break;
    case RNN_OPT_LONG:
        snprintf(buf, n, " (%ld)", *(const long *)o->target);
        break;
    case RNN_OPT_U64:
        snprintf(buf, n, " (%llu)", (unsigned long long)*(const uint64_t *)o->target);
        break;
    case RNN_OPT_FLOAT:
        snprintf(buf, n, " (%g)", (double)*(const float *)o->target);
        break;
    case RNN_OPT_DOUBLE:
        snprintf(buf, n, " (%g)", *(const double *)o->target);
        break;
    case RNN_OPT_STRING:
        if (*(const char *const *)o->target)
            snprintf(buf, n, " (%s)", *(const char *const *)o->target);
        break;
    case RNN_OPT_KIND:
        snprintf(buf, n, " (%s)", rnn_kind_name(*(const rnn_kind *)o->target));
        break;
    default:
        break;
    }
}

/* The help column: two spaces after the longest left part that fits. */
static int help_column(const rnn_cli_spec *spec, int letters)
{
    int col = 0;
    for (size_t r = 0; r < spec->n_opts; r++) {
        if (spec->opts[r].type == RNN_OPT_TEXT) continue;
        char left[256];
        left_part(left, sizeof left, &spec->opts[r], letters);
        int w = (int)strlen(left) + 2;
        if (w <= HELP_MAX_COLUMN && w > col) col = w;
    }
    return col;
}

static void write_pad(void (*write)(void *, const char *), void *user, int n)
{
    static const char spaces[] = "                                "; /* HELP_MAX_COLUMN + 2 */
    if (n > 0) write(user, spaces + (sizeof spaces - 1 - (size_t)n));
}

/* One row: the left part, then its help, each '\n' going on at the column. */
static void help_row(const rnn_cli_opt *o, int letters, int col,
                     void (*write)(void *, const char *), void *user)
{
    char left[256], text[1024], def[128];
    left_part(left, sizeof left, o, letters);
    default_part(def, sizeof def, o);
    snprintf(text, sizeof text, "%s%s", o->help ? o->help : "", def);
    write(user, left);
    int w = (int)strlen(left);
    if (w + 2 > col) {
        write(user, "\n");
        w = 0;
    }
    write_pad(write, user, col - w);
    char *line = text;
    for (char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = 0;
        write(user, line);
        write(user, "\n");
        write_pad(write, user, col);
    }
    write(user, line);
    write(user, "\n");
}

void rnn_cli_help(const rnn_cli_spec *spec, void (*write)(void *user, const char *text), void *user)
{
    int letters = 0;
    for (size_t r = 0; r < spec->n_opts; r++)
        letters |= spec->opts[r].type != RNN_OPT_TEXT && spec->opts[r].letter != 0;
    const int col = help_column(spec, letters);
    if (spec->usage) write(user, spec->usage);
    for (size_t r = 0; r < spec->n_opts; r++) {
        const rnn_cli_opt *o = &spec->opts[r];
        if (o->type == RNN_OPT_TEXT) {
            write(user, o->help ? o->help : "");
            write(user, "\n");
        } else {
            help_row(o, letters, col, write, user);
        }
    }
    if (spec->epilogue) write(user, spec->epilogue);
}
