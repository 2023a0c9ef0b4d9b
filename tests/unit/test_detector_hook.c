/* SPDX-License-Identifier: MIT */
/* Real-time safety of the detector and the libraries it calls (libm, libc),
 * which the link-time trap of test_rt_detector cannot see into. This
 * executable defines malloc, calloc, realloc, free, posix_memalign,
 * aligned_alloc, memalign and pthread_mutex_lock itself; the dynamic linker
 * then binds every library's calls to these, and they count while armed
 * before passing on to glibc. Built without sanitizers (ASan replaces the
 * same functions) and against the release build of librnnlisten. Checks,
 * at 44.1 and 48 kHz with the detector's own sizes:
 *  - the hook sees allocations made inside libc (strdup) and in the
 *    analysis' create calls, so a zero below means something;
 *  - rnn_onset_process, rnn_yin_process, rnn_rfft_forward, their getters,
 *    setters and resets make no call to any of them, hop after hop;
 *  - rnn_detector_process, _reset and _set_params make none either;
 * and prints what the create/free calls take (allowed: main/worker thread). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugin/listen/fft.h"
#include "../../plugin/listen/onset.h"
#include "../../plugin/listen/yin.h"
#include "../support/listen/melody_audio.h"

/* ---- the hook --------------------------------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

enum { H_MALLOC, H_CALLOC, H_REALLOC, H_FREE, H_ALIGNED, H_LOCK, H_KINDS };
static const char *const hook_name[H_KINDS] = {"malloc", "calloc",  "realloc",
                                               "free",   "aligned", "mutex_lock"};
static volatile int hook_armed;
static volatile long hook_count[H_KINDS];

static void hook_arm(void)
{
    for (int i = 0; i < H_KINDS; i++)
        hook_count[i] = 0;
    hook_armed = 1;
}

static long hook_disarm(void)
{
    hook_armed = 0;
    long n = 0;
    for (int i = 0; i < H_KINDS; i++)
        n += hook_count[i];
    return n;
}

#define HOOK_COUNT(k)                                                                              \
    do {                                                                                           \
        if (hook_armed) hook_count[k]++;                                                           \
    } while (0)

void *malloc(size_t n)
{
    HOOK_COUNT(H_MALLOC);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    HOOK_COUNT(H_CALLOC);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    HOOK_COUNT(H_REALLOC);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    HOOK_COUNT(H_FREE);
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    HOOK_COUNT(H_ALIGNED);
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    HOOK_COUNT(H_ALIGNED);
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    HOOK_COUNT(H_ALIGNED);
    return __libc_memalign(align, n);
}

typedef int (*lock_fn)(pthread_mutex_t *);
static lock_fn real_lock;

int pthread_mutex_lock(pthread_mutex_t *m)
{
    HOOK_COUNT(H_LOCK);
    if (!real_lock) real_lock = (lock_fn)(uintptr_t)dlsym(RTLD_NEXT, "pthread_mutex_lock");
    return real_lock(m);
}

static void report(const char *what, int rate)
{
    char line[256];
    int k = snprintf(line, sizeof line, "%-34s %5d Hz:", what, rate);
    for (int i = 0; i < H_KINDS; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %s %ld", hook_name[i], hook_count[i]);
    print_message("%s\n", line);
}

/* ---- tests ------------------------------------------------------------ */

static void test_hook_sees_calls(void **state)
{
    (void)state;
    hook_arm();
    char *t = strdup("rnnmidi");
    free(t);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    hook_disarm();
    report("hook check: strdup+free+lock", 0);
    assert_true(hook_count[H_MALLOC] + hook_count[H_CALLOC] >= 1);
    assert_true(hook_count[H_FREE] >= 1);
    assert_int_equal(hook_count[H_LOCK], 1);
}

static float *signal_at(int rate, size_t *n)
{
    ma_notes m = {0};
    assert_int_equal(ma_load("tests/fixtures/melodies/riff.txt", &m), 0);
    float *y = ma_render(&m, MA_SAW_NOISE, rate, 20.0, 11, n);
    assert_non_null(y);
    ma_notes_free(&m);
    return y;
}

/* Each per-hop analysis call on its own, with the detector's sizes. */
static void analysis_calls_at(int rate)
{
    char err[128];
    rnn_detector *d = rnn_detector_create(rate, 8192, err, sizeof err);
    assert_non_null(d);
    const uint32_t hop = rnn_detector_hop_size(d), ow = rnn_detector_onset_window(d),
                   pw = rnn_detector_pitch_window(d), dec = rnn_detector_pitch_decimation(d);
    rnn_detector_free(d);

    hook_arm();
    rnn_onset *o = rnn_onset_create(ow, hop, rate);
    rnn_yin *p = rnn_yin_create(pw / dec);
    rnn_rfft *f = rnn_rfft_create(ow);
    hook_disarm();
    report("onset + yin + fft (create)", rate);
    assert_non_null(o);
    assert_non_null(p);
    assert_non_null(f);
    assert_true(hook_count[H_MALLOC] + hook_count[H_CALLOC] >= 3);
    float *dc = malloc(hop / dec * sizeof *dc), *spec = malloc((ow + 2) * sizeof *spec);
    assert_non_null(dc);
    assert_non_null(spec);

    size_t n = 0;
    float *y = signal_at(rate, &n);
    long onset_calls = 0, pitch_calls = 0, fft_calls = 0, other_calls = 0, onsets = 0;
    double conf_sum = 0;
    for (size_t pos = 0; pos + ow <= n; pos += hop) {
        hook_arm();
        onsets += rnn_onset_process(o, y + pos) > 0.0f && rnn_onset_last(o) > 0;
        onset_calls += hook_disarm();
        for (uint32_t i = 0; i < hop / dec; i++)
            dc[i] = y[pos + dec * i];
        hook_arm();
        rnn_yin_process(p, dc, hop / dec);
        pitch_calls += hook_disarm();
        hook_arm();
        rnn_rfft_forward(f, y + pos, spec);
        fft_calls += hook_disarm();
        hook_arm();
        conf_sum += rnn_yin_confidence(p);
        rnn_onset_set_threshold(o, 0.3f);
        rnn_onset_set_silence(o, -50.0f);
        rnn_onset_set_minioi_ms(o, 50.0);
        rnn_yin_set_tolerance(p, 0.15f);
        if (pos % (hop * 1000) == 0) {
            rnn_onset_reset(o);
            rnn_yin_reset(p);
        }
        other_calls += hook_disarm();
    }
    print_message("%-34s %5d Hz: %ld calls over %zu hops\n", "rnn_onset_process (per hop)", rate,
                  onset_calls, n / hop);
    print_message("%-34s %5d Hz: %ld calls over %zu hops\n", "rnn_yin_process (per hop)", rate,
                  pitch_calls, n / hop);
    print_message("%-34s %5d Hz: %ld calls over %zu hops\n", "rnn_rfft_forward (per hop)", rate,
                  fft_calls, n / hop);
    print_message("%-34s %5d Hz: %ld calls\n", "getters, setters, resets", rate, other_calls);
    assert_int_equal(onset_calls, 0);
    assert_int_equal(pitch_calls, 0);
    assert_int_equal(fft_calls, 0);
    assert_int_equal(other_calls, 0);
    assert_true(onsets > 10 && conf_sum > 0); /* the calls did real work */

    hook_arm();
    rnn_onset_free(o);
    rnn_yin_free(p);
    rnn_rfft_free(f);
    hook_disarm();
    report("onset + yin + fft (free)", rate);
    free(dc);
    free(spec);
    free(y);
}

static void test_analysis_calls(void **state)
{
    (void)state;
    analysis_calls_at(44100);
    analysis_calls_at(48000);
}

static void detector_at(int rate)
{
    char err[128];
    hook_arm();
    rnn_detector *d = rnn_detector_create(rate, 8192, err, sizeof err);
    hook_disarm();
    report("rnn_detector_create", rate);
    assert_non_null(d);

    size_t n = 0;
    float *y = signal_at(rate, &n);
    rnn_detected_note_event ev[80];
    rnn_detector_params par;
    rnn_detector_default_params(&par);
    static const uint32_t blocks[] = {64, 1, 0, 8192, 333, 128};
    int ons = 0;
    hook_arm();
    for (size_t pos = 0, bi = 0; pos < n; bi++) {
        uint32_t b = blocks[bi % 6];
        if (b > n - pos) b = (uint32_t)(n - pos);
        int k = rnn_detector_process(d, y + pos, b, ev, 80);
        for (int i = 0; i < k; i++)
            ons += ev[i].on;
        if (bi % 50 == 0) rnn_detector_set_params(d, &par);
        pos += b;
    }
    rnn_detector_reset(d);
    long calls = hook_disarm();
    report("rnn_detector_process/reset/params", rate);
    assert_int_equal(calls, 0);
    assert_true(ons >= 20);

    hook_arm();
    rnn_detector_free(d);
    hook_disarm();
    report("rnn_detector_free", rate);
    free(y);
}

static void test_detector(void **state)
{
    (void)state;
    detector_at(44100);
    detector_at(48000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_sees_calls),
        cmocka_unit_test(test_analysis_calls),
        cmocka_unit_test(test_detector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
