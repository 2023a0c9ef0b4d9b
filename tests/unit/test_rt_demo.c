/* SPDX-License-Identifier: MIT */
/* The demo's audio thread never allocates, frees or locks: the session
 * (two engines on fixture presets, the synth, the note detector, a primer,
 * live MIDI, setting changes and new models queued between blocks) is run
 * under the malloc/lock trap, and then PortAudio's real callback thread runs
 * demo_audio_callback through ALSA's file-over-null PCM (no hardware) with
 * the trap armed around every call. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../plugin/demo/audio.h"
#include "../../plugin/demo/demo.h"
#include "../support/demo/demo_fixture.h"
#include "../support/rt/rt_trap.h"

static char dir[256], mel[512], drums[512], mel2[512];

static int setup(void **state)
{
    (void)state;
    if (fx_tmpdir(dir, sizeof dir, "demo-rt")) return -1;
    snprintf(mel, sizeof mel, "%s/melody.rnnw", dir);
    snprintf(drums, sizeof drums, "%s/drums.rnnw", dir);
    snprintf(mel2, sizeof mel2, "%s/melody2.rnnw", dir);
    if (fx_write_model(mel, RNN_KIND_MELODY, RNN_CELL_LSTM, 31)) return -1;
    if (fx_write_model(mel2, RNN_KIND_MELODY, RNN_CELL_GRU, 33)) return -1;
    if (fx_write_model(drums, RNN_KIND_DRUMS, RNN_CELL_GRU, 32)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_rmtree(dir);
    return 0;
}

static demo_session *make_session(uint32_t block, int detector)
{
    char err[512];
    demo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sample_rate = 48000.0;
    cfg.max_block = block;
    cfg.seed = 99;
    cfg.n_parts = 2;
    cfg.models[0] = rnn_engine_model_prepare(mel, err, sizeof err);
    cfg.models[1] = rnn_engine_model_prepare(drums, err, sizeof err);
    assert_non_null(cfg.models[0]);
    assert_non_null(cfg.models[1]);
    static demo_event primer[32];
    for (int i = 0; i < 16; i++) {
        uint64_t on = (uint64_t)i * 6000, off = on + 5000;
        primer[2 * i] = (demo_event){on, 0, 3, {0x90, (uint8_t)(60 + i % 8), 100}};
        primer[2 * i + 1] = (demo_event){off, 0, 3, {0x80, (uint8_t)(60 + i % 8), 0}};
    }
    cfg.primer = primer;
    cfg.n_primer = 32;
    cfg.params[RNN_PARAM_MODE] = RNN_MODE_CALL_RESPONSE;
    cfg.param_set[RNN_PARAM_MODE] = 1;
    cfg.detector = detector;
    cfg.input_monitor = 0.5f;
    demo_session *s = demo_session_create(&cfg, err, sizeof err);
    if (!s) fprintf(stderr, "%s\n", err);
    assert_non_null(s);
    return s;
}

static void test_trap_is_watching(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
    /* the demo's own objects are wrapped too: creating a synth allocates */
    rt_trap_arm();
    demo_synth *s = demo_synth_create(48000.0, 1);
    int seen = rt_trap_disarm();
    assert_non_null(s);
    assert_true(seen >= 3);
    demo_synth_free(s);
}

static void test_session_process_does_not_allocate_or_lock(void **state)
{
    (void)state;
    demo_session *s = make_session(256, 1);
    static float in[1000], out[2000];
    static demo_event drained[4096];
    size_t played = 0;
    int trapped = 0, retired = 0;
    char err[512];
    /* 10 s in blocks of varying size (up to 4x the engine's block, which
     * the session splits), a sung-like input, and the main thread's traffic */
    for (int b = 0; b < 1000; b++) {
        uint32_t n = (uint32_t)(64 + (b * 37) % 900);
        for (uint32_t i = 0; i < n; i++)
            in[i] = (b / 40) % 2 ? 0.3f * sinf(0.05f * (float)(b * 1000 + (int)i)) : 0.0f;
        if (b % 50 == 10) {
            uint8_t on[3] = {0x90, (uint8_t)(48 + b % 24), 90}, off[3] = {0x80, on[1], 0};
            demo_session_push_midi(s, on, 3);
            demo_session_push_midi(s, off, 3);
        }
        if (b % 200 == 100) demo_session_set_param(s, -1, RNN_PARAM_TEMPO, 100.0f + (float)(b % 7));
        if (b % 300 == 150) demo_session_set_param(s, -1, RNN_PARAM_MODE, (float)(b % 3));
        if (b == 500) demo_session_reseed(s, 1234);
        if (b == 300) { /* two in a row: the first never plays, the offer of the second frees it */
            assert_int_equal(
                demo_session_set_model(s, 0, rnn_engine_model_prepare(mel, err, sizeof err)), 0);
            assert_int_equal(
                demo_session_set_model(s, 0, rnn_engine_model_prepare(mel2, err, sizeof err)), 0);
            assert_int_equal(demo_session_retire(s), 0);
        }
        if (b == 700) {
            /* a drums part takes drums only */
            assert_int_equal(
                demo_session_set_model(s, 1, rnn_engine_model_prepare(mel, err, sizeof err)), -1);
            assert_int_equal(
                demo_session_set_model(s, 1, rnn_engine_model_prepare(drums, err, sizeof err)), 0);
        }
        rt_trap_arm();
        demo_session_process(s, in, out, n);
        trapped += rt_trap_disarm();
        played += demo_session_drain(s, drained, 4096);
        int r = demo_session_retire(s);
        if (b == 300 || b == 700) assert_int_equal(r, 1); /* the models they replaced */
        retired += r;
    }
    fprintf(stderr, "session: %zu events played, %d trapped calls, %d models retired\n", played,
            trapped, retired);
    assert_int_equal(retired, 2);
    assert_int_equal(trapped, 0);
    assert_true(played > 50);
    assert_int_equal(demo_session_lost_events(s), 0);
    demo_session_free(s);
}

/* PortAudio calls this; it wraps the demo's callback in the trap. */
typedef struct {
    demo_audio_state st;
    _Atomic int calls, trapped;
} probe;

static int probe_callback(const void *input, void *output, unsigned long frames,
                          const PaStreamCallbackTimeInfo *time, PaStreamCallbackFlags flags,
                          void *user)
{
    probe *p = user;
    rt_trap_arm();
    int r = demo_audio_callback(input, output, frames, time, flags, &p->st);
    int t = rt_trap_disarm();
    atomic_fetch_add(&p->calls, 1);
    atomic_fetch_add(&p->trapped, t);
    return r;
}

static void test_portaudio_callback_does_not_allocate_or_lock(void **state)
{
    (void)state;
    char home[600], raw[600], err[512];
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(raw, sizeof raw, "%s/pcm.raw", dir);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(fx_write_asoundrc(home, raw), 0);
    setenv("HOME", home, 1); /* ALSA reads ~/.asoundrc when PortAudio starts */
    if (demo_audio_init(err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        fail();
    }
    double rate = 0;
    assert_int_equal(demo_audio_check_output(-1, &rate, err, sizeof err), 0);
    demo_session *s = make_session(256, 0);
    static probe p;
    memset(&p, 0, sizeof p);
    p.st.session = s;
    p.st.stop_frame = 48000 * 4;
    PaStream *stream;
    PaError e = Pa_OpenDefaultStream(&stream, 0, 2, paFloat32, 48000.0, 256, probe_callback, &p);
    assert_int_equal(e, paNoError);
    assert_int_equal(Pa_StartStream(stream), paNoError);
    for (int i = 0; i < 2000 && !atomic_load(&p.st.done); i++)
        Pa_Sleep(5);
    Pa_StopStream(stream);
    Pa_CloseStream(stream);
    demo_audio_terminate();
    fprintf(stderr, "portaudio: %d callbacks, %llu frames, %d trapped calls\n",
            atomic_load(&p.calls), (unsigned long long)demo_session_position(s),
            atomic_load(&p.trapped));
    assert_true(atomic_load(&p.st.done));
    assert_int_equal(demo_session_position(s), 48000 * 4);
    assert_true(atomic_load(&p.calls) >= 48000 * 4 / 256);
    assert_int_equal(atomic_load(&p.trapped), 0);
    /* and it made sound */
    size_t n;
    unsigned char *b = fx_slurp(raw, &n);
    assert_non_null(b);
    const float *x = (const float *)(const void *)b;
    float peak = 0;
    for (size_t i = 0; i < n / sizeof(float); i++)
        peak = fmaxf(peak, fabsf(x[i]));
    assert_true(peak > 0.05f && peak <= DEMO_SYNTH_CEILING + 1e-6f);
    free(b);
    demo_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_is_watching),
        cmocka_unit_test(test_session_process_does_not_allocate_or_lock),
        cmocka_unit_test(test_portaudio_callback_does_not_allocate_or_lock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
