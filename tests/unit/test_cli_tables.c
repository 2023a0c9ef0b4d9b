/* SPDX-License-Identifier: MIT */
/* The option tables of the command-line tools (core/cli.h), and the README
 * kept in step with them.
 * - rnn_cli_parse against hand-written expectations: every spelling of an
 *   option, "--", positional arguments, each target type with its range,
 *   and the message of each kind of bad usage;
 * - rnn_cli_help against the exact text of a small table;
 * - every tool's --help (the sanitizer builds in $RNNMIDI_TOOLS, else
 *   build/test) against README.md: each --option a tool lists appears in the
 *   README's section for that tool, and each --option that section names is
 *   one of its tools'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/cli.h"
#include "../support/spawn_capture.h"

/* ---- the parser ---------------------------------------------------------- */

typedef struct {
    int n, flag, seen_n, seen_shape;
    long l;
    uint64_t u;
    float f;
    double d;
    const char *s;
    const char *list[2];
    int n_list;
    rnn_kind kind;
    int calls;
    char last[32];
} targets;

static int record(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    targets *t = row->target;
    if (strcmp(value, "no") == 0) {
        snprintf(msg, msglen, "--call: '%s' is refused", value);
        return -1;
    }
    t->calls++;
    snprintf(t->last, sizeof t->last, "%s", value);
    return 0;
}

static targets t;
static const char *pos[4];
static size_t npos;
static char msg[256];

/* The table of these tests; its targets are t's. */
static int parse_spec(int positional, const char *first, ...)
{
    const rnn_cli_opt opts[] = {
        RNN_CLI_TEXT("Numbers:"),
        {RNN_CLI_OPT("n", 'n', "N", "an int", RNN_OPT_INT, &t.n), 1, 4, .seen = &t.seen_n},
        {RNN_CLI_OPT("l", 0, "N", "a long", RNN_OPT_LONG, &t.l), -5, 5, "--l: '%s' is no good",
         .seen = &t.seen_shape},
        {RNN_CLI_OPT("u", 0, "N", "a u64", RNN_OPT_U64, &t.u), 0, 0x7fffffff},
        {RNN_CLI_OPT("f", 0, "X", "a float", RNN_OPT_FLOAT, &t.f), 0, 1, .seen = &t.seen_shape},
        {RNN_CLI_OPT("d", 'd', "X", "a double", RNN_OPT_DOUBLE, &t.d), -1, 1},
        RNN_CLI_TEXT(""),
        {RNN_CLI_OPT("flag", 'q', NULL, "a flag", RNN_OPT_FLAG, &t.flag), 7},
        {RNN_CLI_OPT("s", 0, "TEXT", "a string", RNN_OPT_STRING, &t.s)},
        {RNN_CLI_OPT("item", 'i', "X", "a list", RNN_OPT_LIST, t.list), 0, 2, .count = &t.n_list},
        {RNN_CLI_OPT("kind", 0, "K", "a kind", RNN_OPT_KIND, &t.kind)},
        {RNN_CLI_OPT("call", 0, "V", "a setter", RNN_OPT_CALL, &t), .set = record},
        RNN_CLI_HELP_OPT('h'),
    };
    const rnn_cli_spec spec = {"", opts, sizeof opts / sizeof opts[0], NULL, positional};
    char *argv[32] = {"prog"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    memset(&t, 0, sizeof t);
    t.n = 2;
    return rnn_cli_parse(&spec, argc, argv, pos, 3, &npos, msg, sizeof msg);
}
#define PARSE(positional, ...) parse_spec(positional, __VA_ARGS__, (const char *)NULL)

static void expect_error(int rc, const char *want)
{
    if (rc != RNN_CLI_ERROR || strcmp(msg, want) != 0)
        fail_msg("status %d, message '%s'; want an error '%s'", rc, msg, want);
}

static void test_every_spelling(void **state)
{
    (void)state;
    assert_int_equal(PARSE(1, "--n", "3", "--d=-0.5", "-q", "--s", "x y", "a", "-", "--l=-5"),
                     RNN_CLI_OK);
    assert_int_equal(t.n, 3);
    assert_true(t.d == -0.5);
    assert_int_equal(t.flag, 7);
    assert_string_equal(t.s, "x y");
    assert_int_equal(t.l, -5);
    assert_int_equal(npos, 2);
    assert_string_equal(pos[0], "a");
    assert_string_equal(pos[1], "-");
    assert_int_equal(t.seen_n, 1);
    assert_int_equal(t.seen_shape, 1);

    assert_int_equal(PARSE(1, "-n", "4", "-d", "1", "--u", "2147483647", "--f", "0.25"),
                     RNN_CLI_OK);
    assert_int_equal(t.n, 4);
    assert_true(t.d == 1.0);
    assert_true(t.u == 2147483647u);
    assert_true(t.f == 0.25f);
    assert_int_equal(t.seen_shape, 1);
    assert_int_equal(npos, 0);

    /* "--" ends the options, even before something that looks like one */
    assert_int_equal(PARSE(1, "--n", "1", "--", "--n", "-h", "--help"), RNN_CLI_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(npos, 3);
    assert_string_equal(pos[0], "--n");
    assert_string_equal(pos[2], "--help");
    /* a value may look like an option */
    assert_int_equal(PARSE(0, "--s", "--n"), RNN_CLI_OK);
    assert_string_equal(t.s, "--n");
    /* nothing given: the defaults stay, no flag is seen */
    assert_int_equal(PARSE(0, NULL), RNN_CLI_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.seen_n, 0);
}

static void test_lists_kinds_and_setters(void **state)
{
    (void)state;
    assert_int_equal(PARSE(0, "-i", "a", "--item=b", "--kind", "drums", "--call", "yes"),
                     RNN_CLI_OK);
    assert_int_equal(t.n_list, 2);
    assert_string_equal(t.list[0], "a");
    assert_string_equal(t.list[1], "b");
    assert_int_equal(t.kind, RNN_KIND_DRUMS);
    assert_int_equal(t.calls, 1);
    assert_string_equal(t.last, "yes");
    expect_error(PARSE(0, "-i", "a", "-i", "b", "-i", "c"), "too many --item (at most 2)");
    assert_int_equal(t.n_list, 2);
    expect_error(PARSE(0, "--kind", "piano"), "--kind 'piano' is not a kind (melody or drums)");
    expect_error(PARSE(0, "--call", "no"), "--call: 'no' is refused");
    assert_int_equal(t.calls, 0);
}

static void test_bad_usage_messages(void **state)
{
    (void)state;
    expect_error(PARSE(0, "--n", "5"), "--n '5' is not a number in 1..4");
    expect_error(PARSE(0, "--n", "2x"), "--n '2x' is not a number in 1..4");
    expect_error(PARSE(0, "-n", ""), "--n '' is not a number in 1..4");
    expect_error(PARSE(0, "--l", "6"), "--l: '6' is no good");
    expect_error(PARSE(0, "--u", "-1"), "--u '-1' is not a number in 0..2147483647");
    expect_error(PARSE(0, "--d", "nan"), "--d 'nan' is not a number in -1..1");
    expect_error(PARSE(0, "--f", "1.5"), "--f '1.5' is not a number in 0..1");
    expect_error(PARSE(0, "--n"), "--n needs a value");
    expect_error(PARSE(0, "-d"), "-d needs a value");
    expect_error(PARSE(0, "--bogus"), "unknown option '--bogus'");
    expect_error(PARSE(0, "--bogus=1"), "unknown option '--bogus=1'");
    expect_error(PARSE(0, "-x"), "unknown option '-x'");
    expect_error(PARSE(0, "-nq"), "unknown option '-nq'");
    expect_error(PARSE(0, "--fla"), "unknown option '--fla'"); /* no abbreviations */
    expect_error(PARSE(0, "--flag=1"), "--flag takes no value ('--flag=1')");
    expect_error(PARSE(0, "stray"), "unexpected argument 'stray'");
    expect_error(PARSE(0, "--", "stray"), "unexpected argument 'stray'");
    expect_error(PARSE(1, "a", "b", "c", "d"), "too many arguments (at most 3)");
}

static void test_help_wins_untouched(void **state)
{
    (void)state;
    assert_int_equal(PARSE(0, "--n", "3", "--help"), RNN_CLI_HELP);
    assert_int_equal(t.n, 2);
    assert_int_equal(PARSE(0, "--bogus", "-h"), RNN_CLI_HELP);
    assert_int_equal(PARSE(0, "--n", "9", "-h"), RNN_CLI_HELP);
}

/* ---- the help ------------------------------------------------------------ */

static void append(void *user, const char *text)
{
    char *buf = user;
    size_t n = strlen(buf);
    snprintf(buf + n, 4096 - n, "%s", text);
}

static void test_help_text(void **state)
{
    (void)state;
    int n = 3;
    double x = 0.5;
    const char *s = "abc", *none = NULL;
    rnn_kind kind = RNN_KIND_MELODY;
    const rnn_cli_opt opts[] = {
        RNN_CLI_TEXT("Model:"),
        {RNN_CLI_OPT("layers", 'l', "N", "stacked layers", RNN_OPT_INT, &n), 1, 4,
         .show_default = 1},
        {RNN_CLI_OPT("x", 0, "X", "a number\non two lines", RNN_OPT_DOUBLE, &x), 0, 1,
         .show_default = 1},
        {RNN_CLI_OPT("name", 0, "TEXT", "a name", RNN_OPT_STRING, &s), .show_default = 1},
        {RNN_CLI_OPT("other", 0, "TEXT", "no default shown", RNN_OPT_STRING, &none),
         .show_default = 1},
        {RNN_CLI_OPT("kind", 0, "melody|drums", "the kind", RNN_OPT_KIND, &kind),
         .show_default = 1},
        {RNN_CLI_OPT("a-very-long-option-name", 0, "VALUE", "its help", RNN_OPT_STRING, &s)},
        RNN_CLI_TEXT(""),
        RNN_CLI_HELP_OPT('h'),
    };
    const rnn_cli_spec spec = {"Usage: prog [options]\n", opts, sizeof opts / sizeof opts[0],
                               "The end.\n", 0};
    char buf[4096] = "";
    rnn_cli_help(&spec, append, buf);
    const char *want = "Usage: prog [options]\n"
                       "Model:\n"
                       "  -l, --layers N           stacked layers (3)\n"
                       "      --x X                a number\n"
                       "                           on two lines (0.5)\n"
                       "      --name TEXT          a name (abc)\n"
                       "      --other TEXT         no default shown\n"
                       "      --kind melody|drums  the kind (melody)\n"
                       "      --a-very-long-option-name VALUE\n"
                       "                           its help\n"
                       "\n"
                       "  -h, --help               this text\n"
                       "The end.\n";
    if (strcmp(buf, want) != 0) fail_msg("help:\n%s\nwant:\n%s", buf, want);
}

/* ---- the README ---------------------------------------------------------- */

enum { MAX_NAMES = 128 };

typedef struct {
    char name[MAX_NAMES][48];
    int n;
} names;

static int has(const names *ns, const char *name)
{
    for (int i = 0; i < ns->n; i++)
        if (strcmp(ns->name[i], name) == 0) return 1;
    return 0;
}

static void add(names *ns, const char *name, size_t len)
{
    char buf[48];
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, name, len);
    buf[len] = 0;
    if (has(ns, buf)) return;
    assert_true(ns->n < MAX_NAMES);
    snprintf(ns->name[ns->n++], sizeof ns->name[0], "%s", buf);
}

static size_t name_len(const char *s)
{
    size_t n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-')
        n++;
    return n;
}

/* The options a --help lists: its lines that start (after spaces) with
 * "-x, --name" or "--name". */
static void help_options(char *const argv[], names *ns)
{
    char *out = NULL;
    int rc = spawn_capture(argv, &out);
    if (rc != 0) fail_msg("%s %s --help: exit %d", argv[0], argv[1], rc);
    for (const char *line = out; *line;) {
        const char *p = line;
        while (*p == ' ')
            p++;
        if (p[0] == '-' && p[1] != '-' && p[1] && p[2] == ',' && p[3] == ' ') p += 4;
        if (p[0] == '-' && p[1] == '-' && name_len(p + 2) > 0) add(ns, p + 2, name_len(p + 2));
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(out);
}

/* The --names the README's section (from its "## " heading to the next)
 * mentions. */
static void readme_options(const char *heading, names *ns)
{
    FILE *f = fopen("README.md", "r");
    assert_non_null(f);
    char line[4096];
    int in = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "## ", 3) == 0) {
            in = strncmp(line, heading, strlen(heading)) == 0;
            found |= in;
            continue;
        }
        if (!in) continue;
        for (const char *p = line; (p = strstr(p, "--")) != NULL; p += 2) {
            int word_start = p == line || !(name_len(p - 1) || p[-1] == '_');
            if (word_start && name_len(p + 2) > 0) add(ns, p + 2, name_len(p + 2));
        }
    }
    fclose(f);
    if (!found) fail_msg("README.md has no section '%s'", heading);
}

/* A README section and the tools it describes (a tool's subcommand as its
 * second word). */
typedef struct {
    const char *heading;
    const char *tools[6][2];
} section;

static const section sections[] = {
    {"## The standalone demo", {{"rnnmidi-demo", NULL}}},
    {"## Training your own presets",
     {{"rnnmidi-train", NULL},
      {"rnnmidi-eval", NULL},
      {"rnnmidi-gen", NULL},
      {"rnnmidi-musicality", NULL},
      {"rnnmidi-quantize", NULL},
      {"rnnmidi-drumify", NULL}}},
    {"## Learning the player's style", {{"rnnmidi-learn", NULL}}},
    {"## MIDI and audio tools",
     {{"rnnmidi-data", "notes"},
      {"rnnmidi-data", "encode"},
      {"rnnmidi-data", "stats"},
      {"rnnmidi-listen", NULL}}},
};

static void test_readme_lists_every_option(void **state)
{
    (void)state;
    const char *dir = getenv("RNNMIDI_TOOLS");
    if (!dir || !*dir) dir = "build/test";
    int bad = 0;
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        names readme = {0}, all = {0};
        readme_options(sections[s].heading, &readme);
        for (int t = 0; t < 6 && sections[s].tools[t][0]; t++) {
            char tool[512];
            snprintf(tool, sizeof tool, "%s/%s", dir, sections[s].tools[t][0]);
            char *argv[4] = {tool, (char *)sections[s].tools[t][1], "--help", NULL};
            if (!argv[1]) argv[1] = "--help", argv[2] = NULL;
            names help = {0};
            help_options(argv, &help);
            if (help.n < 2) fail_msg("%s lists %d options in its --help", tool, help.n);
            for (int i = 0; i < help.n; i++) {
                add(&all, help.name[i], strlen(help.name[i]));
                if (!has(&readme, help.name[i])) {
                    fprintf(stderr, "README.md '%s' does not name --%s (%s%s%s --help)\n",
                            sections[s].heading, help.name[i], sections[s].tools[t][0],
                            sections[s].tools[t][1] ? " " : "",
                            sections[s].tools[t][1] ? sections[s].tools[t][1] : "");
                    bad++;
                }
            }
        }
        for (int i = 0; i < readme.n; i++)
            if (!has(&all, readme.name[i])) {
                fprintf(stderr, "README.md '%s' names --%s, which none of its tools has\n",
                        sections[s].heading, readme.name[i]);
                bad++;
            }
    }
    if (bad) fail_msg("README.md and the tools' option tables differ in %d places", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_spelling),     cmocka_unit_test(test_lists_kinds_and_setters),
        cmocka_unit_test(test_bad_usage_messages), cmocka_unit_test(test_help_wins_untouched),
        cmocka_unit_test(test_help_text),          cmocka_unit_test(test_readme_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
