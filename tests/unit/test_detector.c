/* SPDX-License-Identifier: MIT */
/* The audio note detector (plugin/listen/detector) against rendered ground
 * truth. The melodies of tests/fixtures/melodies, and a few melody lines of
 * the corpus when data/corpus is there, are rendered with a sine voice, a
 * saw voice, the saw voice under white noise at 20 dB SNR and a voice-like
 * voice (slow attack, vibrato, noise), at 44.1 and 48 kHz, written to WAV and
 * read back through libsndfile, and run through the detector in blocks of
 * changing size (0, 1, 7, 64 ... 8192 frames). Notes are scored with an
 * onset tolerance of 50 ms (from the note-on's emission: what a real-time
 * host gets) and exact pitch. Targets: F1 >= 0.95 (sine), 0.90 (saw), 0.80
 * (saw + noise), 0.90 (voice); median latency <= 30 ms (voice: 45 ms).
 * Also: identical notes for every block partition, a reset equal to a fresh
 * detector, note-offs kept when the event array is full, other sample rates,
 * velocities, rnn_listen_file and `rnnmidi-listen`, and bad input
 * (silence, denormals, DC, full-scale noise, random bit patterns, clipping,
 * NaN/Inf) giving no or sensible notes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/encoding.h"
#include "../../plugin/listen/listen_file.h"
#include "../../training/dataset.h"
#include "../support/skip.h"
#include "../support/listen/melody_audio.h"

#define MELODY_DIR "tests/fixtures/melodies"
#define CORPUS_DIR "data/corpus/freedink-data"
#define TOL 0.050

static const uint32_t BLOCKS[] = {64, 100, 0, 1024, 8192, 7, 256, 1, 333};
#define N_BLOCKS (sizeof BLOCKS / sizeof BLOCKS[0])

/* The issue's targets for sine, saw and saw + noise; the voice-like voice
 * (40 ms attack, vibrato, noise) is held to F1 >= 0.90 and, as its attack
 * alone takes 40 ms, to a median latency of 45 ms. */
static const double TARGET_F1[4] = {0.95, 0.90, 0.80, 0.90};
static const double TARGET_LATENCY_MS[4] = {30.0, 30.0, 30.0, 45.0};

typedef struct {
    char name[64];
    ma_notes notes;
} melody;

static melody *g_mel;
static size_t g_n_mel;
static char g_tmp[64];

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const melody *)a)->name, ((const melody *)b)->name);
}

static void load_fixtures(void)
{
    DIR *dir = opendir(MELODY_DIR);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || len > 60 || strcmp(e->d_name + len - 4, ".txt")) continue;
        g_mel = realloc(g_mel, (g_n_mel + 1) * sizeof *g_mel);
        assert_non_null(g_mel);
        melody *m = &g_mel[g_n_mel++];
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%.*s", (int)(len - 4), e->d_name);
        char path[320];
        snprintf(path, sizeof path, "%s/%.*s", MELODY_DIR, (int)len, e->d_name);
        assert_int_equal(ma_load(path, &m->notes), 0);
    }
    closedir(dir);
    qsort(g_mel, g_n_mel, sizeof *g_mel, cmp_name);
}

/* Melody lines of a few corpus files: skyline sequences from the dataset
 * reader, 16th = 125 ms, octave-shifted into MIDI 48..84, notes capped at
 * 800 ms, 30 notes from each of the first three sequences that have them
 * with at least 6 distinct pitches. */
static size_t load_corpus(void)
{
    struct stat st;
    if (stat(CORPUS_DIR, &st) != 0) {
        test_skip_note("corpus melodies", "%s is absent (make corpus)", CORPUS_DIR);
        return 0;
    }
    rnn_dataset ds;
    memset(&ds, 0, sizeof ds);
    const char *paths[] = {CORPUS_DIR};
    char err[256];
    if (rnn_dataset_load(&ds, paths, 1, RNN_KIND_MELODY, 4, NULL, err, sizeof err) != 0) {
        test_skip_note("corpus melodies", "the corpus did not load: %s", err);
        return 0;
    }
    size_t added = 0;
    for (int sp = 0; sp < RNN_SPLITS && added < 3; sp++)
        for (size_t i = 0; i < ds.split[sp].count && added < 3; i++) {
            const rnn_seq *q = &ds.split[sp].seqs[i];
            rnn_note nb[64];
            size_t n = rnn_decode(RNN_KIND_MELODY, q->events, q->len, 0, 90, nb, 64);
            if (n < 30) continue;
            int seen[128] = {0}, distinct = 0; /* a melody, not a repeated drum-like note */
            for (size_t k = 0; k < 30; k++)
                distinct += !seen[nb[k].pitch]++;
            if (distinct < 6) continue;
            melody m;
            memset(&m, 0, sizeof m);
            snprintf(m.name, sizeof m.name, "corpus-%s-%zu", rnn_split_name((rnn_split)sp), i);
            const double step = 0.125, t0 = 0.25 - nb[0].on * step;
            for (size_t k = 0; k < 30; k++) {
                int p = nb[k].pitch;
                while (p < 48)
                    p += 12;
                while (p > 84)
                    p -= 12;
                double on = t0 + nb[k].on * step, off = t0 + nb[k].off * step;
                if (off - on > 0.8) off = on + 0.8;
                if (k + 1 < 30 && off > t0 + nb[k + 1].on * step) off = t0 + nb[k + 1].on * step;
                if (off - on < 0.1) continue;
                ma_note x = {on, off, p, 70 + (int)(k * 7 % 40)};
                assert_int_equal(ma_push(&m.notes, x), 0);
            }
            g_mel = realloc(g_mel, (g_n_mel + 1) * sizeof *g_mel);
            assert_non_null(g_mel);
            g_mel[g_n_mel++] = m;
            added++;
        }
    rnn_dataset_free(&ds);
    if (!added) test_skip_note("corpus melodies", "no corpus sequence has 30 notes");
    return added;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/rnnmidi-detector-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    load_fixtures();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_n_mel; i++)
        ma_notes_free(&g_mel[i].notes);
    free(g_mel);
    rmdir(g_tmp);
    return 0;
}

static rnn_detector *make(double rate)
{
    char err[256];
    rnn_detector *d = rnn_detector_create(rate, 8192, err, sizeof err);
    if (!d) fail_msg("%s", err);
    return d;
}

/* Render, write to WAV, read back, detect. */
static void run_one(const melody *m, ma_voice v, int rate, ma_dets *det_out)
{
    size_t n = 0;
    float *y = ma_render(&m->notes, v, rate, 20.0, 7, &n);
    assert_non_null(y);
    char path[160];
    snprintf(path, sizeof path, "%s/%s-%s-%d.wav", g_tmp, m->name, ma_voice_name(v), rate);
    assert_int_equal(ma_write_wav(path, y, n, rate), 0);
    free(y);
    size_t n2 = 0;
    int rate2 = 0;
    y = ma_read_audio(path, &n2, &rate2);
    assert_non_null(y);
    assert_int_equal(n2, n);
    assert_int_equal(rate2, rate);
    unlink(path);

    rnn_detector *d = make(rate);
    ma_dets det = {0};
    assert_int_equal(ma_detect(d, y, n, BLOCKS, N_BLOCKS, &det), 0);
    assert_int_equal(rnn_detector_dropped_events(d), 0);
    rnn_detector_free(d);
    free(y);
    *det_out = det;
}

/* Sum the scores of a set of melodies for one voice and rate. */
static void score_set(size_t first, size_t last, const char *label)
{
    static const int rates[2] = {44100, 48000};
    int failures = 0;
    print_message("%-10s %-16s %6s %5s %5s %5s %6s %6s %6s %8s %8s\n", "set", "voice", "rate",
                  "true", "det", "hit", "P", "R", "F1", "lat_ms", "est_ms");
    for (int v = 0; v < 4; v++)
        for (int r = 0; r < 2; r++) {
            int truth = 0, det = 0, hit = 0;
            double lat[4096], est[4096];
            size_t nl = 0;
            for (size_t i = first; i < last; i++) {
                ma_dets dd = {0};
                run_one(&g_mel[i], (ma_voice)v, rates[r], &dd);
                assert_true(nl + g_mel[i].notes.n <= 4096);
                ma_score s = ma_match(&g_mel[i].notes, &dd, TOL, lat + nl, est + nl);
                truth += s.truth;
                det += s.detected;
                hit += s.matched;
                nl += (size_t)s.matched;
                ma_dets_free(&dd);
            }
            assert_int_equal((int)nl, hit);
            double P = det ? (double)hit / det : 0, R = truth ? (double)hit / truth : 0;
            double F1 = P + R > 0 ? 2 * P * R / (P + R) : 0;
            double ml = ma_median(lat, nl), me = ma_median(est, nl);
            print_message("%-10s %-16s %6d %5d %5d %5d %6.3f %6.3f %6.3f %8.1f %8.1f\n", label,
                          ma_voice_name((ma_voice)v), rates[r], truth, det, hit, P, R, F1, ml, me);
            assert_true(truth >= 24);
            if (F1 < TARGET_F1[v]) {
                print_error("%s %s %d Hz: F1 %.3f below %.2f\n", label, ma_voice_name((ma_voice)v),
                            rates[r], F1, TARGET_F1[v]);
                failures++;
            }
            if (!(ml <= TARGET_LATENCY_MS[v])) {
                print_error("%s %s %d Hz: median latency %.1f ms above %.0f ms\n", label,
                            ma_voice_name((ma_voice)v), rates[r], ml, TARGET_LATENCY_MS[v]);
                failures++;
            }
        }
    assert_int_equal(failures, 0);
}

static void test_fixture_melodies(void **state)
{
    (void)state;
    assert_true(g_n_mel >= 3);
    size_t notes = 0;
    for (size_t i = 0; i < g_n_mel; i++) {
        const ma_notes *t = &g_mel[i].notes;
        for (size_t k = 0; k < t->n; k++) {
            assert_in_range(t->v[k].pitch, 48, 84);
            double dur = t->v[k].off - t->v[k].on;
            assert_true(dur > 0.099 && dur < 0.801);
            if (k) assert_true(t->v[k].on >= t->v[k - 1].off - 1e-9); /* monophonic */
        }
        notes += t->n;
    }
    print_message("fixtures: %zu melodies, %zu notes per voice and rate\n", g_n_mel, notes);
    score_set(0, g_n_mel, "fixtures");
}

static void test_corpus_melodies(void **state)
{
    (void)state;
    size_t first = g_n_mel;
    if (load_corpus() == 0) return;
    score_set(first, g_n_mel, "corpus");
}

/* The hop buffering is exact: every partition of the input into blocks
 * gives the same notes at the same absolute times. */
static void test_block_partitions(void **state)
{
    (void)state;
    const melody *m = &g_mel[0];
    size_t n = 0;
    float *y = ma_render(&m->notes, MA_SAW_NOISE, 48000, 20.0, 3, &n);
    assert_non_null(y);
    static const uint32_t parts[4][3] = {{8192, 8192, 8192}, {1, 1, 1}, {64, 64, 64}, {0, 517, 3}};
    ma_dets ref = {0};
    for (int p = 0; p < 4; p++) {
        rnn_detector *d = make(48000);
        ma_dets det = {0};
        assert_int_equal(ma_detect(d, y, n, parts[p], 3, &det), 0);
        rnn_detector_free(d);
        if (p == 0) {
            ref = det;
            assert_true(ref.n >= 20);
            continue;
        }
        assert_int_equal(det.n, ref.n);
        for (size_t i = 0; i < det.n; i++) {
            assert_int_equal(det.v[i].pitch, ref.v[i].pitch);
            assert_int_equal(det.v[i].velocity, ref.v[i].velocity);
            assert_true(fabs(det.v[i].emitted - ref.v[i].emitted) < 1e-9);
            assert_true(fabs(det.v[i].on - ref.v[i].on) < 1e-9);
            assert_true(fabs(det.v[i].off - ref.v[i].off) < 1e-9);
        }
        ma_dets_free(&det);
    }
    ma_dets_free(&ref);
    free(y);
}

/* After reset (mid-note), the detector answers exactly as a fresh one. */
static void test_reset_equals_fresh(void **state)
{
    (void)state;
    const melody *m = &g_mel[g_n_mel > 1 ? 1 : 0];
    size_t n = 0;
    float *y = ma_render(&m->notes, MA_SAW, 44100, 20.0, 3, &n);
    assert_non_null(y);
    rnn_detector *fresh = make(44100), *used = make(44100);
    rnn_detected_note_event ev[64];
    size_t half = n / 3;
    for (size_t pos = 0; pos < half; pos += 512)
        rnn_detector_process(used, y + pos, (uint32_t)(half - pos < 512 ? half - pos : 512), ev,
                             64);
    rnn_detector_reset(used);
    assert_int_equal(rnn_detector_current_pitch(used), -1);
    ma_dets a = {0}, b = {0};
    assert_int_equal(ma_detect(fresh, y, n, BLOCKS, N_BLOCKS, &a), 0);
    assert_int_equal(ma_detect(used, y, n, BLOCKS, N_BLOCKS, &b), 0);
    assert_true(a.n >= 20);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.v[i].pitch, b.v[i].pitch);
        assert_true(fabs(a.v[i].emitted - b.v[i].emitted) < 1e-9);
    }
    ma_dets_free(&a);
    ma_dets_free(&b);
    rnn_detector_free(fresh);
    rnn_detector_free(used);
    free(y);
}

/* With room for one event per call, note-offs are deferred, not lost: the
 * stream stays paired (ma_collect checks it) and every note ends. */
static void test_small_event_array(void **state)
{
    (void)state;
    const melody *m = &g_mel[0];
    size_t n = 0;
    float *y = ma_render(&m->notes, MA_SINE, 48000, 20.0, 3, &n);
    assert_non_null(y);
    rnn_detector *d = make(48000);
    ma_dets det = {0};
    int open = -1;
    rnn_detected_note_event ev[1];
    size_t pos = 0;
    while (pos < n) {
        uint32_t b = (uint32_t)(n - pos < 4096 ? n - pos : 4096);
        int k = rnn_detector_process(d, y + pos, b, ev, 1);
        assert_in_range(k, 0, 1);
        assert_int_equal(ma_collect(&det, &open, ev, k, pos, b, 48000.0), 0);
        pos += b;
    }
    /* silence flushes the last deferred note-off */
    float zeros[4096] = {0};
    for (int i = 0; i < 8; i++) {
        int k = rnn_detector_process(d, zeros, 4096, ev, 1);
        assert_int_equal(ma_collect(&det, &open, ev, k, pos, 4096, 48000.0), 0);
        pos += 4096;
    }
    assert_int_equal(open, -1);
    assert_true(det.n >= 10);
    print_message("one event per 4096-frame block: %zu notes, %llu note-ons dropped\n", det.n,
                  (unsigned long long)rnn_detector_dropped_events(d));
    ma_dets_free(&det);
    rnn_detector_free(d);
    free(y);
}

/* Run a signal through and return the notes (stream checked). */
static ma_dets detect_signal(const float *y, size_t n, double rate, rnn_detector **keep)
{
    rnn_detector *d = make(rate);
    ma_dets det = {0};
    assert_int_equal(ma_detect(d, y, n, BLOCKS, N_BLOCKS, &det), 0);
    for (size_t i = 0; i < det.n; i++) {
        assert_in_range(det.v[i].pitch, 0, 127);
        assert_in_range(det.v[i].velocity, 1, 127);
        assert_true(isfinite(det.v[i].on) && isfinite(det.v[i].off));
    }
    if (keep)
        *keep = d;
    else
        rnn_detector_free(d);
    return det;
}

static void test_bad_input(void **state)
{
    (void)state;
    const double rate = 48000;
    const size_t n = 5 * 48000;
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    ma_dets det;

    memset(y, 0, n * sizeof *y); /* silence */
    det = detect_signal(y, n, rate, NULL);
    assert_int_equal(det.n, 0);
    ma_dets_free(&det);

    for (size_t i = 0; i < n; i++) /* denormal dust */
        y[i] = (i & 1 ? 1e-40f : -1e-40f) * (float)(i % 7);
    det = detect_signal(y, n, rate, NULL);
    assert_int_equal(det.n, 0);
    ma_dets_free(&det);

    for (size_t i = 0; i < n; i++) /* DC, then a DC step */
        y[i] = i < n / 2 ? 0.5f : -0.9f;
    det = detect_signal(y, n, rate, NULL);
    assert_int_equal(det.n, 0);
    ma_dets_free(&det);

    uint64_t s = 99; /* full-scale white noise: no pitch to hold */
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(2.0 * ma_uniform(&s) - 1.0);
    det = detect_signal(y, n, rate, NULL);
    print_message("full-scale noise, 5 s: %zu notes\n", det.n);
    assert_true(det.n <= 2);
    ma_dets_free(&det);

    for (size_t i = 0; i < n; i++) { /* random bit patterns: NaNs, infinities, denormals */
        uint32_t bits = (uint32_t)(ma_uniform(&s) * 4294967296.0);
        memcpy(&y[i], &bits, sizeof bits);
    }
    det = detect_signal(y, n, rate, NULL);
    ma_dets_free(&det);

    for (size_t i = 0; i < n; i++) /* values far beyond full scale */
        y[i] = (i / 4800) & 1 ? 1e30f : -1e30f;
    det = detect_signal(y, n, rate, NULL);
    ma_dets_free(&det);
    free(y);

    /* a melody amplified 20x and clipped at +-1 still gives its notes */
    const melody *m = &g_mel[0];
    size_t nm = 0;
    float *z = ma_render(&m->notes, MA_SAW, rate, 20.0, 3, &nm);
    assert_non_null(z);
    for (size_t i = 0; i < nm; i++)
        z[i] = fmaxf(-1.0f, fminf(1.0f, 20.0f * z[i]));
    det = detect_signal(z, nm, rate, NULL);
    ma_score sc = ma_score_notes(&m->notes, &det, TOL);
    print_message("clipped 26 dB: F1 %.3f\n", sc.f1);
    assert_true(sc.f1 >= 0.8);
    ma_dets_free(&det);

    /* NaN and Inf in the input: replaced, counted, the notes survive */
    free(z);
    z = ma_render(&m->notes, MA_SAW, rate, 20.0, 3, &nm);
    assert_non_null(z);
    size_t bad = 0;
    for (size_t i = 1000; i < nm; i += 9973) {
        z[i] = (bad % 3 == 0) ? NAN : (bad % 3 == 1) ? INFINITY : -INFINITY;
        bad++;
    }
    for (size_t i = nm / 2; i < nm / 2 + 256; i++, bad++) /* a whole hop of NaN */
        z[i] = NAN;
    rnn_detector *d = NULL;
    det = detect_signal(z, nm, rate, &d);
    assert_int_equal(rnn_detector_nonfinite_samples(d), bad);
    sc = ma_score_notes(&m->notes, &det, TOL);
    print_message("%zu NaN/Inf samples: F1 %.3f\n", bad, sc.f1);
    assert_true(sc.f1 >= 0.85);
    ma_dets_free(&det);
    rnn_detector_free(d);
    free(z);

    /* NULL input or zero frames: nothing happens */
    d = make(rate);
    rnn_detected_note_event ev[4];
    assert_int_equal(rnn_detector_process(d, NULL, 0, ev, 4), 0);
    assert_int_equal(rnn_detector_process(d, NULL, 100, ev, 4), 0);
    float one = 0.5f;
    assert_int_equal(rnn_detector_process(d, &one, 1, NULL, 0), 0);
    rnn_detector_free(d);
}

static void test_create_and_params(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(rnn_detector_create(7999.0, 64, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(rnn_detector_create(NAN, 64, err, sizeof err));
    assert_null(rnn_detector_create(48000, -1, err, sizeof err));
    assert_null(rnn_detector_create(400000, 64, NULL, 0));
    static const struct {
        double rate;
        uint32_t hop;
    } want[] = {{8000, 32}, {22050, 128}, {44100, 256}, {48000, 256}, {96000, 512}, {192000, 1024}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        rnn_detector *d = make(want[i].rate);
        assert_int_equal(rnn_detector_hop_size(d), want[i].hop);
        /* the pitch window holds two periods of 100 Hz */
        assert_true(rnn_detector_pitch_window(d) >= 2.0 * want[i].rate / 100.0);
        assert_true(rnn_detector_max_events(d, 0) >= 1);
        assert_true(rnn_detector_max_events(d, 8192) >= (int)(2 * (8192 / want[i].hop)));
        rnn_detector_free(d);
    }
    rnn_detector_free(NULL);

    rnn_detector *d = make(48000);
    rnn_detector_params p, q;
    rnn_detector_default_params(&p);
    rnn_detector_get_params(d, &q);
    assert_memory_equal(&p, &q, sizeof p);
    p.onset_threshold = NAN;
    p.gate_db = 20.0f;
    p.median_hops = 4;
    p.min_pitch = 90;
    p.max_pitch = 10;
    rnn_detector_set_params(d, &p);
    rnn_detector_get_params(d, &q);
    assert_true(q.onset_threshold >= 0.01f && q.onset_threshold <= 2.0f);
    assert_true(q.gate_db <= -10.0f);
    assert_int_equal(q.median_hops % 2, 1);
    assert_true(q.min_pitch <= q.max_pitch);
    rnn_detector_free(d);

    /* a pitch range excluding the melody: no notes */
    const melody *m = &g_mel[0];
    size_t n = 0;
    float *y = ma_render(&m->notes, MA_SINE, 48000, 20.0, 3, &n);
    assert_non_null(y);
    d = make(48000);
    rnn_detector_default_params(&p);
    p.min_pitch = 100;
    rnn_detector_set_params(d, &p);
    ma_dets det = {0};
    assert_int_equal(ma_detect(d, y, n, BLOCKS, N_BLOCKS, &det), 0);
    assert_int_equal(det.n, 0);
    rnn_detector_free(d);
    free(y);
}

/* Other sample rates detect the same melody; louder notes get higher
 * velocities. */
static void test_rates_and_velocity(void **state)
{
    (void)state;
    static const double rates[] = {22050, 32000, 96000};
    const melody *m = &g_mel[0];
    for (size_t r = 0; r < 3; r++) {
        size_t n = 0;
        float *y = ma_render(&m->notes, MA_SAW, rates[r], 20.0, 3, &n);
        assert_non_null(y);
        ma_dets det = detect_signal(y, n, rates[r], NULL);
        ma_score sc = ma_score_notes(&m->notes, &det, TOL);
        print_message("%s saw at %.0f Hz: F1 %.3f, median latency %.1f ms\n", m->name, rates[r],
                      sc.f1, sc.median_latency_ms);
        assert_true(sc.f1 >= 0.90);
        ma_dets_free(&det);
        free(y);
    }

    ma_notes loud = {0};
    for (int k = 0; k < 12; k++) {
        ma_note x = {0.25 + 0.4 * k, 0.55 + 0.4 * k, k % 3 ? 62 : 67, k % 2 ? 120 : 30};
        assert_int_equal(ma_push(&loud, x), 0);
    }
    size_t n = 0;
    float *y = ma_render(&loud, MA_SAW, 48000, 20.0, 3, &n);
    assert_non_null(y);
    ma_dets det = detect_signal(y, n, 48000, NULL);
    assert_int_equal(det.n, 12);
    int lo_max = 0, hi_min = 127;
    for (size_t i = 0; i < det.n; i++) {
        if (i % 2)
            hi_min = det.v[i].velocity < hi_min ? det.v[i].velocity : hi_min;
        else
            lo_max = det.v[i].velocity > lo_max ? det.v[i].velocity : lo_max;
    }
    print_message("velocity 30 -> at most %d, velocity 120 -> at least %d\n", lo_max, hi_min);
    assert_true(hi_min > lo_max + 20);
    ma_dets_free(&det);
    ma_notes_free(&loud);
    free(y);
}

/* rnn_listen_file on a stereo 16-bit WAV at 22.05 kHz and a mono float WAV
 * at 48 kHz: the note-ons come exactly when the detector run in-process on
 * the same samples emits them, the estimated onsets score against the truth
 * and the estimated offsets lie near the true ones. */
static void test_listen_file(void **state)
{
    (void)state;
    const melody *m = &g_mel[g_n_mel > 2 ? 2 : 0];
    static const int rates[2] = {22050, 48000};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        float *y = ma_render(&m->notes, MA_SAW_NOISE, rates[k], 20.0, 4, &n);
        assert_non_null(y);
        char path[160];
        snprintf(path, sizeof path, "%s/listen-%d.wav", g_tmp, k);
        assert_int_equal(k == 0 ? ma_write_wav_stereo16(path, y, n, rates[k])
                                : ma_write_wav(path, y, n, rates[k]),
                         0);
        free(y);

        rnn_heard_note *heard = NULL;
        size_t nh = 0;
        double rate = 0;
        char err[256];
        if (rnn_listen_file(path, NULL, &heard, &nh, &rate, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_true(rate == rates[k]);

        size_t n2 = 0;
        int r2 = 0;
        y = ma_read_audio(path, &n2, &r2);
        assert_non_null(y);
        static const uint32_t block[1] = {4096};
        rnn_detector *d = make(rates[k]);
        ma_dets ref = {0};
        assert_int_equal(ma_detect(d, y, n2, block, 1, &ref), 0);
        rnn_detector_free(d);
        assert_int_equal(nh, ref.n);
        ma_dets est = {0};
        est.v = calloc(nh + 1, sizeof *est.v);
        assert_non_null(est.v);
        for (size_t i = 0; i < nh; i++) {
            assert_int_equal(heard[i].pitch, ref.v[i].pitch);
            assert_true(fabs(heard[i].emitted - ref.v[i].emitted) < 1e-9);
            assert_true(heard[i].on <= heard[i].emitted && heard[i].on <= heard[i].off);
            if (i + 1 < nh) assert_true(heard[i].off <= heard[i + 1].on);
            est.v[i] =
                (ma_det){heard[i].on, heard[i].on, heard[i].off, heard[i].pitch, heard[i].velocity};
        }
        est.n = nh;
        ma_score sc = ma_score_notes(&m->notes, &est, TOL);
        /* the offsets too: the estimated release of each note heard */
        double off_err[256];
        size_t no = 0;
        for (size_t a = 0; a < m->notes.n && no < 256; a++)
            for (size_t b = 0; b < nh; b++)
                if (heard[b].pitch == m->notes.v[a].pitch &&
                    fabs(heard[b].on - m->notes.v[a].on) <= TOL) {
                    off_err[no++] = 1000.0 * fabs(heard[b].off - m->notes.v[a].off);
                    break;
                }
        double off_med = ma_median(off_err, no);
        print_message("listen_file: median |offset error| %.1f ms over %zu notes\n", off_med, no);
        assert_true(off_med <= 40.0);
        print_message("listen_file %s %d Hz: %zu notes, F1 of estimated onsets %.3f, median "
                      "error %.1f ms\n",
                      m->name, rates[k], nh, sc.f1, sc.median_latency_ms);
        assert_true(sc.f1 >= 0.9);
        ma_dets_free(&est);
        ma_dets_free(&ref);
        free(heard);
        free(y);
        unlink(path);
    }
    rnn_heard_note *heard = NULL;
    size_t nh = 0;
    double rate = 0;
    char err[256] = "";
    assert_int_equal(rnn_listen_file("tests/fixtures/melodies/riff.txt", NULL, &heard, &nh, &rate,
                                     err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "riff.txt"));
}

/* `rnnmidi-listen` (the sanitizer build in RNNMIDI_TOOLS, else
 * build/test) prints exactly the notes rnn_listen_file finds, and exits 1 on
 * a file it cannot read. */
static char *run_tool(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    int c;
    while ((c = fgetc(p)) != EOF) {
        if (n + 1 == cap) {
            cap *= 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
        text[n++] = (char)c;
    }
    text[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return text;
}

static void test_listen_tool(void **state)
{
    (void)state;
    const char *dir = getenv("RNNMIDI_TOOLS");
    char tool[256];
    snprintf(tool, sizeof tool, "%s/rnnmidi-listen", dir && *dir ? dir : "build/test");
    if (access(tool, X_OK) != 0) fail_msg("%s is not built (make %s)", tool, tool);

    const melody *m = &g_mel[0];
    size_t n = 0;
    float *y = ma_render(&m->notes, MA_SAW_NOISE, 44100, 20.0, 9, &n);
    assert_non_null(y);
    char path[160];
    snprintf(path, sizeof path, "%s/tool.wav", g_tmp);
    assert_int_equal(ma_write_wav_stereo16(path, y, n, 44100), 0);
    free(y);

    rnn_heard_note *heard = NULL;
    size_t nh = 0;
    double rate = 0;
    char err[256];
    if (rnn_listen_file(path, NULL, &heard, &nh, &rate, err, sizeof err) != 0) fail_msg("%s", err);
    assert_true(nh >= 20);
    size_t cap = 64 * nh + 1, len = 0;
    char *want = malloc(cap);
    assert_non_null(want);
    want[0] = 0;
    for (size_t i = 0; i < nh; i++)
        len += (size_t)snprintf(want + len, cap - len, "%.3f %.3f %d\n", heard[i].on, heard[i].off,
                                heard[i].pitch);
    free(heard);

    char cmd[512];
    int status = -1;
    snprintf(cmd, sizeof cmd, "%s %s", tool, path);
    char *got = run_tool(cmd, &status);
    assert_int_equal(status, 0);
    assert_string_equal(got, want);
    print_message("%s: %zu notes, as rnn_listen_file finds them\n", cmd, nh);
    free(got);
    free(want);
    unlink(path);

    snprintf(cmd, sizeof cmd, "%s %s/missing.wav 2>/dev/null", tool, g_tmp);
    got = run_tool(cmd, &status);
    assert_int_equal(status, 1);
    assert_string_equal(got, "");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_params),  cmocka_unit_test(test_fixture_melodies),
        cmocka_unit_test(test_block_partitions),   cmocka_unit_test(test_reset_equals_fresh),
        cmocka_unit_test(test_small_event_array),  cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_rates_and_velocity), cmocka_unit_test(test_listen_file),
        cmocka_unit_test(test_listen_tool),        cmocka_unit_test(test_corpus_melodies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
