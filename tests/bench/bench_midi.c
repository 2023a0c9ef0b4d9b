/* SPDX-License-Identifier: MIT */
/* Figures of the MIDI reader on generated files: the time to merge 80,000
 * tempo changes interleaved across two tracks, and the peak memory of
 * reading a 4 MB file; then of the MIDI pipeline over data/corpus (`make
 * corpus`): parse throughput (MB/s, notes/s) and encode time, as `BENCH name
 * value unit` lines. Without the corpus it says so and skips those. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/encoding.h"
#include "../../core/midifile.h"

typedef struct {
    unsigned char *data;
    size_t size;
} blob;

static blob *files;
static size_t n_files;

static void collect(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            collect(p);
            continue;
        }
        size_t size;
        char err[512];
        unsigned char *data = rnn_midi_slurp(p, &size, err, sizeof err);
        if (!data) continue;
        blob *q = realloc(files, (n_files + 1) * sizeof *q);
        if (!q) {
            free(data);
            continue;
        }
        files = q;
        files[n_files++] = (blob){data, size};
    }
    closedir(d);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    unsigned char *d;
    size_t n, cap;
} bytes_t;

static void put(bytes_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 256;
        unsigned char *q = realloc(b->d, b->cap);
        if (!q) {
            fprintf(stderr, "bench_midi: out of memory\n");
            exit(1);
        }
        b->d = q;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_be32(bytes_t *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, p, 4);
}

/* A format-1 file: header, then the given track bodies (end-of-track added). */
static bytes_t midi_file(bytes_t *tracks, int n)
{
    bytes_t f = {0};
    unsigned char h[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, (unsigned char)n, 0x01, 0xE0};
    put(&f, h, 14);
    for (int i = 0; i < n; i++) {
        put(&f, "MTrk", 4);
        put_be32(&f, (uint32_t)tracks[i].n + 4);
        put(&f, tracks[i].d, tracks[i].n);
        put(&f, "\0\xff\x2f\0", 4);
        free(tracks[i].d);
    }
    return f;
}

/* 80,000 tempo changes, the two tracks' interleaved in time (ticks 0, 2, 4,
 * ... and 1, 3, 5, ...): milliseconds per read. */
static void bench_tempo_merge(void)
{
    bytes_t t[2] = {{0}, {0}};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < 40000; i++) {
            unsigned char e[7] = {i ? 2 : (unsigned char)k, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20};
            put(&t[k], e, 7);
        }
    bytes_t f = midi_file(t, 2);
    double t0 = now(), el;
    int reads = 0;
    do {
        rnn_midi_file mf;
        char err[256];
        if (rnn_midi_read(f.d, f.n, "tempo80k", &mf, err, sizeof err) != 0 ||
            mf.n_tempos != 80000) {
            fprintf(stderr, "bench_midi: %s\n", err);
            exit(1);
        }
        rnn_midi_free(&mf);
        reads++;
        el = now() - t0;
    } while (el < 0.5);
    printf("BENCH midi_tempo_merge_80k %.2f ms\n", 1e3 * el / reads);
    free(f.d);
}

/* Peak resident memory of a process that reads one 4 MB file of four
 * tracks of notes (rnn_midi_read_path), against the size of the notes kept. */
static void bench_read_rss(void)
{
    bytes_t t[4] = {{0}, {0}, {0}, {0}};
    for (int k = 0; k < 4; k++) {
        for (uint32_t i = 0; t[k].n < (1u << 20) - 8; i++) {
            unsigned char p = (unsigned char)(36 + (i * 7 + (uint32_t)k) % 60);
            unsigned char start[2] = {0, 0x90 | (unsigned char)k};
            put(&t[k], start, i ? 1 : 2);           /* then running status */
            unsigned char e[5] = {p, 100, 1, p, 0}; /* note-on, note-off a tick later */
            put(&t[k], e, 5);
        }
    }
    bytes_t f = midi_file(t, 4);
    char path[] = "/tmp/bench_midi_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, f.d, f.n) != (ssize_t)f.n || close(fd) != 0) {
        fprintf(stderr, "bench_midi: cannot write %s\n", path);
        exit(1);
    }
    const size_t size = f.n;
    free(f.d);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        rnn_midi_file mf;
        char err[256];
        if (rnn_midi_read_path(path, NULL, NULL, &mf, err, sizeof err) != 0) _exit(1);
        const size_t notes = mf.n_notes;
        rnn_midi_free(&mf);
        _exit(notes == 0 ? 1 : 0);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_midi: reading %s failed\n", path);
        unlink(path);
        exit(1);
    }
    rnn_midi_file mf;
    char err[256];
    if (rnn_midi_read_path(path, NULL, NULL, &mf, err, sizeof err) != 0) exit(1);
    printf("BENCH midi_read_file_4mb %.2f MB\n", (double)size / 1e6);
    printf("BENCH midi_read_notes_4mb %.2f MB\n", (double)(mf.n_notes * sizeof *mf.notes) / 1e6);
    printf("BENCH midi_read_rss_4mb %.1f MB\n", (double)ru.ru_maxrss / 1e3);
    rnn_midi_free(&mf);
    unlink(path);
}

int main(void)
{
    bench_read_rss();
    bench_tempo_merge();
    struct stat st;
    if (stat("data/corpus", &st) != 0) {
        printf("note: data/corpus is absent (run `make corpus`); MIDI figures skipped\n");
        return 0;
    }
    collect("data/corpus");
    if (n_files == 0) {
        printf("note: no file in data/corpus; MIDI figures skipped\n");
        return 0;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n_files; i++)
        bytes += files[i].size;

    /* parse: whole passes over the corpus for at least a second */
    size_t passes = 0, notes = 0;
    double t0 = now(), t;
    do {
        for (size_t i = 0; i < n_files; i++) {
            rnn_midi_file f;
            char err[512];
            if (rnn_midi_read(files[i].data, files[i].size, "bench", &f, err, sizeof err) == 0) {
                notes += f.n_notes;
                rnn_midi_free(&f);
            }
        }
        passes++;
        t = now() - t0;
    } while (t < 1.0);
    printf("BENCH midi_corpus_files %zu files\n", n_files);
    printf("BENCH midi_corpus_bytes %zu bytes\n", bytes);
    printf("BENCH midi_parse_throughput %.1f MB/s\n", (double)bytes * (double)passes / t / 1e6);
    printf("BENCH midi_parse_notes %.3g notes/s\n", (double)notes / t);

    /* encode: the parsed corpus, melody and drums */
    rnn_midi_file *parsed = calloc(n_files, sizeof *parsed);
    if (!parsed) return 1;
    for (size_t i = 0; i < n_files; i++) {
        char err[512];
        if (rnn_midi_read(files[i].data, files[i].size, "bench", &parsed[i], err, sizeof err))
            memset(&parsed[i], 0, sizeof parsed[i]);
    }
    for (int kind = RNN_KIND_MELODY; kind <= RNN_KIND_DRUMS; kind++) {
        size_t steps = 0;
        passes = 0;
        t0 = now();
        do {
            for (size_t i = 0; i < n_files; i++) {
                if (!parsed[i].ppq) continue;
                rnn_seq_list l = {0};
                char err[256];
                if (rnn_encode((rnn_kind)kind, parsed[i].notes, parsed[i].n_notes, parsed[i].ppq,
                               RNN_DEFAULT_STEPS_PER_QUARTER, &l, err, sizeof err) == 0)
                    for (size_t s = 0; s < l.count; s++)
                        steps += l.seqs[s].len;
                rnn_seq_list_free(&l);
            }
            passes++;
            t = now() - t0;
        } while (t < 0.5);
        printf("BENCH encode_%s_corpus %.2f ms\n", rnn_kind_name((rnn_kind)kind),
               1e3 * t / (double)passes);
        printf("BENCH encode_%s_steps %.3g steps/s\n", rnn_kind_name((rnn_kind)kind),
               (double)steps / t);
    }
    for (size_t i = 0; i < n_files; i++) {
        rnn_midi_free(&parsed[i]);
        free(files[i].data);
    }
    free(parsed);
    free(files);
    return 0;
}
