/* SPDX-License-Identifier: MIT */
/* Real-time safety of the audio note detector, as linked into the plugin:
 * with malloc, calloc, realloc, free and pthread_mutex_lock trapped at link
 * time (rt_trap.h), a melody with noise at 44.1 and 48 kHz in blocks of 0 to
 * 8192 frames, with NaN bursts, parameter changes, a full event array and
 * resets in between, makes no trapped call from our code. Calls made inside
 * shared libraries (libm, libc) are invisible here; test_detector_hook
 * checks those by replacing malloc for the whole process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/listen/melody_audio.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void run_rate(double rate)
{
    ma_notes m = {0};
    assert_int_equal(ma_load("tests/fixtures/melodies/greensleeves.txt", &m), 0);
    size_t n = 0;
    float *y = ma_render(&m, MA_SAW_NOISE, rate, 20.0, 5, &n);
    assert_non_null(y);
    for (size_t i = n / 3; i < n / 3 + 300; i++)
        y[i] = NAN;
    char err[256];
    rnn_detector *d = rnn_detector_create(rate, 8192, err, sizeof err);
    if (!d) fail_msg("%s", err);
    rnn_detector_params p;
    rnn_detector_default_params(&p);
    static const uint32_t blocks[] = {64, 0, 1, 128, 8192, 97, 256, 4096};
    rnn_detected_note_event ev[80];
    int ons = 0, offs = 0;

    rt_trap_arm();
    size_t pos = 0, bi = 0;
    while (pos < n) {
        uint32_t b = blocks[bi++ % 8];
        if (b > n - pos) b = (uint32_t)(n - pos);
        int max = bi % 13 == 0 ? 1 : 80; /* now and then a full array */
        int k = rnn_detector_process(d, y + pos, b, ev, max);
        for (int i = 0; i < k; i++)
            ev[i].on ? ons++ : offs++;
        if (bi % 101 == 0) {
            p.gate_db = bi % 202 == 0 ? -50.0f : -45.0f;
            rnn_detector_set_params(d, &p);
        }
        pos += b;
        if (pos > n / 2 && pos - b <= n / 2) rnn_detector_reset(d);
    }
    (void)rnn_detector_current_pitch(d);
    int trapped = rt_trap_disarm();

    print_message("%.0f Hz: %d note-ons, %d note-offs, %d trapped calls\n", rate, ons, offs,
                  trapped);
    assert_int_equal(trapped, 0);
    assert_true(ons >= 20); /* the whole path ran: notes were found */
    rnn_detector_free(d);
    free(y);
    ma_notes_free(&m);
}

static void test_process_is_rt_safe(void **state)
{
    (void)state;
    run_rate(44100);
    run_rate(48000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_process_is_rt_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
