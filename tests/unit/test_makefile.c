// SPDX-License-Identifier: MIT
/* The Makefile as packagers and CI use it, run from the top folder:
 * - the release build passes the user's CPPFLAGS to every compile and LDFLAGS
 *   to every link of the tools, the LV2 .so, ttlgen and the demo (`make -n -B`);
 * - plain `make` and `make install` never run apt-get or sudo: with a package
 *   missing they stop before building, naming it and `make deps`, while
 *   `make deps` does call apt-get (apt-get and sudo are replaced on PATH by
 *   scripts that leave a mark, so a call is seen and nothing is installed);
 * - `make test-run` counts passes, failures and skips of the binaries it is
 *   given, lists the skip records under "not run:" and closes with
 *   `tests: N passed, N failed[, N skipped]`;
 * - test_skip_note() writes the record `make test` collects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/skip.h"
#include "../support/shell.h"

static char g_dir[] = "/tmp/rnnmidi-makefile-XXXXXX";

/* Run a shell command with stderr joined to stdout; returns its exit status,
 * the output in out. */
static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(g_dir)) return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/bin", g_dir);
    if (mkdir(p, 0755) != 0) return -1;
    /* apt-get and sudo that only leave a mark */
    snprintf(p, sizeof p, "%s/bin/apt-get", g_dir);
    char body[512];
    snprintf(body, sizeof body, "echo \"apt-get $*\" >> %s/called\nexit 1\n", g_dir);
    write_script(p, body);
    snprintf(p, sizeof p, "%s/bin/sudo", g_dir);
    snprintf(body, sizeof body, "echo \"sudo $*\" >> %s/called\nexit 1\n", g_dir);
    write_script(p, body);
    /* a PATH with only the tools the test loop's recipe uses (no mpirun) */
    snprintf(p, sizeof p, "%s/tools", g_dir);
    if (mkdir(p, 0755) != 0) return -1;
    const char *tools[] = {"sh", "rm", "mkdir", "basename", "sed", "wc", "cat"};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char cmd[700], out[256];
        snprintf(cmd, sizeof cmd, "ln -s \"$(command -v %s)\" %s/tools/%s", tools[i], g_dir,
                 tools[i]);
        if (test_shell(out, sizeof out, "%s", cmd) != 0) return -1;
    }
    /* the test binaries of the summary test: a pass, a failure, a skip */
    snprintf(p, sizeof p, "%s/t_pass", g_dir);
    write_script(p, "exit 0\n");
    snprintf(p, sizeof p, "%s/t_fail", g_dir);
    write_script(p, "exit 1\n");
    snprintf(p, sizeof p, "%s/t_skip", g_dir);
    write_script(p,
                 "printf 'case_a: no corpus\\ncase_b: no sound card\\n' >> \"$RNNMIDI_SKIPS\"\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600], out[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return test_shell(out, sizeof out, "%s", cmd) == 0 ? 0 : -1;
}

/* The release build's command lines, continuation lines joined. */
static void test_release_build_honours_cppflags_and_ldflags(void **state)
{
    (void)state;
    static char out[1 << 20];
    int rc = test_shell(out, sizeof out,
                "make --no-print-directory -n -B all BUILD=%s/rel "
                "CPPFLAGS=-DRNNMIDI_CPPFLAGS_PROBE LDFLAGS=-Wl,-z,rnnmidi-ldflags-probe",
                g_dir);
    if (rc != 0) fail_msg("make -n -B all: exit %d\n%s", rc, out);
    for (char *c = out; (c = strstr(c, "\\\n")) != NULL;)
        c[0] = c[1] = ' ';

    const char *linked[] = {
        "/rnnmidi-train",          "/rnnmidi-eval", "/rnnmidi-gen",    "/rnnmidi-data",
        "/rnnmidi.lv2/rnnmidi.so", "/rnnmidi-demo", "/rnnmidi-listen", "/ttlgen"};
    enum { NL = sizeof linked / sizeof linked[0] };
    int seen[NL] = {0}, compiles = 0;
    char obj[512];
    snprintf(obj, sizeof obj, " -o %s/rel/obj/", g_dir);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, " -c ") && strstr(line, obj)) {
            compiles++;
            if (!strstr(line, "-DRNNMIDI_CPPFLAGS_PROBE"))
                fail_msg("compile without CPPFLAGS: %s", line);
            continue;
        }
        for (int i = 0; i < NL; i++) {
            char o[512];
            snprintf(o, sizeof o, " -o %s/rel%s ", g_dir, linked[i]);
            if (!strstr(line, o)) continue;
            seen[i] = 1;
            if (!strstr(line, "-Wl,-z,rnnmidi-ldflags-probe"))
                fail_msg("link of %s without LDFLAGS: %s", linked[i], line);
            if (!strcmp(linked[i], "/ttlgen") && !strstr(line, "-DRNNMIDI_CPPFLAGS_PROBE"))
                fail_msg("ttlgen compiled without CPPFLAGS: %s", line);
        }
    }
    print_message("%d compiles with CPPFLAGS\n", compiles);
    assert_true(compiles >= 10);
    for (int i = 0; i < NL; i++)
        if (!seen[i]) fail_msg("no link of %s in `make -n -B all`", linked[i]);
}

/* Plain make and make install with a package missing: stop, name it and
 * `make deps`, build nothing, never call apt-get or sudo. */
static void test_make_and_install_never_install_packages(void **state)
{
    (void)state;
    static char out[1 << 16];
    const char *goals[] = {"all", "install"};
    char called[512], built[512];
    snprintf(called, sizeof called, "%s/called", g_dir);
    for (int i = 0; i < 2; i++) {
        snprintf(built, sizeof built, "%s/plain-%s", g_dir, goals[i]);
        int rc = test_shell(out, sizeof out,
                    "PATH=%s/bin:$PATH make --no-print-directory %s BUILD=%s DESTDIR=%s/dest "
                    "DEB_BUILD='libc6 rnnmidi-no-such-package'",
                    g_dir, goals[i], built, g_dir);
        print_message("make %s: exit %d\n%s", goals[i], rc, out);
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(out, "missing Debian packages: rnnmidi-no-such-package\n"));
        assert_non_null(strstr(out, "`make deps`"));
        assert_null(strstr(out, "libc6 ")); /* installed, so not named */
        assert_false(exists(called));
        snprintf(built, sizeof built, "%s/plain-%s/obj", g_dir, goals[i]);
        assert_false(exists(built));
        snprintf(built, sizeof built, "%s/dest", g_dir);
        assert_false(exists(built));
    }
    /* the same package list through `make deps` reaches apt-get (or sudo):
     * the marks above would have shown a call */
    int rc = test_shell(out, sizeof out,
                "PATH=%s/bin:$PATH make --no-print-directory deps BUILD=%s/deps "
                "DEB_BUILD='libc6 rnnmidi-no-such-package'",
                g_dir, g_dir);
    assert_int_not_equal(rc, 0);
    assert_true(exists(called));
    char marks[1024];
    assert_int_equal(test_shell(marks, sizeof marks, "cat %s", called), 0);
    print_message("make deps ran: %s", marks);
    assert_non_null(strstr(marks, "apt-get"));
    assert_int_equal(unlink(called), 0);
}

/* The closing summary of the test loop. */
static void test_summary_lists_what_did_not_run(void **state)
{
    (void)state;
    static char out[1 << 16];
    int rc = test_shell(out, sizeof out,
                "make --no-print-directory test-run TEST_SUITES= BUILD=%s/sum "
                "TEST_BIN='%s/t_pass %s/t_skip %s/t_fail'",
                g_dir, g_dir, g_dir, g_dir);
    /* (the loop's output is shown only on failure: its closing lines would
     * look like those of the `make test` running this test) */
    if (rc == 0) fail_msg("a failing binary, and test-run exits 0:\n%s", out);
    char want[1024];
    snprintf(want, sizeof want,
             "failed: %s/t_fail\nnot run:\n  t_skip: case_a: no corpus\n"
             "  t_skip: case_b: no sound card\ntests: 2 passed, 1 failed, 2 skipped\n",
             g_dir);
    const char *tail = strstr(out, "failed: ");
    if (!tail) fail_msg("no 'failed:' line:\n%s", out);
    /* make's own "Error 1" line may follow on stderr */
    if (strncmp(tail, want, strlen(want)) != 0) fail_msg("summary:\n%s\nwanted:\n%s", tail, want);

    rc = test_shell(out, sizeof out,
            "make --no-print-directory test-run TEST_SUITES= BUILD=%s/sum TEST_BIN=%s/t_pass",
            g_dir, g_dir);
    size_t n = strlen(out);
    const char *last = "\ntests: 1 passed, 0 failed\n";
    if (rc != 0 || strstr(out, "not run:") || n < strlen(last) ||
        strcmp(out + n - strlen(last), last) != 0)
        fail_msg("one passing binary: exit %d\n%s", rc, out);

    /* the suites that are not installed are listed with the command that installs them */
    rc = test_shell(out, sizeof out,
            "PATH=%s/tools \"$(command -v make)\" --no-print-directory test-run TEST_SUITES=mpi "
            "BUILD=%s/sum TEST_BIN=%s/t_pass",
            g_dir, g_dir, g_dir);
    if (rc != 0 || !strstr(out, "not run:\n  test-mpi: mpirun and mpicc are not installed "
                                "(make deps-mpi)\ntests: 1 passed, 0 failed, 1 skipped\n"))
        fail_msg("test-mpi without mpirun: exit %d\n%s", rc, out);
}

static void test_skip_note_appends_a_record(void **state)
{
    (void)state;
    char path[512], got[512];
    snprintf(path, sizeof path, "%s/records", g_dir);
    const char *was = getenv("RNNMIDI_SKIPS");
    char *saved = was ? strdup(was) : NULL;
    assert_int_equal(setenv("RNNMIDI_SKIPS", path, 1), 0);
    test_skip_note("first", "reason %d", 7);
    test_skip_note("second", "%s", "another reason");
    assert_int_equal(unsetenv("RNNMIDI_SKIPS"), 0);
    test_skip_note("third", "not recorded");
    if (saved) assert_int_equal(setenv("RNNMIDI_SKIPS", saved, 1), 0);
    free(saved);
    assert_int_equal(test_shell(got, sizeof got, "cat %s", path), 0);
    assert_string_equal(got, "first: reason 7\nsecond: another reason\n");
}

/* Every cmocka skip() in tests/unit and tests/support is recorded first, so
 * that `make test` can say what it did not run: a test_skip_note() call
 * within the few lines before it. */
static void test_every_skip_is_recorded(void **state)
{
    (void)state;
    static char list[1 << 14];
    assert_int_equal(test_shell(list, sizeof list,
                                "ls tests/unit/*.c tests/support/*.[ch] tests/support/*/*.[ch]"),
                     0);
    int skips = 0;
    for (char *path = strtok(list, "\n"); path; path = strtok(NULL, "\n")) {
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char text[1 << 20];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        for (char *c = text; (c = strstr(c, "skip();")) != NULL; c++) {
            if (c > text && (c[-1] == '_' || c[-1] == '"' || isalnum((unsigned char)c[-1])))
                continue;
            skips++;
            const char *from = c - text > 400 ? c - 400 : text;
            char was = *c;
            *c = 0;
            int noted = strstr(from, "test_skip_note(") != NULL;
            *c = was;
            if (!noted) {
                int line = 1;
                for (const char *q = text; q < c; q++)
                    line += *q == '\n';
                fail_msg("%s:%d: skip() without test_skip_note() before it", path, line);
            }
        }
    }
    print_message("%d skip() calls, each recorded\n", skips);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_build_honours_cppflags_and_ldflags),
        cmocka_unit_test(test_make_and_install_never_install_packages),
        cmocka_unit_test(test_summary_lists_what_did_not_run),
        cmocka_unit_test(test_skip_note_appends_a_record),
        cmocka_unit_test(test_every_skip_is_recorded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
