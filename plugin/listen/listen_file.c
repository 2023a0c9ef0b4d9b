/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: a sound file through the note detector (see listen_file.h). */
#include "listen_file.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/file.h"

#define BLOCK 4096

typedef struct {
    rnn_heard_note *v;
    size_t n, cap;
    long open; /* index of the sounding note, -1 none */
} note_list;

static int add_events(note_list *l, const rnn_detected_note_event *ev, int k, double base,
                      double rate)
{
    for (int i = 0; i < k; i++) {
        double t = base + ev[i].frame / rate, est = t - ev[i].age / rate;
        if (ev[i].on) {
            if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 256;
                rnn_heard_note *v = realloc(l->v, cap * sizeof *v);
                if (!v) return -1;
                l->v = v;
                l->cap = cap;
            }
            if (est < 0.0) est = 0.0;
            l->v[l->n] = (rnn_heard_note){est, t, t, ev[i].pitch, ev[i].velocity};
            l->open = (long)l->n++;
        } else if (l->open >= 0) {
            rnn_heard_note *x = &l->v[l->open];
            x->off = est > x->on ? est : x->on;
            l->open = -1;
        }
    }
    return 0;
}

int rnn_listen_file(const char *path, const rnn_detector_params *params, rnn_heard_note **notes,
                    size_t *n, double *rate, char *err, size_t errlen)
{
    *notes = NULL;
    *n = 0;
    SF_INFO info;
    memset(&info, 0, sizeof info);
    uint64_t bytes;
    const int fd = rnn_file_open_regular(path, &bytes, err, errlen); /* no FIFO, no device */
    if (fd < 0) return -1;
    /* libsndfile closes fd when it fails, and with the SNDFILE otherwise */
    SNDFILE *f = sf_open_fd(fd, SFM_READ, &info, SF_TRUE);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, sf_strerror(NULL));
        return -1;
    }
    if (info.channels < 1 || info.channels > 64) {
        snprintf(err, errlen, "%s: %d channels", path, info.channels);
        sf_close(f);
        return -1;
    }
    char derr[200];
    rnn_detector *d = rnn_detector_create(info.samplerate, BLOCK, derr, sizeof derr);
    if (!d) {
        snprintf(err, errlen, "%s: %d Hz: %s", path, info.samplerate, derr);
        sf_close(f);
        return -1;
    }
    if (params) rnn_detector_set_params(d, params);
    const size_t ch = (size_t)info.channels;
    const int max_ev = rnn_detector_max_events(d, BLOCK);
    float *frames = malloc(BLOCK * ch * sizeof *frames), *mono = malloc(BLOCK * sizeof *mono);
    rnn_detected_note_event *ev = malloc((size_t)max_ev * sizeof *ev);
    note_list l = {NULL, 0, 0, -1};
    int rc = 0;
    if (!frames || !mono || !ev) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -1;
    }
    /* the file, then silence to let the last note end (pitch window and release) */
    const double sr = info.samplerate;
    const sf_count_t tail = (sf_count_t)(0.5 * sr);
    sf_count_t pos = 0, read_total = 0, tail_left = tail;
    while (rc == 0) {
        sf_count_t got = sf_readf_float(f, frames, BLOCK);
        if (got < 0) got = 0;
        if (got > 0) {
            read_total += got;
            for (sf_count_t i = 0; i < got; i++) {
                float s = 0.0f;
                for (size_t c = 0; c < ch; c++)
                    s += frames[(size_t)i * ch + c];
                mono[i] = s / (float)ch;
            }
        } else {
            if (tail_left <= 0) break;
            got = tail_left < BLOCK ? tail_left : BLOCK;
            memset(mono, 0, (size_t)got * sizeof *mono);
            tail_left -= got;
        }
        int k = rnn_detector_process(d, mono, (uint32_t)got, ev, max_ev);
        if (add_events(&l, ev, k, (double)pos / sr, sr) != 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
        }
        pos += got;
    }
    if (rc == 0 && sf_error(f) != SF_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s: %s", path, sf_strerror(f));
        rc = -1;
    }
    const double end = (double)read_total / sr;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        rnn_heard_note *x = &l.v[i];
        if ((long)i == l.open || x->off > end) x->off = end > x->on ? end : x->on;
        if (i + 1 < l.n && x->off > l.v[i + 1].on)
            x->off = l.v[i + 1].on > x->on ? l.v[i + 1].on : x->on;
    }
    free(frames);
    free(mono);
    free(ev);
    rnn_detector_free(d);
    sf_close(f);
    if (rc != 0) {
        free(l.v);
        return -1;
    }
    *notes = l.v;
    *n = l.n;
    *rate = sr;
    return 0;
}
