/* SPDX-License-Identifier: MIT */
/* Figures of the MIDI pipeline over data/corpus (`make corpus`): parse
 * throughput (MB/s, notes/s) and encode time, as `BENCH name value unit`
 * lines. Without the corpus it says so and exits 0. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../core/encoding.h"
#include "../../training/midifile.h"

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

int main(void)
{
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
