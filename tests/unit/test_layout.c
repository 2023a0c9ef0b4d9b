// SPDX-License-Identifier: MIT
/* The dependency direction of the tree, run from the top folder: core/ uses
 * neither training/ nor plugin/, and training/ and plugin/ each use core/
 * only, never each other.
 * - includes: every #include of core/, training/ and plugin/ (sources and
 *   headers, every subfolder), resolved against the including file's folder;
 * - links: every link and archive line of `make -n -B all test-build` (the
 *   release and the sanitizer builds) outside the test binaries: no line
 *   takes both training objects (obj/training/, librnntrain.a) and plugin
 *   objects (obj/plugin/, librnnlisten.a), and librnncore.a holds core
 *   objects only.
 * Each check first shows it catches a planted violation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../support/shell.h"

enum { TOP_NONE, TOP_CORE, TOP_TRAINING, TOP_PLUGIN, TOP_OTHER };

static const char *const top_name[] = {"(none)", "core", "training", "plugin", "(elsewhere)"};

/* The top folder a repository path starts with. */
static int top_of(const char *path)
{
    static const struct {
        const char *prefix;
        int top;
    } tops[] = {{"core/", TOP_CORE}, {"training/", TOP_TRAINING}, {"plugin/", TOP_PLUGIN}};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++)
        if (strncmp(path, tops[i].prefix, strlen(tops[i].prefix)) == 0) return tops[i].top;
    return TOP_OTHER;
}

/* dir/inc with "." and ".." folded into out; returns -1 when it climbs
 * above the top folder. */
static int resolve(const char *dir, const char *inc, char *out, size_t outlen)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", dir, inc);
    char *parts[64];
    int n = 0;
    char *save;
    for (char *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (!strcmp(s, ".")) continue;
        if (!strcmp(s, "..")) {
            if (n == 0) return -1;
            n--;
            continue;
        }
        if (n == 64) return -1;
        parts[n++] = s;
    }
    out[0] = 0;
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "%s%s", i ? "/" : "",
                                parts[i]);
    return len < outlen ? 0 : -1;
}

/* Whether a file of the folder `from` may use one of `to`. */
static int allowed(int from, int to)
{
    if (to == from || to == TOP_CORE) return 1;
    return 0;
}

/* The folder an #include of file reaches: a quoted path is taken relative to
 * the file's folder (the build passes no -I into the tree); a quoted path
 * that names no file there, and an angle-bracket path, is a system header
 * unless it spells a top folder itself. Returns TOP_NONE for a system
 * header, else the top folder, with the resolved path in target. */
static int include_target(const char *file, const char *inc, int quoted, int must_exist,
                          char *target, size_t tlen)
{
    snprintf(target, tlen, "%s", inc);
    if (quoted) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s", file);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        char path[1024];
        if (resolve(dir, inc, path, sizeof path) != 0) {
            snprintf(target, tlen, "%s (above the top folder)", inc);
            return TOP_OTHER;
        }
        struct stat st;
        if (!must_exist || stat(path, &st) == 0) {
            snprintf(target, tlen, "%s", path);
            return top_of(path);
        }
    }
    int t = top_of(inc);
    return t == TOP_OTHER ? TOP_NONE : t;
}

/* One line of source: when it is an #include that the file's folder may
 * not use, a message into why and 1. */
static int include_violation(const char *file, const char *line, int must_exist, char *why,
                             size_t wlen)
{
    const char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (*p++ != '#') return 0;
    while (isspace((unsigned char)*p))
        p++;
    if (strncmp(p, "include", 7) != 0) return 0;
    p += 7;
    while (isspace((unsigned char)*p))
        p++;
    char close = *p == '"' ? '"' : *p == '<' ? '>' : 0;
    if (!close) return 0;
    const char *end = strchr(++p, close);
    if (!end) return 0;
    char inc[512];
    snprintf(inc, sizeof inc, "%.*s", (int)(end - p), p);
    char target[1024];
    int from = top_of(file);
    int to = include_target(file, inc, close == '"', must_exist, target, sizeof target);
    if (to == TOP_NONE || allowed(from, to)) return 0;
    snprintf(why, wlen, "%s includes %s (%s/ may not use %s/)", file, target, top_name[from],
             top_name[to]);
    return 1;
}

typedef struct {
    int files[5];    /* per top folder: files scanned */
    int includes[5]; /* per top folder: includes of the tree seen */
    int bad;
} scan;

static void scan_file(const char *path, scan *s)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int from = top_of(path);
    s->files[from]++;
    char line[4096], why[2048];
    int no = 0;
    while (fgets(line, sizeof line, f)) {
        no++;
        if (strstr(line, "include") && strchr(line, '"')) s->includes[from]++;
        if (include_violation(path, line, 1, why, sizeof why)) {
            print_error("%s:%d: %s\n", path, no, why);
            s->bad++;
        }
    }
    fclose(f);
}

static void scan_dir(const char *dir, scan *s)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s (run from the top folder)", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            scan_dir(path, s);
            continue;
        }
        size_t n = strlen(e->d_name);
        if (S_ISREG(st.st_mode) && n > 2 && e->d_name[n - 2] == '.' &&
            (e->d_name[n - 1] == 'c' || e->d_name[n - 1] == 'h'))
            scan_file(path, s);
    }
    closedir(d);
}

static void test_include_check_catches_a_planted_include(void **state)
{
    (void)state;
    static const struct {
        const char *file, *line;
        int bad;
    } cases[] = {
        {"plugin/demo/rnnmidi-demo.c", "#include \"../../training/dataset.h\"", 1},
        {"plugin/lv2/rnnmidi.c", "  #  include \"../../training/train.h\" /* x */", 1},
        {"plugin/listen/detector.c", "#include <training/cli.h>", 1},
        {"training/rnnmidi-data.c", "#include \"../plugin/listen/listen_file.h\"", 1},
        {"training/dataset.c", "#include \"../plugin/../plugin/demo/demo.h\"", 1},
        {"core/engine.c", "#include \"../training/train.h\"", 1},
        {"core/engine.c", "#include \"../plugin/lv2/ports.h\"", 1},
        {"core/engine.c", "#include \"../../elsewhere.h\"", 1},
        {"plugin/demo/rnnmidi-demo.c", "#include \"../../core/midifile.h\"", 0},
        {"plugin/lv2/rnnmidi.c", "#include \"../listen/detector.h\"", 0},
        {"training/rnnmidi-gen.c", "#include \"../core/model.h\"", 0},
        {"training/dataset.c", "#include \"sha256.h\"", 0},
        {"core/midifile.c", "#include \"file.h\"", 0},
        {"plugin/lv2/rnnmidi.c", "#include <lv2/core/lv2.h>", 0},
        {"training/train.c", "#include <cblas.h>", 0},
        {"training/train.c", "/* #include is fine in a comment */", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[2048] = "";
        int bad = include_violation(cases[i].file, cases[i].line, 0, why, sizeof why);
        if (bad != cases[i].bad)
            fail_msg("%s: '%s' judged %s", cases[i].file, cases[i].line,
                     bad ? "forbidden" : "allowed");
        if (bad) print_message("planted: %s\n", why);
    }
}

static void test_includes_run_one_way(void **state)
{
    (void)state;
    scan s;
    memset(&s, 0, sizeof s);
    scan_dir("core", &s);
    scan_dir("training", &s);
    scan_dir("plugin", &s);
    print_message("scanned %d core, %d training, %d plugin files\n", s.files[TOP_CORE],
                  s.files[TOP_TRAINING], s.files[TOP_PLUGIN]);
    /* a scan that found nothing would prove nothing */
    for (int t = TOP_CORE; t <= TOP_PLUGIN; t++)
        if (s.files[t] < 5 || s.includes[t] < 5)
            fail_msg("only %d files and %d includes found in %s/", s.files[t], s.includes[t],
                     top_name[t]);
    if (s.bad) fail_msg("%d includes against the dependency direction (listed above)", s.bad);
}

/* ------------------------------------------------------------------------ */
/* Link lines */

/* One command line of `make -n`: when it links or archives something that
 * mixes training and plugin objects (test binaries excepted), or puts
 * anything but core objects into librnncore.a, a message into why and 1.
 * *out gets the output's name ("" when the line makes nothing). */
static int link_violation(const char *line, char *out, size_t outlen, char *why, size_t wlen)
{
    out[0] = 0;
    if (strstr(line, " -c ")) return 0; /* a compile */
    char buf[1 << 15];
    snprintf(buf, sizeof buf, "%s", line);
    char *tok[4096];
    int n = 0;
    char *save;
    for (char *t = strtok_r(buf, " \t", &save); t && n < 4096; t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    int o = -1;
    for (int i = 0; i + 1 < n; i++)
        if (!strcmp(tok[i], "-o") || (!strcmp(tok[i], "rcs") && i > 0 && !strcmp(tok[i - 1], "ar")))
            o = i + 1;
    if (o < 0) return 0;
    snprintf(out, outlen, "%s", tok[o]);
    const char *base = strrchr(tok[o], '/');
    base = base ? base + 1 : tok[o];
    if (!strncmp(base, "test_", 5)) return 0; /* tests may use every part */
    const char *train = NULL, *plugin = NULL, *notcore = NULL;
    for (int i = 0; i < n; i++) {
        if (i == o) continue;
        const char *t = tok[i];
        size_t len = strlen(t);
        int is_train =
            strstr(t, "/obj/training/") || (len >= 13 && !strcmp(t + len - 13, "librnntrain.a"));
        int is_plugin =
            strstr(t, "/obj/plugin/") || (len >= 14 && !strcmp(t + len - 14, "librnnlisten.a"));
        if (is_train && !train) train = t;
        if (is_plugin && !plugin) plugin = t;
        if (len > 2 && !strcmp(t + len - 2, ".o") && !strstr(t, "/obj/core/") && !notcore)
            notcore = t;
    }
    if (train && plugin) {
        snprintf(why, wlen, "%s links %s (training) and %s (plugin)", tok[o], train, plugin);
        return 1;
    }
    if (!strcmp(base, "librnncore.a") && (train || plugin || notcore)) {
        snprintf(why, wlen, "%s holds %s", tok[o], train ? train : plugin ? plugin : notcore);
        return 1;
    }
    return 0;
}

static void test_link_check_catches_a_planted_link(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int bad;
    } cases[] = {
        {"cc -O2 -o b/rnnmidi-demo b/obj/plugin/demo/a.o b/obj/training/midifile.o b/librnncore.a",
         1},
        {"cc -o b/rnnmidi-data b/obj/training/rnnmidi-data.o b/librnntrain.a b/librnncore.a "
         "b/librnnlisten.a -lsndfile",
         1},
        {"cc -shared -o b/rnnmidi.lv2/rnnmidi.so b/obj/plugin/lv2/rnnmidi.o b/librnntrain.a", 1},
        {"rm -f b/librnncore.a && ar rcs b/librnncore.a b/obj/core/net.o b/obj/training/x.o", 1},
        {"cc -o b/rnnmidi-listen b/obj/plugin/listen/rnnmidi-listen.o b/librnnlisten.a "
         "b/librnncore.a -lm",
         0},
        {"cc -o b/rnnmidi-gen b/obj/training/rnnmidi-gen.o b/librnntrain.a b/librnncore.a", 0},
        {"cc -o b/test/test_detector b/test/obj/tests/unit/test_detector.o b/test/librnnlisten.a "
         "b/test/librnntrain.a",
         0},
        {"cc -O2 -c training/train.c -o b/obj/training/train.o", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512], why[1024] = "";
        int bad = link_violation(cases[i].line, out, sizeof out, why, sizeof why);
        if (bad != cases[i].bad)
            fail_msg("'%s' judged %s", cases[i].line, bad ? "forbidden" : "allowed");
        if (bad) print_message("planted: %s\n", why);
    }
}

static void test_links_run_one_way(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-layout-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static char out[8 << 20];
    int rc = test_shell(out, sizeof out,
                        "make --no-print-directory -n -B all test-build BUILD=%s/b", dir);
    char rm[600], ignored[64];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    test_shell(ignored, sizeof ignored, "%s", rm);
    if (rc != 0) fail_msg("make -n -B all test-build: exit %d\n%s", rc, out);
    if (strlen(out) + 1 >= sizeof out) fail_msg("make -n printed more than %zu bytes", sizeof out);
    for (char *c = out; (c = strstr(c, "\\\n")) != NULL;)
        c[0] = c[1] = ' ';

    /* the links this check must have seen to mean anything */
    static const char *const want[] = {"/b/rnnmidi-data",           "/b/rnnmidi-train",
                                       "/b/rnnmidi-listen",         "/b/rnnmidi-demo",
                                       "/b/rnnmidi.lv2/rnnmidi.so", "/b/librnncore.a",
                                       "/b/test/rnnmidi-data",      "/b/test/rnnmidi-listen",
                                       "/b/test/rnnmidi-demo",      "/b/test/librnncore.a"};
    enum { NW = sizeof want / sizeof want[0] };
    int seen[NW] = {0}, bad = 0, links = 0;
    char *save;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char made[512], why[1024];
        if (link_violation(line, made, sizeof made, why, sizeof why)) {
            print_error("%s\n", why);
            bad++;
        }
        if (!made[0] || strstr(line, " -c ")) continue;
        links++;
        for (int i = 0; i < NW; i++) {
            size_t lm = strlen(made), lw = strlen(want[i]);
            if (lm >= lw && !strcmp(made + lm - lw, want[i])) seen[i] = 1;
        }
    }
    print_message("%d link and archive lines checked\n", links);
    for (int i = 0; i < NW; i++)
        if (!seen[i]) fail_msg("no link of %s in `make -n -B all test-build`", want[i]);
    if (bad) fail_msg("%d links against the dependency direction (listed above)", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_include_check_catches_a_planted_include),
        cmocka_unit_test(test_includes_run_one_way),
        cmocka_unit_test(test_link_check_catches_a_planted_link),
        cmocka_unit_test(test_links_run_one_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
