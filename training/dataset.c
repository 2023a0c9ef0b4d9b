/* SPDX-License-Identifier: MIT */
/* rnnmidi training: MIDI files and folders to encoded sequences, split by
 * the sha256 of each file's bytes (contract in dataset.h). */
#include "dataset.h"

#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../core/lookback.h"
#include "../core/midifile.h"
#include "drumify.h"
#include "sha256.h"

#define MAX_DEPTH 32

rnn_split rnn_split_of_bytes(const void *data, size_t size)
{
    char hex[65];
    rnn_sha256_hex(data, size, hex);
    if (hex[0] == 'f') return RNN_SPLIT_TEST;
    if (hex[0] == 'e') return RNN_SPLIT_VALID;
    return RNN_SPLIT_TRAIN;
}

const char *rnn_split_name(rnn_split s)
{
    switch (s) {
    case RNN_SPLIT_TRAIN:
        return "train";
    case RNN_SPLIT_VALID:
        return "valid";
    case RNN_SPLIT_TEST:
        return "test";
    }
    return NULL;
}

int rnn_split_parse(const char *name)
{
    for (int s = 0; s < RNN_SPLITS; s++)
        if (name && strcmp(name, rnn_split_name((rnn_split)s)) == 0) return s;
    return -1;
}

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? 2 * l->cap : 64;
        char **q = realloc(l->v, c * sizeof *q);
        if (!q) return -1;
        l->v = q;
        l->cap = c;
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n]) return -1;
    l->n++;
    return 0;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int is_midi_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".mid") == 0 || strcasecmp(dot, ".midi") == 0 ||
                   strcasecmp(dot, ".kar") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The (device, inode) pairs reached so far, an open-addressing hash set:
 * a folder reached again through a symlink is not walked again, and a file
 * reached by two paths is read once. */
typedef struct {
    dev_t dev;
    ino_t ino;
    int used;
} file_id;

typedef struct {
    file_id *v;
    size_t n, cap; /* cap is 0 or a power of two */
} id_set;

static size_t id_slot(const id_set *s, dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)dev * 0x9E3779B97F4A7C15ull ^ (uint64_t)ino;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    size_t i = (size_t)h & (s->cap - 1);
    while (s->v[i].used && (s->v[i].dev != dev || s->v[i].ino != ino))
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* Add the file of st: 1 when it is new, 0 when it was reached before, -1
 * when out of memory. */
static int id_set_add(id_set *s, const struct stat *st)
{
    if (2 * (s->n + 1) > s->cap) {
        id_set g = {calloc(s->cap ? 2 * s->cap : 256, sizeof *g.v), s->n,
                    s->cap ? 2 * s->cap : 256};
        if (!g.v) return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i].used) g.v[id_slot(&g, s->v[i].dev, s->v[i].ino)] = s->v[i];
        free(s->v);
        *s = g;
    }
    size_t i = id_slot(s, st->st_dev, st->st_ino);
    if (s->v[i].used) return 0;
    s->v[i] = (file_id){st->st_dev, st->st_ino, 1};
    s->n++;
    return 1;
}

/* Collect the MIDI files under dir, each (device, inode) once. Symlinks are
 * followed; the entries of a folder are taken in name order, so which of two
 * paths to one file is kept does not depend on the file system. */
static int walk(const char *dir, int depth, id_set *seen, strlist *files, char *err, size_t errlen)
{
    if (depth > MAX_DEPTH) return 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    strlist names = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .. and hidden files */
        if (strlist_add(&names, e->d_name)) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str);
    size_t dl = strlen(dir);
    for (size_t k = 0; rc == 0 && k < names.n; k++) {
        size_t len = dl + 1 + strlen(names.v[k]) + 1;
        char *p = malloc(len);
        if (!p) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        snprintf(p, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", names.v[k]);
        struct stat st;
        if (stat(p, &st) == 0 &&
            (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && is_midi_name(names.v[k])))) {
            int fresh = id_set_add(seen, &st);
            if (fresh < 0 || (fresh && !S_ISDIR(st.st_mode) && strlist_add(files, p))) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            } else if (fresh && S_ISDIR(st.st_mode)) {
                rc = walk(p, depth + 1, seen, files, err, errlen);
            }
        }
        free(p);
    }
    strlist_free(&names);
    return rc;
}

static int add_failed(rnn_dataset *ds, const char *path, const char *reason)
{
    rnn_failed_file *q = realloc(ds->failed, (ds->n_failed + 1) * sizeof *q);
    if (!q) return -1;
    ds->failed = q;
    q[ds->n_failed].path = strdup(path);
    q[ds->n_failed].reason = strdup(reason);
    if (!q[ds->n_failed].path || !q[ds->n_failed].reason) {
        free(q[ds->n_failed].path);
        free(q[ds->n_failed].reason);
        return -1;
    }
    ds->n_failed++;
    return 0;
}

int rnn_dataset_list(const char *const *paths, size_t n_paths, char ***files_out, size_t *n_out,
                     char *err, size_t errlen)
{
    strlist files = {0};
    id_set seen = {0};
    *files_out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            snprintf(err, errlen, "%s: %s", paths[i], strerror(errno));
            goto fail;
        }
        int fresh = id_set_add(&seen, &st);
        if (fresh < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (!fresh) continue; /* given twice, or inside a folder given before */
        if (S_ISDIR(st.st_mode)) {
            if (walk(paths[i], 0, &seen, &files, err, errlen)) goto fail;
        } else if (strlist_add(&files, paths[i])) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    free(seen.v);
    if (files.n == 0) {
        snprintf(err, errlen, "no MIDI file (.mid, .midi, .kar) under the given path%s",
                 n_paths == 1 ? "" : "s");
        strlist_free(&files);
        return -1;
    }
    qsort(files.v, files.n, sizeof *files.v, cmp_str);
    *files_out = files.v;
    *n_out = files.n;
    return 0;
fail:
    free(seen.v);
    strlist_free(&files);
    return -1;
}

void rnn_dataset_list_free(char **files, size_t n)
{
    strlist l = {files, n, n};
    strlist_free(&l);
}

uint32_t rnn_cond_code(const rnn_metric_pos *p, uint16_t harmony)
{
    const uint32_t in_beat = p->step_in_beat > 511 ? 511 : (uint32_t)p->step_in_beat;
    const uint32_t beat = p->beat_in_bar > 31 ? 31 : (uint32_t)p->beat_in_bar;
    return (uint32_t)(harmony & 0xFFF) | (uint32_t)(p->bar_start != 0) << 12 |
           (uint32_t)(p->beat_start != 0) << 13 | in_beat << 14 | beat << 23;
}

int rnn_cond_code_file(const rnn_midi_file *mf, int spq, int64_t step, uint16_t harmony,
                       uint32_t *code)
{
    rnn_metric_pos p;
    if (rnn_cond_metric_file(mf->meters, mf->n_meters, mf->ppq, spq, step, &p)) return -1;
    *code = rnn_cond_code(&p, harmony);
    return 0;
}

void rnn_cond_code_columns(uint32_t code, const rnn_model_config *cfg, int k, int harmony_on,
                           float *cols)
{
    const int metric = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
    const int harmony = rnn_model_cond_offset(cfg, RNN_COND_HARMONY);
    if (metric >= 0) {
        const rnn_metric_pos p = {
            .bar_start = (int)(code >> 12 & 1),
            .beat_start = (int)(code >> 13 & 1),
            .step_in_beat = (int)(code >> 14 & 511),
            .beat_in_bar = (int)(code >> 23 & 31),
        };
        rnn_cond_metric_fill(&p, cfg->steps_per_quarter, cols + metric);
    }
    if (harmony >= 0) {
        uint32_t m = harmony_on ? code & 0xFFF : 0;
        const int r = ((k % 12) + 12) % 12; /* pitch class c sounds as c + k */
        m = ((m << r) | (m >> (12 - r))) & 0xFFF;
        rnn_cond_harmony_fill((uint16_t)m, cols + harmony);
    }
}

void rnn_lookback_step(rnn_lookback_ring *ring, const rnn_model_config *cfg, int e,
                       const rnn_metric_pos *p, float *cols)
{
    if (!cfg->lookback) return;
    const int spq = cfg->steps_per_quarter;
    rnn_lookback_push(ring, e);
    rnn_lookback_ring_fill(ring, cfg->kind,
                           p ? rnn_lookback_bar_steps(p->num, p->den, spq)
                             : rnn_lookback_bar_steps(4, 4, spq),
                           cols);
}

void rnn_seq_lookback(const rnn_seq *s, size_t t, const rnn_model_config *cfg, float *cols)
{
    if (!cfg->lookback) return;
    const int bar = s->bar ? s->bar[t] : rnn_lookback_bar_steps(4, 4, cfg->steps_per_quarter);
    rnn_lookback_fill(cfg->kind, s->events, t + 1, bar, cols);
}

void rnn_seq_columns(const rnn_seq *s, size_t t, const rnn_model_config *cfg, int harmony_on,
                     float *cols)
{
    const int C = rnn_model_cond_columns(cfg);
    const size_t tc = t + ((cfg->conditions & RNN_COND_NEXT) && t + 1 < s->len);
    if (s->cond)
        rnn_cond_code_columns(s->cond[tc], cfg, 0, harmony_on, cols);
    else
        memset(cols, 0, (size_t)C * sizeof *cols);
    rnn_seq_lookback(s, t, cfg, cols + C);
}

const float *rnn_grid_columns(const rnn_midi_meter *meters, size_t n_meters, int ppq,
                              const uint16_t *harmony, int64_t first, size_t n_harmony,
                              const rnn_model_config *cfg, int64_t step, int e,
                              rnn_lookback_ring *look, float *cols)
{
    const int C = rnn_model_input_columns(cfg), C0 = rnn_model_cond_columns(cfg);
    if (C == 0) return NULL;
    const int spq = cfg->steps_per_quarter;
    const int metric = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
    const int at_harmony = rnn_model_cond_offset(cfg, RNN_COND_HARMONY);
    const int64_t at =
        step >= 0 ? step
                  : rnn_lookback_bar_steps(n_meters ? meters[0].num : 4,
                                           n_meters ? meters[0].den : 4, spq) - 1;
    rnn_metric_pos p;
    const int placed = rnn_cond_metric_file(meters, n_meters, ppq, spq, at, &p) == 0;
    const int64_t cs = step + ((cfg->conditions & RNN_COND_NEXT) != 0);
    rnn_metric_pos pc = p;
    const int placed_c =
        cs < 0 ? placed : rnn_cond_metric_file(meters, n_meters, ppq, spq, cs, &pc) == 0;
    if (metric >= 0) {
        if (placed_c)
            rnn_cond_metric_fill(&pc, spq, cols + metric);
        else
            memset(cols + metric, 0, (size_t)rnn_cond_metric_columns(spq) * sizeof *cols);
    }
    if (at_harmony >= 0)
        rnn_cond_harmony_fill(harmony && cs >= first && (uint64_t)(cs - first) < n_harmony
                                  ? harmony[cs - first]
                                  : 0,
                              cols + at_harmony);
    if (cfg->lookback && step < 0)
        memset(cols + C0, 0, (size_t)(C - C0) * sizeof *cols);
    else if (cfg->lookback)
        rnn_lookback_step(look, cfg, e, placed ? &p : NULL, cols + C0);
    return cols;
}

/* The conditions of the sequences [first, list->count) just encoded from
 * mf: every step's metric position and, for melody, its harmony; and the
 * bar length the lookback inputs reach back over at every step. */
static int seq_conditions(rnn_seq_list *list, size_t first, const rnn_midi_file *mf, rnn_kind kind,
                          int spq, char *err, size_t errlen)
{
    for (size_t i = first; i < list->count; i++) {
        rnn_seq *s = &list->seqs[i];
        uint16_t *masks = calloc(s->len ? s->len : 1, sizeof *masks);
        s->cond = calloc(s->len ? s->len : 1, sizeof *s->cond);
        s->bar = calloc(s->len ? s->len : 1, sizeof *s->bar);
        if (!masks || !s->cond || !s->bar) {
            free(masks);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (kind == RNN_KIND_MELODY &&
            rnn_cond_harmony_file(mf->notes, mf->n_notes, mf->ppq, spq, s, masks, err, errlen)) {
            free(masks);
            return -1;
        }
        for (size_t t = 0; t < s->len; t++) {
            rnn_metric_pos p;
            if (rnn_cond_metric_file(mf->meters, mf->n_meters, mf->ppq, spq,
                                     s->start_step + (int64_t)t, &p)) {
                snprintf(err, errlen, "no metric position for step %lld",
                         (long long)(s->start_step + (int64_t)t));
                free(masks);
                return -1;
            }
            s->cond[t] = rnn_cond_code(&p, masks[t]);
            const int b = rnn_lookback_bar_steps(p.num, p.den, spq);
            s->bar[t] = (uint16_t)(b > UINT16_MAX ? UINT16_MAX : b);
        }
        free(masks);
    }
    return 0;
}

/* The encoder's inputs of the sequences [first, list->count) just encoded
 * from mf (drumify: the file's parts outside channel 10 at each step); 0,
 * 1 when the file has no such part (the sequences are then removed), or -1
 * with a message. */
static int seq_encoder_inputs(rnn_seq_list *list, size_t first, const rnn_midi_file *mf, int spq,
                              char *err, size_t errlen)
{
    uint32_t *codes;
    size_t n, other;
    if (rnn_enc_codes_file(mf, spq, &codes, &n, &other, err, errlen)) return -1;
    if (other == 0) {
        free(codes);
        for (size_t i = first; i < list->count; i++) { /* as rnn_seq_list_free does */
            rnn_seq *x = &list->seqs[i];
            free(x->events), free(x->cond), free(x->bar), free(x->enc);
        }
        list->count = first;
        return 1;
    }
    for (size_t i = first; i < list->count; i++) {
        rnn_seq *s = &list->seqs[i];
        s->enc = calloc(s->len ? s->len : 1, sizeof *s->enc);
        if (!s->enc) {
            free(codes);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t t = 0; t < s->len; t++) {
            const int64_t at = s->start_step + (int64_t)t;
            s->enc[t] = at >= 0 && (size_t)at < n ? codes[at] : 0;
        }
    }
    free(codes);
    return 0;
}

int rnn_dataset_load(rnn_dataset *ds, const char *const *paths, size_t n_paths, rnn_kind kind,
                     int steps_per_quarter, FILE *log, char *err, size_t errlen)
{
    return rnn_dataset_load_encoder(ds, paths, n_paths, kind, steps_per_quarter, 0, log, err,
                                    errlen);
}

int rnn_dataset_load_encoder(rnn_dataset *ds, const char *const *paths, size_t n_paths,
                             rnn_kind kind, int steps_per_quarter, int encoder, FILE *log,
                             char *err, size_t errlen)
{
    ds->kind = kind;
    ds->steps_per_quarter = steps_per_quarter;
    if (rnn_kind_vocab(kind) == 0) {
        snprintf(err, errlen, "unknown encoding kind %d", (int)kind);
        return -1;
    }
    strlist files = {0};
    int rc = -1;
    if (rnn_dataset_list(paths, n_paths, &files.v, &files.n, err, errlen)) return -1;
    files.cap = files.n;

    for (size_t i = 0; i < files.n; i++) {
        const char *path = files.v[i];
        char why[512];
        size_t size;
        unsigned char *data = rnn_midi_slurp(path, &size, why, sizeof why);
        rnn_midi_file mf;
        int ok = data && rnn_midi_read(data, size, path, &mf, why, sizeof why) == 0;
        if (!ok) {
            free(data);
            if (log) fprintf(log, "skipped %s\n", why);
            if (add_failed(ds, path, why)) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
            continue;
        }
        rnn_split split = rnn_split_of_bytes(data, size);
        free(data);
        char eerr[256];
        const size_t first = ds->split[split].count;
        if (rnn_encode(kind, mf.notes, mf.n_notes, mf.ppq, steps_per_quarter, &ds->split[split],
                       eerr, sizeof eerr)) {
            snprintf(why, sizeof why, "%s: %s", path, eerr);
            if (log) fprintf(log, "skipped %s\n", why);
            rnn_midi_free(&mf);
            if (add_failed(ds, path, why)) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
            continue;
        }
        if (seq_conditions(&ds->split[split], first, &mf, kind, steps_per_quarter, eerr,
                           sizeof eerr)) {
            snprintf(err, errlen, "%s: %s", path, eerr);
            rnn_midi_free(&mf);
            goto done;
        }
        const int enc = encoder ? seq_encoder_inputs(&ds->split[split], first, &mf,
                                                     steps_per_quarter, eerr, sizeof eerr)
                                : 0;
        if (enc < 0) {
            snprintf(err, errlen, "%s: %s", path, eerr);
            rnn_midi_free(&mf);
            goto done;
        }
        if (enc > 0) {
            snprintf(why, sizeof why, "%s: no part outside channel 10 for the encoder to read",
                     path);
            if (log) fprintf(log, "skipped %s\n", why);
            rnn_midi_free(&mf);
            if (add_failed(ds, path, why)) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
            continue;
        }
        ds->files[split]++;
        ds->notes[split] += mf.n_notes;
        rnn_midi_free(&mf);
    }
    rc = 0;
done:
    strlist_free(&files);
    return rc;
}

void rnn_dataset_free(rnn_dataset *ds)
{
    if (!ds) return;
    for (int s = 0; s < RNN_SPLITS; s++)
        rnn_seq_list_free(&ds->split[s]);
    for (size_t i = 0; i < ds->n_failed; i++) {
        free(ds->failed[i].path);
        free(ds->failed[i].reason);
    }
    free(ds->failed);
    memset(ds, 0, sizeof *ds);
}
