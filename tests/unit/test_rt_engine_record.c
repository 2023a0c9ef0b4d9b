/* SPDX-License-Identifier: MIT */
/* The engine records the player's line for Learn (rnn_engine_set_record)
 * exactly as its net hears it, on the audio thread.
 *
 * The Makefile links this test with -Wl,--wrap=rnn_net_step_begin_cond, so
 * every network step the engine begins is logged here with the ring's count
 * at that moment: a step the engine records is pushed right after its
 * begin, as step number `count`, so the last begin logged under a count is
 * the one that step must equal (event and every column). The player plays a
 * melody low (pitches 40..51) with rests long enough for the engine to
 * continue it high (its range set to 80..96), through transport stops and
 * jumps, in blocks of 1..1024 frames under the RT trap (rt_trap.h):
 * - the engine makes no trapped call;
 * - every recorded step equals the begin it was pushed after;
 * - no recorded step is the engine's own line (no pitch >= 80), while the
 *   log shows that the engine did play (begins with pitches >= 80);
 * - the line breaks: phrases start after stops, jumps and the engine's
 *   answers;
 * - a ring whose column count is not the model's is never written.
 * Models: a version 1 fixture (no columns), a conditioned and a lookback
 * golden preset (columns on at every step). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/encoding.h"
#include "../../core/engine.h"
#include "../../core/net.h"
#include "../../core/record.h"
#include "../support/engine_fixture.h"
#include "../support/rt/rt_trap.h"

enum { LOG_CAP = 40000, ON_CAP = 64, RING = 1 << 16 };

/* The log of begun steps: static, so the wrapper allocates nothing. */
typedef struct {
    uint64_t count; /* the ring's count when the step was begun */
    int32_t ev;
    int n_on;
    uint16_t on[ON_CAP];
} begun;

static begun logged[LOG_CAP];
static long n_logged;
static rnn_rec *watched;

void __real_rnn_net_step_begin_cond(rnn_net *net, int ev, const float *cond);

void __wrap_rnn_net_step_begin_cond(rnn_net *net, int ev, const float *cond)
{
    if (watched && n_logged < LOG_CAP) {
        begun *b = &logged[n_logged++];
        b->count = rnn_rec_written(watched);
        b->ev = ev;
        b->n_on = 0;
        for (int c = 0; cond && c < rnn_net_cond_columns(net); c++)
            if (cond[c] != 0.0f && b->n_on < ON_CAP) b->on[b->n_on++] = (uint16_t)c;
    }
    __real_rnn_net_step_begin_cond(net, ev, cond);
}

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static rnn_engine_model *prepare(const char *golden)
{
    char err[256];
    rnn_engine_model *em;
    if (golden) {
        char path[128];
        snprintf(path, sizeof path, "tests/golden/%s.rnnw", golden);
        em = rnn_engine_model_prepare(path, err, sizeof err);
    } else {
        rnn_model *m = fixture_model(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 16, 24, 3);
        assert_non_null(m);
        em = rnn_engine_model_wrap(m, err, sizeof err);
    }
    if (!em) fail_msg("%s", err);
    return em;
}

/* The player over about `blocks` blocks: phrases of 8..24 notes low, then
 * rests of 1..4 beats; a stop every 3000 blocks and a jump every 4100. */
static void play(rnn_engine *e, int blocks, long *trapped)
{
    static rnn_engine_event in[4], out[1024];
    uint64_t s = 29;
    int64_t frame = 0, next = 0;
    int sounding = -1, left = 12;
    for (int b = 0; b < blocks; b++) {
        uint32_t n = 1 + (uint32_t)(fixture_uniform(&s, 0.5f) * 2046 + 1023) % 1024;
        rnn_transport t = {0};
        uint32_t nt = 0, ni = 0;
        if (b % 3000 == 2999 || b % 3000 == 0 || b % 4100 == 4099) {
            t.flags =
                RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
            t.speed = b % 3000 == 2999 ? 0 : 1;
            t.bpm = 120;
            t.beats_per_bar = 4;
            t.beat_unit = 4;
            t.bar = b % 4100 == 4099 ? 3 : b / 1000;
            nt = 1;
        }
        if (frame + n > next) {
            const uint32_t at = next > frame ? (uint32_t)(next - frame) : 0;
            if (sounding >= 0) {
                in[ni++] = (rnn_engine_event){at, 3, {0x80, (uint8_t)sounding, 0}, 0};
                sounding = -1;
            }
            if (left-- > 0) {
                sounding = 40 + (int)(fixture_uniform(&s, 0.5f) * 22 + 11) % 12;
                in[ni++] = (rnn_engine_event){at, 3, {0x90, (uint8_t)sounding, 90}, 0};
                next += 3000 + (int64_t)((fixture_uniform(&s, 0.5f) + 0.5f) * 6000);
            } else {
                left = 8 + (int)((fixture_uniform(&s, 0.5f) + 0.5f) * 16);
                next += 24000 + (int64_t)((fixture_uniform(&s, 0.5f) + 0.5f) * 72000);
            }
        }
        rt_trap_arm();
        rnn_engine_run(e, n, in, ni, nt ? &t : NULL, nt, out, 1024);
        *trapped += rt_trap_disarm();
        frame += n;
    }
}

static void run_case(const char *golden)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(48000, 1024, err, sizeof err);
    assert_non_null(e);
    rnn_engine_model *em = prepare(golden);
    const int C = rnn_net_cond_columns(rnn_engine_model_net(em));
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 80);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 96);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 1);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 5);
    rnn_rec *rec = rnn_rec_create(RING, C, err, sizeof err);
    assert_non_null(rec);
    assert_null(rnn_engine_set_record(e, rec));
    watched = rec;
    n_logged = 0;
    long trapped = 0;
    play(e, 16000, &trapped);
    watched = NULL;
    assert_int_equal(trapped, 0);
    assert_true(n_logged < LOG_CAP);

    const uint64_t w = rnn_rec_written(rec);
    assert_true(w > 500 && w < RING);
    int32_t *ev = malloc(w * sizeof *ev);
    float *cols = malloc((w * (size_t)C + 1) * sizeof *cols);
    uint8_t *starts = malloc(w);
    assert_true(ev && cols && starts);
    assert_int_equal(rnn_rec_read(rec, 0, (int)w, ev, cols, starts), (int)w);

    long checked = 0, phrases = 0, own = 0, on_steps = 0;
    long j = 0;
    for (uint64_t i = 0; i < w; i++) {
        /* the last begin logged while the count was i */
        while (j < n_logged && logged[j].count < i)
            j++;
        long k = j;
        while (k + 1 < n_logged && logged[k + 1].count == i)
            k++;
        assert_true(k < n_logged && logged[k].count == i);
        assert_int_equal(ev[i], logged[k].ev);
        int n_on = 0;
        for (int c = 0; c < C; c++)
            if (cols[i * (size_t)C + (size_t)c] != 0.0f) {
                assert_true(n_on < logged[k].n_on);
                assert_int_equal(c, logged[k].on[n_on]);
                n_on++;
            }
        assert_int_equal(n_on, logged[k].n_on);
        on_steps += n_on > 0;
        assert_true(ev[i] < RNN_MELODY_NOTE_ON(60));
        phrases += starts[i];
        checked++;
    }
    for (long k = 0; k < n_logged; k++)
        own += logged[k].ev >= RNN_MELODY_NOTE_ON(80);
    print_message("%s: %ld steps recorded of %ld begun, %ld phrases, %ld of the engine's notes\n",
                  golden ? golden : "fixture", checked, n_logged, phrases, own);
    assert_int_equal(checked, (long)w);
    assert_true(own > 20);
    assert_true(phrases > 10);
    if (C > 0) assert_true(on_steps > (long)w / 2);
    free(ev);
    free(cols);
    free(starts);

    /* a ring of other columns is broken, never written */
    rnn_rec *other = rnn_rec_create(64, C + 1, err, sizeof err);
    assert_non_null(other);
    assert_ptr_equal(rnn_engine_set_record(e, other), rec);
    play(e, 3000, &trapped);
    assert_int_equal(trapped, 0);
    assert_true(rnn_rec_written(other) == 0);
    assert_ptr_equal(rnn_engine_set_record(e, NULL), other);
    rnn_rec_free(other);
    rnn_rec_free(rec);
    rnn_engine_free(e);
}

static void test_fixture(void **state)
{
    (void)state;
    run_case(NULL);
}

static void test_cond(void **state)
{
    (void)state;
    run_case("cond_lstm_e0_l1");
}

static void test_lookback(void **state)
{
    (void)state;
    run_case("look_gru_e12_l1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_cond),
        cmocka_unit_test(test_lookback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
