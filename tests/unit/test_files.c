/* SPDX-License-Identifier: MIT */
/* Tests of the files a user names, which must not hang the reader or be
 * counted twice: core/file (regular files only) through every reader of a
 * preset or MIDI file and through the tools; the data folder walk with
 * symlinks back up the tree and files reached twice; the tools ending at
 * once on SIGTERM, also when it arrives blocked or they run as process 1 of a
 * PID namespace. Every spawned tool runs under a deadline and the whole
 * binary under alarm(), so a regression fails instead of hanging. The tools
 * are $RNNMIDI_TOOLS/rnnmidi-* (build/test by default). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/engine.h"
#include "../../core/file.h"
#include "../../core/midifile.h"
#include "../../core/model.h"
#include "../../training/dataset.h"
#include "../support/skip.h"

extern char **environ;

static char tmpdir[256];

static void path_in_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static const char *tools_dir(void)
{
    const char *d = getenv("RNNMIDI_TOOLS");
    return d && d[0] ? d : "build/test";
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A format-0 file of about `bytes` bytes of notes (running status, one
 * note-on and note-off per 6 bytes); variant changes the first pitch so two
 * files differ. */
static unsigned char *dense_midi(size_t bytes, int variant, size_t *size)
{
    size_t cap = bytes + 64;
    unsigned char *d = malloc(cap);
    assert_non_null(d);
    size_t n = 0;
    memcpy(d, "MThd\0\0\0\6\0\0\0\1\0\x60MTrk\0\0\0\0", 22);
    n = 22;
    for (int k = 0; n + 7 + 4 <= bytes; k++) {
        d[n++] = 0;
        if (k == 0) d[n++] = 0x90; /* then running status */
        unsigned char p = (unsigned char)(36 + (k + variant) % 60);
        const unsigned char ev[5] = {p, 100, 1, p, 0}; /* note-on, note-off a tick later */
        memcpy(d + n, ev, 5);
        n += 5;
    }
    memcpy(d + n, "\0\xff\x2f\0", 4);
    n += 4;
    uint32_t len = (uint32_t)(n - 22);
    d[18] = (unsigned char)(len >> 24);
    d[19] = (unsigned char)(len >> 16);
    d[20] = (unsigned char)(len >> 8);
    d[21] = (unsigned char)len;
    *size = n;
    return d;
}

/* ------------------------------------------------------------------------ */
/* Running a tool under a deadline */

typedef struct {
    int exited; /* 1: exit status in code; 0: killed by signal `code` */
    int code;
    double secs; /* from the spawn, or the signal when one was sent, to its end */
    char err[2048];
} run_result;

/* Wait until process pid catches sig (its handler is installed), at most
 * `limit` seconds; a tool without a handler gets the signal after that. */
static void wait_for_handler(pid_t pid, int sig, double limit)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    const double t0 = now();
    while (now() - t0 < limit) {
        FILE *f = fopen(path, "r");
        unsigned long long caught = 0;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "SigCgt: %llx", &caught) == 1) break;
        if (f) fclose(f);
        if (caught >> (sig - 1) & 1) return;
        usleep(5000);
    }
}

/* Spawn argv (stdout to /dev/null, stderr kept), with `blocked` signals
 * blocked in the child (0 for none); when sig is not 0, send it once the
 * child has a handler for it (or 3 s have passed) and `after` more seconds;
 * wait at most `limit` seconds, then SIGKILL and fail. */
static void run_tool(char *const argv[], int blocked, int sig, double after, double limit,
                     run_result *r)
{
    char errpath[512];
    path_in_tmp(errpath, sizeof errpath, "stderr.txt");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t mask;
    sigemptyset(&mask);
    if (blocked) sigaddset(&mask, blocked);
    posix_spawnattr_setsigmask(&at, &mask);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    const double t0 = now();
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) fail_msg("cannot run %s: %s", argv[0], strerror(rc));
    int status, sent = 0;
    double t_sent = t0;
    if (sig) {
        wait_for_handler(pid, sig, 3.0);
        usleep((useconds_t)(after * 1e6));
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        assert_int_equal(w, 0);
        const double t = now() - t0;
        if (sig && !sent) {
            kill(pid, sig);
            sent = 1;
            t_sent = now();
        }
        if (t > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("%s %s still running after %.1f s: killed", argv[0], argv[1], limit);
        }
        usleep(5000);
    }
    r->secs = now() - t_sent;
    r->exited = WIFEXITED(status);
    r->code = r->exited ? WEXITSTATUS(status) : WTERMSIG(status);
    r->err[0] = 0;
    FILE *f = fopen(errpath, "r");
    if (f) {
        size_t k = fread(r->err, 1, sizeof r->err - 1, f);
        r->err[k] = 0;
        fclose(f);
    }
}

/* ------------------------------------------------------------------------ */
/* What is not a regular file is refused at once */

typedef struct {
    char path[512];
    const char *expect;
} not_a_file;

static size_t not_files(not_a_file *v)
{
    size_t n = 0;
    path_in_tmp(v[n].path, sizeof v[n].path, "fifo.mid");
    v[n++].expect = "is a FIFO";
    snprintf(v[n].path, sizeof v[n].path, "/dev/null");
    v[n++].expect = "is a character device";
    snprintf(v[n].path, sizeof v[n].path, "/dev/zero");
    v[n++].expect = "is a character device";
    snprintf(v[n].path, sizeof v[n].path, "%s", tmpdir);
    v[n++].expect = "is a folder";
    path_in_tmp(v[n].path, sizeof v[n].path, "loop.mid");
    v[n++].expect = "cannot open: ";
    path_in_tmp(v[n].path, sizeof v[n].path, "missing.mid");
    v[n++].expect = "cannot open: ";
    return n;
}

static void check_msg(const char *err, const char *path, const char *needle)
{
    size_t k = strlen(path);
    if (strncmp(err, path, k) != 0 || strncmp(err + k, ": ", 2) != 0 || !strstr(err, needle))
        fail_msg("message \"%s\" should name %s and say \"%s\"", err, path, needle);
}

static void test_readers_refuse_non_regular(void **state)
{
    (void)state;
    not_a_file v[8];
    size_t n = not_files(v);
    for (size_t i = 0; i < n; i++) {
        const char *p = v[i].path;
        char err[512];
        size_t size;
        uint64_t usize;
        assert_int_equal(rnn_file_open_regular(p, &usize, err, sizeof err), -1);
        check_msg(err, p, v[i].expect);
        assert_null(rnn_file_read_all(p, 1 << 20, &size, err, sizeof err));
        check_msg(err, p, v[i].expect);
        assert_null(rnn_file_fopen_read(p, err, sizeof err));
        check_msg(err, p, v[i].expect);
        assert_null(rnn_model_load(p, err, sizeof err));
        check_msg(err, p, v[i].expect);
        assert_null(rnn_engine_model_prepare(p, err, sizeof err));
        check_msg(err, p, v[i].expect);
        assert_null(rnn_midi_slurp(p, &size, err, sizeof err));
        check_msg(err, p, v[i].expect);
        rnn_midi_file f;
        assert_int_equal(rnn_midi_read_path(p, NULL, NULL, &f, err, sizeof err), -1);
        check_msg(err, p, v[i].expect);
    }
    /* a regular file, and a symlink to one, are read as they are */
    char p[512], link[512], err[512];
    path_in_tmp(p, sizeof p, "real.mid");
    path_in_tmp(link, sizeof link, "link.mid");
    size_t size;
    unsigned char *d = rnn_file_read_all(p, 1 << 20, &size, err, sizeof err);
    assert_non_null(d);
    assert_int_equal(size, 290);
    unsigned char *d2 = rnn_file_read_all(link, 1 << 20, &size, err, sizeof err);
    assert_non_null(d2);
    assert_memory_equal(d, d2, 290);
    free(d2);
    /* over the limit: refused from the size */
    assert_null(rnn_file_read_all(p, 289, &size, err, sizeof err));
    check_msg(err, p, "file is 290 bytes, over the 289 bytes limit");
    FILE *fp = rnn_file_fopen_read(link, err, sizeof err);
    assert_non_null(fp);
    unsigned char b[300];
    assert_int_equal(fread(b, 1, sizeof b, fp), 290);
    assert_memory_equal(b, d, 290);
    fclose(fp);
    free(d);
    rnn_midi_file f;
    assert_int_equal(rnn_midi_read_path(link, NULL, NULL, &f, err, sizeof err), 0);
    assert_true(f.n_notes > 0);
    rnn_midi_free(&f);
}

static void test_tools_refuse_non_regular(void **state)
{
    (void)state;
    not_a_file v[8];
    size_t n = not_files(v);
    char data[512], listen_tool[512], eval[512], gen[512], out[512], folder[512];
    snprintf(data, sizeof data, "%s/rnnmidi-data", tools_dir());
    snprintf(listen_tool, sizeof listen_tool, "%s/rnnmidi-listen", tools_dir());
    snprintf(eval, sizeof eval, "%s/rnnmidi-eval", tools_dir());
    snprintf(gen, sizeof gen, "%s/rnnmidi-gen", tools_dir());
    path_in_tmp(out, sizeof out, "out.mid");
    path_in_tmp(folder, sizeof folder, "one");
    char *model = "tests/golden/rnn_e0_l1.rnnw";
    for (size_t i = 0; i < n; i++) {
        char *p = v[i].path;
        char *cmds[][8] = {
            {data, "notes", p, NULL},
            {listen_tool, p, NULL},
            {eval, "--model", p, folder, NULL},
            {gen, "--model", p, "--out", out, NULL},
            {gen, "--model", model, "--primer", p, "--out", out, NULL},
        };
        /* every kind of path through one tool, a FIFO through all of them */
        for (size_t c = 0; c < (i == 0 ? sizeof cmds / sizeof cmds[0] : 1); c++) {
            run_result r;
            run_tool(cmds[c], 0, 0, 0, 20, &r);
            if (!r.exited || r.code != 1 || !strstr(r.err, p) || !strstr(r.err, v[i].expect))
                fail_msg("%s %s %s: status %d%s, stderr \"%s\"", cmds[c][0], cmds[c][1], p, r.code,
                         r.exited ? "" : " (signal)", r.err);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The folder walk: each folder and file once */

static size_t total_files(const rnn_dataset *ds)
{
    return ds->files[0] + ds->files[1] + ds->files[2] + ds->n_failed;
}

static void load(const char *const *paths, size_t n, rnn_dataset *ds)
{
    char err[512];
    memset(ds, 0, sizeof *ds);
    if (rnn_dataset_load(ds, paths, n, RNN_KIND_MELODY, 4, NULL, err, sizeof err))
        fail_msg("%s", err);
}

static void test_walk_visits_once(void **state)
{
    (void)state;
    /* tree/ holds a.mid, sub/b.mid, sub/c.mid, a link up to tree/ from sub/,
     * two links to tree/ itself, a second name of a.mid (symlink) and a
     * hard link to sub/b.mid */
    char tree[300], p[600], q[600];
    path_in_tmp(tree, sizeof tree, "tree");
    assert_int_equal(mkdir(tree, 0755), 0);
    snprintf(p, sizeof p, "%s/sub", tree);
    assert_int_equal(mkdir(p, 0755), 0);
    size_t size;
    const char *names[] = {"a.mid", "sub/b.mid", "sub/c.mid"};
    for (int i = 0; i < 3; i++) {
        unsigned char *d = dense_midi(600, i, &size);
        snprintf(p, sizeof p, "%s/%s", tree, names[i]);
        write_file(p, d, size);
        free(d);
    }
    const char *const one[] = {tree};
    rnn_dataset ds;
    load(one, 1, &ds);
    assert_int_equal(total_files(&ds), 3);
    const size_t notes = ds.notes[0] + ds.notes[1] + ds.notes[2];
    rnn_dataset_free(&ds);

    snprintf(p, sizeof p, "%s/l", tree);
    assert_int_equal(symlink(".", p), 0);
    load(one, 1, &ds);
    assert_int_equal(total_files(&ds), 3); /* was 33: the link walked to depth 32 */
    rnn_dataset_free(&ds);

    snprintf(p, sizeof p, "%s/m", tree);
    assert_int_equal(symlink(".", p), 0);
    snprintf(p, sizeof p, "%s/sub/up", tree);
    assert_int_equal(symlink("..", p), 0);
    snprintf(p, sizeof p, "%s/again.mid", tree);
    assert_int_equal(symlink("a.mid", p), 0);
    snprintf(p, sizeof p, "%s/sub/b.mid", tree);
    snprintf(q, sizeof q, "%s/hard.mid", tree);
    assert_int_equal(link(p, q), 0);
    const double t0 = now();
    load(one, 1, &ds); /* two links to "." were 2^32 paths: it never ended */
    assert_true(now() - t0 < 10);
    assert_int_equal(total_files(&ds), 3);
    assert_int_equal(ds.notes[0] + ds.notes[1] + ds.notes[2], notes);
    rnn_dataset_free(&ds);

    /* the folder, a file in it and the folder through a link, given together */
    char viaf[600], vial[600];
    snprintf(viaf, sizeof viaf, "%s/sub/c.mid", tree);
    snprintf(vial, sizeof vial, "%s/l/sub", tree);
    const char *const many[] = {viaf, tree, vial, tree};
    load(many, 4, &ds);
    assert_int_equal(total_files(&ds), 3);
    assert_int_equal(ds.notes[0] + ds.notes[1] + ds.notes[2], notes);
    rnn_dataset_free(&ds);

    /* through the tool: three files, not 33 or an endless walk */
    char tool[512];
    snprintf(tool, sizeof tool, "%s/rnnmidi-data", tools_dir());
    char *argv[] = {tool, "stats", "--kind", "melody", tree, NULL};
    run_result r;
    run_tool(argv, 0, 0, 0, 20, &r);
    assert_true(r.exited);
    assert_int_equal(r.code, 0);
}

/* ------------------------------------------------------------------------ */
/* SIGTERM ends a long walk */

static char big[512];

/* A folder whose stats take the tools several seconds. */
static void make_big_folder(void)
{
    if (big[0]) return;
    path_in_tmp(big, sizeof big, "big");
    assert_int_equal(mkdir(big, 0755), 0);
    for (int i = 0; i < 8; i++) {
        size_t size;
        unsigned char *d = dense_midi((size_t)3 << 20, i, &size);
        char p[600];
        snprintf(p, sizeof p, "%s/f%d.mid", big, i);
        write_file(p, d, size);
        free(d);
    }
}

static void expect_terminated(const run_result *r, const char *tool)
{
    int by_term = (!r->exited && r->code == SIGTERM) || (r->exited && r->code == 128 + SIGTERM);
    if (!by_term || r->secs > 2.0 || !strstr(r->err, "terminated"))
        fail_msg("%s: %s %d %.2f s after SIGTERM, stderr \"%s\"", tool,
                 r->exited ? "exit" : "signal", r->code, r->secs, r->err);
}

static void test_sigterm_ends_tools(void **state)
{
    (void)state;
    make_big_folder();
    char data[512], eval[512];
    snprintf(data, sizeof data, "%s/rnnmidi-data", tools_dir());
    snprintf(eval, sizeof eval, "%s/rnnmidi-eval", tools_dir());
    char *cmds[][6] = {
        {data, "stats", big, NULL},
        {eval, "--model", "tests/golden/rnn_e0_l1.rnnw", big, NULL},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        run_result r;
        /* the plain case, then SIGTERM blocked by the parent (as a thread
         * that waits for signals passes it on to what it spawns) */
        run_tool(cmds[c], 0, SIGTERM, 0.3, 10, &r);
        expect_terminated(&r, cmds[c][0]);
        run_tool(cmds[c], SIGTERM, SIGTERM, 0.3, 10, &r);
        expect_terminated(&r, cmds[c][0]);
    }
}

/* As process 1 of a PID namespace (a container's entry point) a signal
 * without a handler does nothing. Needs `unshare --pid` (root, or user
 * namespaces); skipped without. */
static void test_sigterm_as_pid1(void **state)
{
    (void)state;
    if (system("unshare --pid --fork true >/dev/null 2>&1") != 0) {
        test_skip_note("test_sigterm_as_pid1", "unshare --pid is not allowed here");
        skip();
    }
    make_big_folder();
    char data[512];
    snprintf(data, sizeof data, "%s/rnnmidi-data", tools_dir());
    char *argv[] = {"unshare", "--pid", "--fork", data, "stats", big, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    assert_int_equal(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    /* the tool is unshare's one child */
    char children[64], buf[64] = "";
    snprintf(children, sizeof children, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    pid_t tool = 0;
    const double t0 = now();
    while (!tool && now() - t0 < 5) {
        FILE *f = fopen(children, "r");
        if (f) {
            if (fgets(buf, sizeof buf, f)) tool = (pid_t)atoi(buf);
            fclose(f);
        }
        if (!tool) usleep(5000);
    }
    if (!tool) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        test_skip_note("test_sigterm_as_pid1", "no %s to find the tool's pid", children);
        skip();
    }
    wait_for_handler(tool, SIGTERM, 3.0);
    usleep(200000);
    const double t1 = now();
    kill(tool, SIGTERM);
    int status;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now() - t1 < 4)
        usleep(5000);
    if (w == 0) {
        kill(tool, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("rnnmidi-data as process 1 still running 4 s after SIGTERM: killed");
    }
    /* unshare reports the child's end as its own */
    assert_true((WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) ||
                (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
}

/* ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    alarm(120); /* a hang fails the binary instead of blocking the suite */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnmidi_files_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char p[512], q[512];
    path_in_tmp(p, sizeof p, "fifo.mid");
    if (mkfifo(p, 0644) != 0) return -1;
    path_in_tmp(p, sizeof p, "loop.mid");
    if (symlink("loop.mid", p) != 0) return -1;
    path_in_tmp(p, sizeof p, "one");
    if (mkdir(p, 0755) != 0) return -1;
    size_t size;
    unsigned char *d =
        rnn_file_read_all("tests/fixtures/midi/fmt1_tracks.mid", 1 << 20, &size, NULL, 0);
    if (!d) return -1;
    path_in_tmp(p, sizeof p, "real.mid");
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(d, 1, size, f) != size || fclose(f) != 0) return -1;
    path_in_tmp(q, sizeof q, "one/real.mid");
    f = fopen(q, "wb");
    if (!f || fwrite(d, 1, size, f) != size || fclose(f) != 0) return -1;
    free(d);
    path_in_tmp(q, sizeof q, "link.mid");
    return symlink("real.mid", q);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_refuse_non_regular),
        cmocka_unit_test(test_tools_refuse_non_regular),
        cmocka_unit_test(test_walk_visits_once),
        cmocka_unit_test(test_sigterm_ends_tools),
        cmocka_unit_test(test_sigterm_as_pid1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
