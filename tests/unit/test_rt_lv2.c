/* SPDX-License-Identifier: MIT */
/* Real-time safety of the LV2 plugin: its code (plugin/lv2, the detector
 * and core, linked into this binary so the linker's --wrap sees their
 * calls) runs under the malloc/calloc/realloc/free/pthread_mutex_lock trap
 * of rt_trap.h around every run() and work_response() call, across patch:Set
 * model swaps, a refused file, transport starts, stops and jumps, tempo
 * changes, parameter changes, thru switched with keys held, tiny notify
 * ports, MIDI floods, the audio input, a restore through the worker, and
 * blocks of 0..8192 frames, with the inline display's queue_draw offered
 * (called from run(), at most RNN_DISPLAY_DRAW_HZ a second) and render()
 * called between blocks (which allocates only for a larger image). The
 * worker's own calls (loading, freeing,
 * resetting a detector) run untrapped, as on a worker thread. Self-checks:
 * the trap sees the five calls, and it sees an allocation made by the
 * plugin's own code (its worker loading a model). Also counted: the
 * detector's onset and pitch analyses inside each run(), which stay at one
 * of each per hop when the input source switches back to audio. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lv2/state/state.h>

#include "../../core/engine.h"
#include "../../plugin/lv2/display.h"
#include "../../plugin/lv2/inline_display.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lv2_host.h"
#include "../support/rt/rt_trap.h"

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index);

/* The detector's per-hop analyses, counted: the link wraps the detector's
 * calls to rnn_onset_process and rnn_yin_process (-Wl,--wrap) into these,
 * which pass on to the real ones. */
typedef struct rnn_onset rnn_onset;
typedef struct rnn_yin rnn_yin;
float __real_rnn_onset_process(rnn_onset *o, const float *hop);
float __real_rnn_yin_process(rnn_yin *y, const float *in, uint32_t n);
float __wrap_rnn_onset_process(rnn_onset *o, const float *hop);
float __wrap_rnn_yin_process(rnn_yin *y, const float *in, uint32_t n);
static long onset_calls, pitch_calls;

float __wrap_rnn_onset_process(rnn_onset *o, const float *hop)
{
    onset_calls++;
    return __real_rnn_onset_process(o, hop);
}

float __wrap_rnn_yin_process(rnn_yin *y, const float *in, uint32_t n)
{
    pitch_calls++;
    return __real_rnn_yin_process(y, in, n);
}

static int trapped;
static long dsp_mark, dsp_worst; /* analyses; most in one audio call */
static void enter(void)
{
    rt_trap_arm();
    dsp_mark = onset_calls + pitch_calls;
}
static void leave(void)
{
    trapped += rt_trap_disarm();
    long n = onset_calls + pitch_calls - dsp_mark;
    if (n > dsp_worst) dsp_worst = n;
}

static char dir[64], model_a[128], model_b[128], model_d[128], model_bad[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rnnmidi-rt-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(model_a, sizeof model_a, "%s/a.rnnw", dir);
    snprintf(model_b, sizeof model_b, "%s/b.rnnw", dir);
    snprintf(model_d, sizeof model_d, "%s/drums.rnnw", dir);
    snprintf(model_bad, sizeof model_bad, "%s/bad.rnnw", dir);
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 32, 64, 31, model_a, NULL, NULL) ||
        fixture_build(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 48, 32, model_b, NULL, NULL) ||
        fixture_build(RNN_KIND_DRUMS, RNN_CELL_RNN, 2, 16, 32, 33, model_d, NULL, NULL))
        return -1;
    FILE *f = fopen(model_bad, "wb");
    if (!f) return -1;
    fputs("RNNW but not really a preset", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(model_a), unlink(model_b), unlink(model_d), unlink(model_bad);
    rmdir(dir);
    host_free_uris();
    return 0;
}

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

/* The trap sees the plugin's own allocations: its worker, run armed, is caught. */
static void test_trap_sees_plugin_code(void **state)
{
    (void)state;
    host_plugin *hp = host_new();
    assert_non_null(hp);
    const LV2_Descriptor *d = lv2_descriptor(0);
    LV2_Handle h = d->instantiate(d, 48000, "/nonexistent/", hp->features);
    assert_non_null(h);
    host_attach(hp, d, h);
    struct load_msg { /* the plugin's WorkMsg header and a path */
        uint32_t type, size, gen;
        void *model;
        char path[128];
    } msg = {0, (uint32_t)strlen(model_a) + 1, 0, NULL, {0}};
    memcpy(msg.path, model_a, strlen(model_a) + 1);
    rt_trap_arm();
    hp->worker->work(h, host_respond, hp, (uint32_t)(offsetof(struct load_msg, path) + msg.size),
                     &msg);
    int n = rt_trap_disarm();
    assert_true(n > 0);
    host_deliver(hp); /* hand the loaded model over, */
    host_do_work(hp); /* and nothing is left behind */
    d->cleanup(h);
    host_free(hp);
}

static const void *retrieve_path(LV2_State_Handle handle, uint32_t key, size_t *size,
                                 uint32_t *type, uint32_t *flags)
{
    if (key != host_map(NULL, RNNMIDI_URI "#model")) return NULL;
    *size = strlen(handle) + 1;
    *type = host_map(NULL, LV2_ATOM__Path);
    *flags = 0;
    return handle;
}

static int draw_requests;
static void count_draw(LV2_Inline_Display_Handle h)
{
    (void)h;
    draw_requests++;
}

static uint32_t blocks(uint64_t *s)
{
    return fixture_block(s, 24, 1500);
}

static void test_run_never_allocates(void **state)
{
    (void)state;
    host_plugin *hp = host_new();
    assert_non_null(hp);
    const LV2_Descriptor *d = lv2_descriptor(0);
    /* the host's features and the inline display's queue_draw */
    LV2_Inline_Display queue = {NULL, count_draw};
    LV2_Feature f_queue = {LV2_INLINEDISPLAY__queue_draw, &queue};
    const LV2_Feature *features[8];
    int nf = 0;
    for (; hp->features[nf]; nf++)
        features[nf] = hp->features[nf];
    features[nf++] = &f_queue;
    features[nf] = NULL;
    LV2_Handle h = d->instantiate(d, 44100, "/nonexistent/", features);
    assert_non_null(h);
    host_attach(hp, d, h);
    const LV2_Inline_Display_Interface *idi = d->extension_data(LV2_INLINEDISPLAY__interface);
    assert_non_null(idi);
    draw_requests = 0;
    int64_t pos0 = hp->pos;
    hp->controls[RNNMIDI_THRU] = 1;
    hp->controls[RNNMIDI_INPUT_SOURCE] = RNNMIDI_SOURCE_BOTH;
    /* warm up outside the trap: URIDs the host maps on first use */
    host_begin(hp);
    host_run(hp, 0);

    host_audio_enter = enter;
    host_audio_leave = leave;
    trapped = 0;
    host_log_quiet = 1;
    d->activate(h);
    uint64_t s = 5;
    const char *models[4] = {model_a, model_b, model_d, model_bad};
    float phase = 0;
    for (int b = 0; b < 3000; b++) {
        uint32_t n = blocks(&s);
        host_begin(hp);
        if (b % 400 == 0) host_set_model(hp, n / 2, models[(b / 400) % 4]);
        hp->hold = b % 400 == 0;                      /* the load answers a block later, */
        hp->queue_full = b % 400 >= 1 && b % 400 < 6; /* the old model waits in the ring */
        if (b % 97 == 0) host_position(hp, n / 3, 1, 90 + b % 60, b % 13, 0.5f); /* jumps */
        if (b % 251 == 0) host_position(hp, 0, 0, 120, 0, 0);                    /* stop */
        if (b % 251 == 5) host_position(hp, 0, 1, 120, 2, 0);                    /* start */
        if (b % 50 == 0) hp->controls[RNNMIDI_MODE] = (float)((b / 50) % 3);
        if (b % 70 == 0) hp->controls[RNNMIDI_SCALE] = (float)((b / 70) % 11);
        if (b % 33 == 0) hp->controls[RNNMIDI_SEED] = (float)(b % 5);
        if (b % 37 == 0) hp->controls[RNNMIDI_THRU] = (float)((b / 37) % 2); /* keys held */
        hp->out_size = b % 10 == 3 ? 700 : 0; /* now and then a tiny notify port */
        int flood = b % 300 == 150 ? 3000 : 3;
        for (int i = 0; i < flood && n > 0; i++)
            host_midi(hp, (uint32_t)((uint64_t)i * n / (uint32_t)flood),
                      (uint8_t)(i & 1 ? 0x80 : 0x90), (uint8_t)(48 + i % 30), 80);
        for (uint32_t i = 0; i < n; i++) { /* a sung A, on and off */
            hp->audio[i] = (b / 20) % 2 ? 0.3f * sinf(phase) : 0.0f;
            phase += 2 * 3.14159265f * 440 / 44100;
            if (phase > 2 * 3.14159265f) phase -= 2 * 3.14159265f;
        }
        host_run(hp, n);
        if (b % 50 == 0) assert_non_null(idi->render(h, 120 + (uint32_t)b % 200, 80));
        if (b == 2200) { /* a restore through the worker, its answer in the trap */
            const LV2_State_Interface *si = d->extension_data(LV2_STATE__interface);
            hp->hold = 0;
            assert_int_equal(si->restore(h, retrieve_path, model_b, 0, hp->features),
                             LV2_STATE_SUCCESS);
        }
        if (b == 1500) { /* deactivate, activate */
            d->deactivate(h);
            d->activate(h);
        }
    }
    host_audio_enter = host_audio_leave = NULL;
    host_log_quiet = 0;
    assert_int_equal(trapped, 0);
    double seconds = (double)(hp->pos - pos0) / 44100;
    print_message("queue_draw: %d calls in %.1f s\n", draw_requests, seconds);
    assert_true(draw_requests > 0);
    assert_true(draw_requests <= (int)(seconds * RNN_DISPLAY_DRAW_HZ) + 2);
    /* render() allocates its image once for the largest size asked */
    assert_non_null(idi->render(h, 400, 200));
    rt_trap_arm();
    assert_non_null(idi->render(h, 400, 200));
    assert_non_null(idi->render(h, 150, 70));
    assert_int_equal(rt_trap_disarm(), 0);
    size_t ons = 0;
    for (size_t i = 0; i < hp->n_ev; i++)
        ons += (hp->ev[i].d[0] & 0xf0) == 0x90;
    assert_true(ons > 100);
    d->deactivate(h);
    d->cleanup(h);
    host_free(hp);
}

/* The input source switched to audio and back, again and again, at 192 kHz
 * in small blocks: the run() that starts listening again does no more
 * analysis than any other block of its size (one onset and one pitch call
 * per hop), also when it comes before the worker has answered the last
 * switch; nothing is allocated; and the detector does hear the audio
 * afterwards (a hop in each of the 20 stretches of 50 blocks at least). */
static void test_listen_again_is_cheap(void **state)
{
    (void)state;
    host_plugin *hp = host_new();
    assert_non_null(hp);
    const LV2_Descriptor *d = lv2_descriptor(0);
    const double rate = 192000;
    LV2_Handle h = d->instantiate(d, rate, "/nonexistent/", hp->features);
    assert_non_null(h);
    host_attach(hp, d, h);
    host_begin(hp);
    host_run(hp, 0);
    d->activate(h);
    const uint32_t n = 64, hop = 1024; /* the detector's hop at 192 kHz */
    long per_block_max = 2 * ((n + hop - 1) / hop + 1);
    float phase = 0;
    host_audio_enter = enter;
    host_audio_leave = leave;
    trapped = 0;
    dsp_worst = 0;
    long onsets0 = onset_calls, pitches0 = pitch_calls;
    for (int b = 0; b < 3000; b++) {
        int audio = (b / 50) % 2 == 1 || (b >= 2000 && b % 4 < 2); /* then every other block */
        hp->controls[RNNMIDI_INPUT_SOURCE] = audio ? RNNMIDI_SOURCE_AUDIO : RNNMIDI_SOURCE_MIDI;
        hp->hold = b >= 2000 && b % 8 < 4; /* the worker lags behind */
        for (uint32_t i = 0; i < n; i++) {
            hp->audio[i] = 0.3f * sinf(phase);
            phase += 2 * 3.14159265f * 440 / (float)rate;
            if (phase > 2 * 3.14159265f) phase -= 2 * 3.14159265f;
        }
        host_begin(hp);
        host_run(hp, n);
    }
    host_audio_enter = host_audio_leave = NULL;
    hp->hold = 0;
    host_do_work(hp);
    host_deliver(hp);
    long heard = onset_calls - onsets0, pitched = pitch_calls - pitches0; /* the worker's too */
    print_message("onset + pitch analyses: at most %ld in one run() of %u frames; %ld onset, "
                  "%ld pitch in all\n",
                  dsp_worst, n, heard, pitched);
    assert_int_equal(trapped, 0);
    assert_true(dsp_worst <= per_block_max);
    assert_true(heard >= 20 * (50 * (long)n / (long)hop)); /* it listened */
    assert_true(pitched >= heard / 2);
    d->deactivate(h);
    d->cleanup(h);
    host_free(hp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_trap_sees_plugin_code),
        cmocka_unit_test(test_run_never_allocates),
        cmocka_unit_test(test_listen_again_is_cheap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
