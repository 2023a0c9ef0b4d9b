/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the checkpoint file (contract in train_impl.h).
 *
 * Host byte order (a checkpoint resumes on the machine, or the cluster, that
 * wrote it): the magic, twelve int32 (kind, steps per quarter, cell, layers,
 * embed, hidden, vocab, batch, window, epoch, bad epochs, threads), five
 * int64 (seed, step, parameters, state floats, batcher bytes), two doubles
 * (best valid NLL, seconds), the dropout generator, then the parameters, the
 * two Adam moments, the best parameters, the carried state of the whole
 * global batch (with attention, each lane's count of past outputs and the
 * outputs too), the batcher's state and a CRC-32 (zlib) of all of it. A
 * resume must give the same model, batch, window, seed and thread count. */
#include "train_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../core/file.h"

#define CKPT_MAGIC "RNNCKPT\x01"

static int write_all(FILE *f, const void *p, size_t n, uLong *crc)
{
    *crc = crc32(*crc, p, (uInt)n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* Floats of the carried state of the whole global batch (2, L, Bg, H), then
 * with attention npast (Bg) and past (N, Bg, H), and copies of this
 * trainer's lanes into it (to_global) or out of it. */
static size_t global_state_size(const rnn_trainer *tr)
{
    const size_t attn = tr->N > 0 ? (size_t)tr->Bg + (size_t)tr->N * tr->Bg * tr->H : 0;
    return 2 * (size_t)tr->L * tr->Bg * tr->H + attn;
}

static void attn_state_slice(rnn_trainer *tr, float *g, int to_global)
{
    const size_t B = (size_t)tr->B, Bg = (size_t)tr->Bg, H = (size_t)tr->H, b0 = (size_t)tr->b0;
    float *gn = g + 2 * (size_t)tr->L * Bg * H, *gp = gn + Bg;
    for (size_t b = 0; b < B; b++) {
        if (to_global)
            gn[b0 + b] = (float)tr->npast[b];
        else
            tr->npast[b] = gn[b0 + b] >= 0 && gn[b0 + b] <= (float)tr->N ? (int)gn[b0 + b] : 0;
    }
    for (size_t j = 0; j < (size_t)tr->N; j++) {
        float *glob = gp + (j * Bg + b0) * H, *loc = tr->past + j * B * H;
        if (to_global)
            memcpy(glob, loc, B * H * sizeof(float));
        else
            memcpy(loc, glob, B * H * sizeof(float));
    }
}

static void state_slice(rnn_trainer *tr, float *g, int to_global)
{
    const size_t BH = (size_t)tr->B * tr->H;
    for (int part = 0; part < 2; part++)
        for (int l = 0; l < tr->L; l++) {
            float *loc = (part ? tr->acts.state_c : tr->acts.state_h) + (size_t)l * BH;
            float *glob = g + ((size_t)part * tr->L + l) * tr->Bg * tr->H + (size_t)tr->b0 * tr->H;
            if (to_global)
                memcpy(glob, loc, BH * sizeof(float));
            else
                memcpy(loc, glob, BH * sizeof(float));
        }
    if (tr->N > 0) attn_state_slice(tr, g, to_global);
}

static int write_checkpoint(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                            const rnn_batcher *bt, const float *best, const float *state,
                            size_t ssz, const rnn_run_progress *pr, char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    size_t bsz = rnn_batcher_state_size(bt);
    void *bstate = malloc(bsz);
    if (!tmp || !bstate) {
        free(tmp);
        free(bstate);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, plen + 8, "%s.tmp", path);
    rnn_batcher_state_save(bt, bstate);
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (f) {
        uLong crc = crc32(0, NULL, 0);
        int32_t head[12] = {(int32_t)o->cfg.kind, o->cfg.steps_per_quarter,
                            (int32_t)o->cfg.cell, o->cfg.layers,
                            o->cfg.embed,         o->cfg.hidden,
                            o->cfg.vocab,         o->batch,
                            o->seq_len,           pr->epoch,
                            pr->bad_epochs,       o->threads > 1 ? o->threads : 1};
        int64_t nums[5] = {(int64_t)o->seed, pr->step, (int64_t)rnn_trainer_num_params(tr),
                           (int64_t)ssz, (int64_t)bsz};
        double d[2] = {pr->best_valid, pr->seconds};
        uint64_t rng = rnn_trainer_rng_get(tr);
        size_t P = rnn_trainer_num_params(tr);
        rc = write_all(f, CKPT_MAGIC, 8, &crc) | write_all(f, head, sizeof head, &crc) |
             write_all(f, nums, sizeof nums, &crc) | write_all(f, d, sizeof d, &crc) |
             write_all(f, &rng, sizeof rng, &crc) |
             write_all(f, rnn_trainer_params(tr), P * sizeof(float), &crc) |
             write_all(f, rnn_trainer_adam_m(tr), P * sizeof(float), &crc) |
             write_all(f, rnn_trainer_adam_v(tr), P * sizeof(float), &crc) |
             write_all(f, best, P * sizeof(float), &crc) |
             write_all(f, state, ssz * sizeof(float), &crc) | write_all(f, bstate, bsz, &crc);
        uint32_t c32 = (uint32_t)crc;
        if (fwrite(&c32, 4, 1, f) != 1) rc = -1;
        if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = -1;
        if (fclose(f) != 0) rc = -1;
        if (rc == 0 && rename(tmp, path) != 0) rc = -1;
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot write the checkpoint (%s)", path, strerror(errno));
            remove(tmp);
        }
    } else {
        snprintf(err, errlen, "%s: cannot create the checkpoint (%s)", tmp, strerror(errno));
    }
    free(tmp);
    free(bstate);
    return rc;
}

static int read_all(FILE *f, void *p, size_t n, uLong *crc)
{
    if (fread(p, 1, n, f) != n) return -1;
    *crc = crc32(*crc, p, (uInt)n);
    return 0;
}

static int read_checkpoint(FILE *f, const char *path, const rnn_train_options *o, rnn_trainer *tr,
                           rnn_batcher *bt, float *best, rnn_run_progress *pr, char *err,
                           size_t errlen)
{
    size_t P = rnn_trainer_num_params(tr), ssz = global_state_size(tr);
    size_t bsz = rnn_batcher_state_size(bt);
    float *params = malloc(P * sizeof(float)), *m = malloc(P * sizeof(float)),
          *v = malloc(P * sizeof(float)), *bp = malloc(P * sizeof(float)),
          *state = malloc(ssz * sizeof(float));
    void *bstate = malloc(bsz);
    int rc = -1;
    const char *why = "truncated or unreadable";
    char magic[8];
    int32_t head[12];
    int64_t nums[5];
    double d[2];
    uint64_t rng;
    uint32_t c32;
    uLong crc = crc32(0, NULL, 0);
    if (!params || !m || !v || !bp || !state || !bstate) {
        why = "out of memory";
        goto done;
    }
    if (read_all(f, magic, 8, &crc) || memcmp(magic, CKPT_MAGIC, 8) != 0) {
        why = "not an rnnmidi checkpoint";
        goto done;
    }
    if (read_all(f, head, sizeof head, &crc) || read_all(f, nums, sizeof nums, &crc) ||
        read_all(f, d, sizeof d, &crc) || read_all(f, &rng, sizeof rng, &crc))
        goto done;
    if (head[0] != (int32_t)o->cfg.kind || head[1] != o->cfg.steps_per_quarter ||
        head[2] != (int32_t)o->cfg.cell || head[3] != o->cfg.layers || head[4] != o->cfg.embed ||
        head[5] != o->cfg.hidden || head[6] != o->cfg.vocab || head[7] != o->batch ||
        head[8] != o->seq_len) {
        why = "made with another model or batch shape (give the same options as the first run)";
        goto done;
    }
    if (head[11] != (o->threads > 1 ? o->threads : 1)) {
        why = "made with another --threads (the thread count shapes the arithmetic)";
        goto done;
    }
    if ((uint64_t)nums[0] != o->seed) {
        why = "made with another --seed";
        goto done;
    }
    if ((size_t)nums[2] != P || (size_t)nums[3] != ssz || (size_t)nums[4] != bsz) {
        why = "made on other data or sizes";
        goto done;
    }
    if (read_all(f, params, P * sizeof(float), &crc) || read_all(f, m, P * sizeof(float), &crc) ||
        read_all(f, v, P * sizeof(float), &crc) || read_all(f, bp, P * sizeof(float), &crc) ||
        read_all(f, state, ssz * sizeof(float), &crc) || read_all(f, bstate, bsz, &crc) ||
        fread(&c32, 4, 1, f) != 1)
        goto done;
    if (c32 != (uint32_t)crc) {
        why = "checksum mismatch";
        goto done;
    }
    if (fgetc(f) != EOF) {
        why = "trailing bytes";
        goto done;
    }
    if (rnn_batcher_state_load(bt, bstate, bsz) != 0) {
        why = "made on other data";
        goto done;
    }
    memcpy(rnn_trainer_params(tr), params, P * sizeof(float));
    memcpy(rnn_trainer_adam_m(tr), m, P * sizeof(float));
    memcpy(rnn_trainer_adam_v(tr), v, P * sizeof(float));
    memcpy(best, bp, P * sizeof(float));
    state_slice(tr, state, 0);
    rnn_trainer_rng_set(tr, rng);
    pr->step = nums[1];
    pr->epoch = head[9];
    pr->bad_epochs = head[10];
    pr->best_valid = d[0];
    pr->seconds = d[1];
    rc = 0;
done:
    if (rc != 0) snprintf(err, errlen, "%s: cannot resume: %s", path, why);
    free(params);
    free(m);
    free(v);
    free(bp);
    free(state);
    free(bstate);
    return rc;
}

/* Every rank parses the same bytes. */
int rnn_checkpoint_load(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                        rnn_batcher *bt, float *best, rnn_run_progress *pr, char *err,
                        size_t errlen)
{
    rnn_train_comm *cm = o->comm;
    FILE *f;
    if (!cm) {
        if (!(f = rnn_file_fopen_read(path, err, errlen))) return -1;
        int rc = read_checkpoint(f, path, o, tr, bt, best, pr, err, errlen);
        fclose(f);
        return rc;
    }
    unsigned char *buf = NULL;
    double len = -1;
    if (cm->rank == 0) {
        char why[400] = "";
        if ((f = rnn_file_fopen_read(path, why, sizeof why))) {
            long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
            if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
                fread(buf, 1, (size_t)n, f) == (size_t)n)
                len = (double)n;
            fclose(f);
        }
        if (len < 0 && why[0])
            snprintf(err, errlen, "%s", why);
        else if (len < 0)
            snprintf(err, errlen, "%s: cannot read the checkpoint (%s)", path, strerror(errno));
    }
    char e2[256];
    if (cm->bcast(cm, &len, sizeof len, 0, e2, sizeof e2) != 0) {
        if (cm->rank != 0 || len >= 0) snprintf(err, errlen, "%s", e2);
        free(buf);
        return -1;
    }
    if (len < 0) {
        if (cm->rank != 0) snprintf(err, errlen, "%s: rank 0 cannot read the checkpoint", path);
        free(buf);
        return -1;
    }
    if (cm->rank != 0 && !(buf = malloc((size_t)len))) {
        snprintf(err, errlen, "out of memory for the checkpoint");
        return -1;
    }
    if (cm->bcast(cm, buf, (size_t)len, 0, err, errlen) != 0) {
        free(buf);
        return -1;
    }
    int rc = -1;
    if ((f = fmemopen(buf, (size_t)len, "rb"))) {
        rc = read_checkpoint(f, path, o, tr, bt, best, pr, err, errlen);
        fclose(f);
    } else {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    free(buf);
    return rc;
}

/* A checkpoint of the whole group: the ranks' carried states summed into the
 * global layout (each rank fills its own lanes, zeros elsewhere), a check
 * that every rank holds the same weights, and rank 0 writes the file. */
int rnn_checkpoint_save(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                        const rnn_batcher *bt, const float *best, const rnn_run_progress *pr,
                        char *err, size_t errlen)
{
    rnn_train_comm *cm = o->comm;
    size_t ssz = global_state_size(tr);
    float *state = calloc(ssz ? ssz : 1, sizeof(float));
    if (!state) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    state_slice(tr, state, 1);
    int rc = 0;
    if (cm) {
        /* sum(h) and sum(h^2) of a 20-bit hash h of the weights: equal hashes
         * on every rank if and only if sum(h)^2 = size * sum(h^2) */
        uLong crc = crc32(0, NULL, 0);
        crc = crc32(crc, (const Bytef *)rnn_trainer_params(tr),
                    (uInt)(rnn_trainer_num_params(tr) * sizeof(float)));
        double h = (double)(crc & 0xFFFFFu), d[2] = {h, h * h};
        rc = cm->sum(cm, state, ssz, d, 2, 0, err, errlen);
        if (rc == 0 && d[0] * d[0] != (double)cm->size * d[1]) {
            snprintf(err, errlen, "the ranks' weights differ (a rank computed another update)");
            rc = -1;
        }
    }
    if (rc == 0) {
        int wrc = !cm || cm->rank == 0
                      ? write_checkpoint(path, o, tr, bt, best, state, ssz, pr, err, errlen)
                      : 0;
        rc = wrc;
        if (cm) {
            double w = wrc != 0;
            char e2[256];
            if (cm->sum(cm, NULL, 0, &w, 1, 0, e2, sizeof e2) != 0) {
                if (wrc == 0) snprintf(err, errlen, "%s", e2);
                rc = -1;
            } else if (w > 0) {
                if (cm->rank != 0) snprintf(err, errlen, "%s: rank 0 cannot write it", path);
                rc = -1;
            }
        }
    }
    free(state);
    return rc;
}

long rnn_train_checkpoint_steps(const char *path)
{
    FILE *f = rnn_file_fopen_read(path, NULL, 0);
    if (!f) return -1;
    char magic[8];
    int32_t head[12];
    int64_t nums[5];
    long steps = -1;
    if (fread(magic, 8, 1, f) == 1 && memcmp(magic, CKPT_MAGIC, 8) == 0 &&
        fread(head, sizeof head, 1, f) == 1 && fread(nums, sizeof nums, 1, f) == 1)
        steps = (long)nums[1];
    fclose(f);
    return steps;
}
