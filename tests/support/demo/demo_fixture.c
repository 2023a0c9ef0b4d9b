/* SPDX-License-Identifier: MIT */
/* Fixture presets, scratch folders, an ALSA setup without hardware and a
 * runner for the sanitizer-built demo (demo_fixture.h). */
#include "demo_fixture.h"

#include <fcntl.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Write a preset of kind/cell/sizes with weights from a seeded generator,
 * scaled so the net's output is varied, and the metadata name `name` (NULL:
 * "fixture melody" or "fixture drums"). */
int fx_write_model_named(const char *path, rnn_kind kind, rnn_cell cell, int layers, int embed,
                         int hidden, uint32_t seed, const char *name)
{
    rnn_model_config cfg = {kind, 4, cell, layers, embed, hidden, rnn_kind_vocab(kind), 0, 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(&cfg, specs);
    if (n <= 0) return -1;
    float *t[RNN_MAX_TENSORS] = {0};
    uint32_t s = seed * 2654435761u + 1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        t[i] = malloc(specs[i].count * sizeof(float));
        if (!t[i]) rc = -1;
        for (size_t j = 0; t[i] && j < specs[i].count; j++) {
            s = s * 1664525u + 1013904223u;
            t[i][j] = ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f) * 0.5f;
        }
    }
    if (!name) name = kind == RNN_KIND_DRUMS ? "fixture drums" : "fixture melody";
    rnn_meta meta[] = {{"name", name},
                       {"license", "test fixture: random weights, not a trained model"}};
    char err[256];
    if (!rc) rc = rnn_model_write(path, &cfg, meta, 2, (const float *const *)t, err, sizeof err);
    if (rc) fprintf(stderr, "fixture %s: %s\n", path, err);
    for (int i = 0; i < n; i++)
        free(t[i]);
    return rc;
}

/* A fresh folder under /tmp; path receives it. */
int fx_tmpdir(char *path, size_t n, const char *tag)
{
    snprintf(path, n, "/tmp/rnnmidi-%s-XXXXXX", tag);
    return mkdtemp(path) ? 0 : -1;
}

void fx_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

/* The sanitizer-built demo (RNNMIDI_TOOLS, else build/test). */
static const char *fx_demo(void)
{
    static char path[4096];
    const char *dir = getenv("RNNMIDI_TOOLS");
    snprintf(path, sizeof path, "%s/rnnmidi-demo", dir && *dir ? dir : "build/test");
    return path;
}

/* Leaks inside libportmidi's and libasound's own initialisation are theirs. */
static const char fx_lsan_supp[] = "leak:libportmidi.so\nleak:libasound.so\nleak:libjack.so\n";

/* An ALSA setup with one device: the "file" plugin over "null", writing
 * what is played to raw_path and, when in_path is not NULL, capturing from
 * in_path (raw samples in the stream's format). Written as HOME/.asoundrc. */
int fx_write_asoundrc_in(const char *home, const char *raw_path, const char *in_path)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/.asoundrc", home);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fprintf(f, "pcm.!default {\n  type file\n  slave.pcm \"null\"\n  file \"%s\"\n", raw_path);
    if (in_path) fprintf(f, "  infile \"%s\"\n", in_path);
    fprintf(f, "  format \"raw\"\n}\n");
    return fclose(f);
}

/* When set, the next fx_run reads its stdin from this file. */
const char *fx_stdin_path;

/* Run the demo with argv (NULL-terminated, argv[0] ignored) in cwd (NULL:
 * here) with HOME=home (NULL: unchanged). out receives stdout+stderr
 * (NUL-terminated, truncated to n). Returns the exit status, or -1. */
int fx_run(const char *home, const char *cwd, char **argv, char *out, size_t n)
{
    char supp[] = "/tmp/rnnmidi-lsan-XXXXXX";
    int sfd = mkstemp(supp);
    if (sfd < 0) return -1;
    if (write(sfd, fx_lsan_supp, sizeof fx_lsan_supp - 1) < 0) {
        close(sfd);
        return -1;
    }
    close(sfd);
    int pipefd[2];
    if (pipe(pipefd)) return -1;
    char demo[8192], here[2048] = "";
    const char *tool = fx_demo();
    if (tool[0] != '/' && !getcwd(here, sizeof here)) return -1;
    snprintf(demo, sizeof demo, "%s%s%s", here, here[0] ? "/" : "", tool);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        int devnull = open(fx_stdin_path ? fx_stdin_path : "/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        if (home) setenv("HOME", home, 1);
        char lsan[256];
        snprintf(lsan, sizeof lsan, "suppressions=%s:print_suppressions=0", supp);
        setenv("LSAN_OPTIONS", lsan, 1);
        if (cwd && chdir(cwd)) _exit(127);
        argv[0] = demo;
        execv(demo, argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t got = 0;
    ssize_t r;
    char sink[4096];
    while ((r = read(pipefd[0], got + 1 < n ? out + got : sink,
                     got + 1 < n ? n - 1 - got : sizeof sink)) > 0)
        if (got + 1 < n) got += (size_t)r;
    out[got] = 0;
    close(pipefd[0]);
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    unlink(supp);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Read a sound file as interleaved floats; *frames, *channels, *rate set. */
float *fx_read_sound(const char *path, size_t *frames, int *channels, int *rate)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) return NULL;
    float *buf = malloc((size_t)info.frames * (size_t)info.channels * sizeof(float) + 1);
    sf_count_t got = buf ? sf_readf_float(sf, buf, info.frames) : 0;
    sf_close(sf);
    *frames = (size_t)got;
    *channels = info.channels;
    *rate = info.samplerate;
    return buf;
}

/* Read a whole file; NULL when missing. */
unsigned char *fx_slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = len > 0 ? (size_t)len : 0;
    return b;
}
