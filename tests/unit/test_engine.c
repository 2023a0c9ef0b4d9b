/* SPDX-License-Identifier: MIT */
/* core/engine driven as a host would, with a random-weight fixture model
 * (engine_fixture.h): grid placement of every note-on against the exact
 * frame computed here from tempo and position (tempo changes, relocation
 * and stop inside blocks, free-run), note hygiene, determinism across block
 * sizes, priming (a continuation equals the one computed directly with
 * core/net + core/sample from the trainer's encoding of the same notes),
 * call-and-response timing, drums, the key/scale mask, model swaps, floods;
 * the compute budget (an absurd host, models too slow for it), models whose
 * numbers overflow, and logits that go non-finite while playing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "../../core/net.h"
#include "../../core/sample.h"
#include "../support/engine_fixture.h"

typedef struct {
    int64_t frame;
    uint8_t d[3];
} abs_ev;

typedef struct {
    abs_ev *ev;
    size_t n, cap;
} evlist;

static void push(evlist *l, int64_t frame, const uint8_t *d)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->ev = realloc(l->ev, l->cap * sizeof *l->ev);
        assert_non_null(l->ev);
    }
    l->ev[l->n].frame = frame;
    memcpy(l->ev[l->n].d, d, 3);
    l->n++;
}

typedef struct {
    int64_t frame;
    rnn_transport t;
} abs_tr;

/* Block sizes: a fixed size, or (size 0) a pseudo-random walk over 0..8192
 * that includes 1, 0 and 4096. */
static uint32_t next_block(uint32_t fixed, uint64_t *s)
{
    return fixed ? fixed : fixture_block(s, 16, 1024);
}

/* Run the engine for total frames, feeding inputs and transports at their
 * absolute frames; collect the output with absolute frames. */
static void drive(rnn_engine *e, int64_t total, uint32_t fixed, uint64_t seed, const abs_ev *in,
                  size_t n_in, const abs_tr *tr, size_t n_tr, evlist *out)
{
    static rnn_engine_event ib[8192], ob[16384];
    static rnn_transport tb[64];
    size_t ii = 0, ti = 0;
    uint64_t s = seed;
    for (int64_t pos = 0; pos < total;) {
        uint32_t n = next_block(fixed, &s);
        if (pos + n > total) n = (uint32_t)(total - pos);
        uint32_t ni = 0, nt = 0;
        while (ii < n_in && in[ii].frame < pos + n) {
            ib[ni].frame = (uint32_t)(in[ii].frame - pos);
            ib[ni].size = 3;
            memcpy(ib[ni].data, in[ii].d, 3);
            ib[ni].flags = 0;
            ni++, ii++;
        }
        while (ti < n_tr && tr[ti].frame < pos + n) {
            tb[nt] = tr[ti].t;
            tb[nt].frame = (uint32_t)(tr[ti].frame - pos);
            nt++, ti++;
        }
        uint32_t no = rnn_engine_run(e, n, ib, ni, tb, nt, ob, 16384);
        for (uint32_t i = 0; i < no; i++) {
            assert_true(ob[i].frame < n || (n == 0 && ob[i].frame == 0));
            if (i) assert_true(ob[i].frame >= ob[i - 1].frame);
            push(out, pos + ob[i].frame, ob[i].data);
        }
        pos += n;
    }
}

static int is_on(const abs_ev *e)
{
    return (e->d[0] & 0xf0) == 0x90 && e->d[2] > 0;
}
static int is_off(const abs_ev *e)
{
    return (e->d[0] & 0xf0) == 0x80 || ((e->d[0] & 0xf0) == 0x90 && e->d[2] == 0);
}

/* Every note-on is ended exactly once, no note-on while the key is down;
 * returns the number still sounding at the end. */
static int check_pairs(const evlist *l)
{
    int down[16][128] = {{0}};
    int sounding = 0;
    for (size_t i = 0; i < l->n; i++) {
        const abs_ev *e = &l->ev[i];
        int ch = e->d[0] & 15, p = e->d[1];
        if (is_on(e)) {
            assert_int_equal(down[ch][p], 0);
            down[ch][p] = 1;
            sounding++;
        } else if (is_off(e)) {
            assert_int_equal(down[ch][p], 1);
            down[ch][p] = 0;
            sounding--;
        }
    }
    return sounding;
}

static rnn_transport roll(double bpm, int64_t bar, double beat, double speed)
{
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = speed;
    t.bpm = bpm;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    t.bar = bar;
    t.bar_beat = beat;
    return t;
}

/* The first frame at or after step position k, from an anchor. */
static int64_t grid_frame(int64_t anchor_frame, double anchor_step, double fps, double k)
{
    double d = (k - anchor_step) * fps;
    if (d <= 0) return anchor_frame;
    return anchor_frame + (int64_t)ceil(d - 1e-6);
}

/* Is f a grid frame for the anchor? */
static int on_grid(int64_t f, int64_t anchor_frame, double anchor_step, double fps)
{
    double k = anchor_step + (double)(f - anchor_frame) / fps;
    int64_t k0 = (int64_t)floor(k);
    for (int64_t q = k0 - 1; q <= k0 + 1; q++)
        if (q >= anchor_step - 1e-9 && grid_frame(anchor_frame, anchor_step, fps, (double)q) == f)
            return 1;
    return 0;
}

/* An engine on a fixture LSTM of 2 layers of `hidden`. At 48 its units
 * saturate (h = +-1, the state no longer depends on the input): its notes
 * show when the engine plays, not what its net heard. At 16 a step heard
 * differently changes the state for good. */
static rnn_engine *make_engine_hidden(double sr, rnn_kind kind, uint64_t wseed, int hidden)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(sr, 4096, err, sizeof err);
    assert_non_null(e);
    rnn_model *m = fixture_model(kind, RNN_CELL_LSTM, 2, 16, hidden, wseed);
    assert_non_null(m);
    rnn_engine_model *em = rnn_engine_model_wrap(m, err, sizeof err);
    if (!em) fail_msg("%s", err);
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 1234);
    /* the reference loops below sample the net without the repeat limit
     * (test_repeat_limit covers it) */
    rnn_engine_set_param(e, RNN_PARAM_REPEAT_LIMIT, 0);
    return e;
}

static rnn_engine *make_engine(double sr, rnn_kind kind, uint64_t wseed)
{
    return make_engine_hidden(sr, kind, wseed, 48);
}

static size_t count_ons(const evlist *l, int64_t from, int64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (is_on(&l->ev[i]) && l->ev[i].frame >= from && l->ev[i].frame < to) n++;
    return n;
}

/* A conditioned preset (format v2) plays in the engine, its net stepping
 * with each step's columns (test_engine_cond compares them with the core's
 * step over a file's conditions): notes on the grid, in pairs, none left
 * sounding. */
static void test_conditioned_preset(void **state)
{
    (void)state;
    char err[256];
    const double sr = 48000;
    rnn_engine *e = rnn_engine_create(sr, 4096, err, sizeof err);
    assert_non_null(e);
    rnn_model *m = rnn_model_load("tests/golden/cond_lstm_e16_l2.rnnw", err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_true(rnn_model_get_config(m)->conditions != 0);
    rnn_engine_model *em = rnn_engine_model_wrap(m, err, sizeof err);
    if (!em) fail_msg("%s", err);
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    int64_t total = (int64_t)(sr * 8), stop = total * 8 / 10 + 77;
    abs_tr tr[2] = {{0, roll(120, 0, 0, 1)}, {stop, roll(120, 0, 0, 0)}};
    tr[1].t.flags = RNN_TRANSPORT_SPEED;
    evlist out = {0};
    drive(e, total, 0, 256, NULL, 0, tr, 2, &out);
    const double fps = sr * 60.0 / (120 * 4);
    assert_true(count_ons(&out, 0, stop) > 0);
    for (size_t i = 0; i < out.n; i++)
        if (is_on(&out.ev[i])) assert_true(on_grid(out.ev[i].frame, 0, 0, fps));
    assert_int_equal(check_pairs(&out), 0);
    free(out.ev);
    rnn_engine_free(e);
}

/* Accompany at 120 BPM from frame 0, stop at 80% of the run: every note-on
 * on the grid, pairs, only note-offs after the stop, none left sounding. */
static void grid_at_rate(double sr)
{
    rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 1);
    int64_t total = (int64_t)(sr * 20), stop = total * 8 / 10 + 77;
    abs_tr tr[2] = {{0, roll(120, 0, 0, 1)}, {stop, roll(120, 0, 0, 0)}};
    tr[1].t.flags = RNN_TRANSPORT_SPEED;
    evlist out = {0};
    drive(e, total, 0, (uint64_t)sr, NULL, 0, tr, 2, &out);
    double fps = sr * 60.0 / (120 * 4);
    assert_true(count_ons(&out, 0, stop) > 20);
    for (size_t i = 0; i < out.n; i++) {
        if (!is_on(&out.ev[i])) continue;
        assert_true(out.ev[i].frame < stop);
        if (!on_grid(out.ev[i].frame, 0, 0, fps))
            fail_msg("note-on at frame %lld is off the grid at %g Hz", (long long)out.ev[i].frame,
                     sr);
    }
    assert_int_equal(check_pairs(&out), 0);
    free(out.ev);
    rnn_engine_free(e);
}

static void test_grid_44100(void **state)
{
    (void)state;
    grid_at_rate(44100);
}
static void test_grid_48000(void **state)
{
    (void)state;
    grid_at_rate(48000);
}
static void test_grid_96000(void **state)
{
    (void)state;
    grid_at_rate(96000);
}

static void run_seed(uint32_t fixed, uint64_t bseed, int seed, evlist *out)
{
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 2);
    rnn_engine_set_param(e, RNN_PARAM_SEED, (float)seed);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    drive(e, 48000 * 8, fixed, bseed, NULL, 0, tr, 1, out);
    rnn_engine_free(e);
}

static int same(const evlist *a, const evlist *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->ev[i].frame != b->ev[i].frame || memcmp(a->ev[i].d, b->ev[i].d, 3)) return 0;
    return 1;
}

/* The same seed gives the same notes at the same frames whatever the blocks. */
static void test_same_seed_any_blocks(void **state)
{
    (void)state;
    evlist a = {0}, b = {0}, c = {0}, d = {0};
    run_seed(64, 0, 7, &a);
    run_seed(0, 99, 7, &b);
    run_seed(4096, 0, 7, &c);
    run_seed(64, 0, 8, &d);
    assert_true(a.n > 20);
    assert_true(same(&a, &b));
    assert_true(same(&a, &c));
    assert_false(same(&a, &d));
    free(a.ev), free(b.ev), free(c.ev), free(d.ev);
}

/* A tempo change and a jump, both in the middle of blocks. */
static void test_tempo_change_and_jump(void **state)
{
    (void)state;
    const double sr = 48000;
    rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 3);
    const int64_t f1 = 100003, f2 = 250001, total = 400000;
    double fps1 = sr * 60 / (120 * 4), fps2 = sr * 60 / (90 * 4);
    double s1 = f1 / fps1; /* position at the tempo change, in steps */
    abs_tr tr[3] = {{0, roll(120, 0, 0, 1)}, {f1, roll(90, 0, s1 / 4, 1)}, {f2, roll(90, 8, 0, 1)}};
    evlist out = {0};
    drive(e, total, 0, 5, NULL, 0, tr, 3, &out);
    int sounding = 0;
    size_t n2 = 0;
    for (size_t i = 0; i < out.n; i++) {
        const abs_ev *ev = &out.ev[i];
        if (ev->frame < f2) sounding += is_on(ev) - is_off(ev);
        if (ev->frame == f2 && is_off(ev)) sounding--;
        if (!is_on(ev)) continue;
        int64_t f = ev->frame;
        int ok = f < f1   ? on_grid(f, 0, 0, fps1)
                 : f < f2 ? on_grid(f, f1, s1, fps2)
                          : on_grid(f, f2, 8 * 16, fps2);
        if (!ok) fail_msg("note-on at %lld off the grid", (long long)f);
        if (f >= f2) n2++;
    }
    assert_int_equal(sounding, 0); /* the jump ended every note at its frame */
    assert_true(n2 > 5);
    assert_true(count_ons(&out, f1, f2) > 5);
    assert_int_equal(check_pairs(&out) > 1, 0);
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.relocations, 1);
    free(out.ev);
    rnn_engine_free(e);
}

/* With no transport at all, the engine free-runs at its own tempo. */
static void test_free_run(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(44100, RNN_KIND_MELODY, 4);
    rnn_engine_set_param(e, RNN_PARAM_TEMPO, 100);
    evlist out = {0};
    drive(e, 44100 * 10, 0, 3, NULL, 0, NULL, 0, &out);
    double fps = 44100 * 60.0 / (100 * 4);
    assert_true(count_ons(&out, 0, INT64_MAX) > 10);
    for (size_t i = 0; i < out.n; i++)
        if (is_on(&out.ev[i])) assert_true(on_grid(out.ev[i].frame, 0, 0, fps));
    free(out.ev);
    rnn_engine_free(e);
}

/* A phrase played in continue mode primes the net exactly as the trainer
 * encodes it: the engine's continuation equals the one computed here with
 * rnn_encode + rnn_net_step + rnn_sample on the same seed. */
static void test_continue_primes_like_training(void **state)
{
    (void)state;
    const double sr = 48000;
    const double fps = sr * 60 / (120 * 4); /* 6000 frames a step */
    rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 5);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 0);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 127);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 2);
    rnn_engine_set_param(e, RNN_PARAM_RESPONSE_BARS, 2);

    /* 10 notes over 2 bars, played up to 0.4 step early or late */
    static const int pitch[10] = {60, 62, 64, 65, 67, 65, 64, 62, 60, 67};
    static const int on_step[10] = {4, 6, 8, 11, 12, 16, 20, 24, 28, 30};
    static const int off_step[10] = {6, 8, 10, 12, 15, 19, 23, 27, 30, 37};
    static const double jitter[10] = {0.3, -0.4, 0.1, 0, -0.2, 0.45, -0.45, 0.2, 0, 0.35};
    rnn_note notes[10];
    abs_ev in[20];
    size_t n_in = 0;
    for (int i = 0; i < 10; i++) {
        notes[i] = (rnn_note){
            0, 0, pitch[i], 90, on_step[i] * 120 + (int)(jitter[i] * 120), off_step[i] * 120 - 10};
        int64_t fon = (int64_t)((on_step[i] + jitter[i]) * fps);
        int64_t foff = (int64_t)(off_step[i] * fps) - 500;
        in[n_in++] = (abs_ev){fon, {0x90, (uint8_t)pitch[i], 90}};
        in[n_in++] = (abs_ev){foff, {0x80, (uint8_t)pitch[i], 0}};
    }
    for (size_t i = 1; i < n_in; i++) /* sort by frame */
        for (size_t j = i; j > 0 && in[j].frame < in[j - 1].frame; j--) {
            abs_ev t = in[j];
            in[j] = in[j - 1];
            in[j - 1] = t;
        }
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    evlist out = {0};
    drive(e, (int64_t)(fps * 100), 0, 11, in, n_in, tr, 1, &out);

    /* the reference: the trainer's encoding (ppq 480, 4 steps a quarter) */
    rnn_seq_list list = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, 10, 480, 4, &list, err, sizeof err), 0);
    assert_int_equal(list.count, 1);
    const rnn_seq *seq = &list.seqs[0];
    assert_int_equal(seq->start_step, 4);
    int64_t last_step = 36;         /* the last step with a key held (the last note ends at 37) */
    int64_t k0 = last_step + 1 + 8; /* after a gap of 2 beats */
    int x[64];
    int64_t n_x = k0 - seq->start_step;
    for (int64_t k = 0; k < n_x; k++)
        x[k] = k < (int64_t)seq->len ? seq->events[k] : 0;

    rnn_model *m = fixture_model(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 48, 5);
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    rnn_sampler *smp = rnn_sampler_create(130);
    assert_non_null(net);
    assert_non_null(smp);
    rnn_rng rng;
    rnn_rng_seed(&rng, 1234);
    const float *logits = NULL;
    for (int64_t k = 0; k < n_x; k++)
        logits = rnn_net_step(net, x[k]);
    /* the response: 2 bars = 32 steps from k0 */
    int held = -1, n_checked = 0;
    size_t oi = 0;
    for (int64_t k = k0; k < k0 + 32; k++) {
        int y = rnn_sample(smp, &rng, logits, 130, 1.0f, 0.95f, NULL);
        int64_t f = grid_frame(0, 0, fps, (double)k);
        if (y >= 2) {
            /* the engine's next note-on is this one, at this frame */
            while (oi < out.n && !is_on(&out.ev[oi]))
                oi++;
            assert_true(oi < out.n);
            assert_int_equal(out.ev[oi].frame, f);
            assert_int_equal(out.ev[oi].d[1], y - 2);
            oi++;
            n_checked++;
            held = y - 2;
        } else if (y == 1) {
            held = -1;
        }
        logits = rnn_net_step(net, y);
    }
    (void)held;
    assert_true(n_checked > 3);
    /* nothing generated while the player played or during the gap */
    assert_int_equal(count_ons(&out, 0, grid_frame(0, 0, fps, (double)k0)), 0);
    /* and nothing after the response */
    assert_int_equal(count_ons(&out, grid_frame(0, 0, fps, (double)(k0 + 32)), INT64_MAX), 0);
    assert_int_equal(check_pairs(&out), 0);
    rnn_seq_list_free(&list);
    rnn_net_free(net);
    rnn_sampler_free(smp);
    rnn_model_free(m);
    free(out.ev);
    rnn_engine_free(e);
}

/* The repeat limit: with limit L no generated pitch is struck more than L
 * times in a row; without it the same run (a fixture that favours one pitch)
 * strikes it longer. */
static int longest_run(const evlist *l)
{
    int best = 0, run = 0, last = -1;
    for (size_t i = 0; i < l->n; i++) {
        if (!is_on(&l->ev[i])) continue;
        run = l->ev[i].d[1] == last ? run + 1 : 1;
        last = l->ev[i].d[1];
        if (run > best) best = run;
    }
    return best;
}

static void test_repeat_limit(void **state)
{
    (void)state;
    const double sr = 48000, fps = 6000;
    int runs[2];
    for (int i = 0; i < 2; i++) {
        rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 13);
        rnn_engine_set_param(e, RNN_PARAM_LOWEST, 0);
        rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 127);
        rnn_engine_set_param(e, RNN_PARAM_TEMPERATURE, 0.0f); /* the likeliest: loops */
        rnn_engine_set_param(e, RNN_PARAM_REPEAT_LIMIT, i == 0 ? 0.0f : 3.0f);
        abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
        evlist out = {0};
        drive(e, (int64_t)(fps * 256) - 1, 0, 41, NULL, 0, tr, 1, &out);
        runs[i] = longest_run(&out);
        free(out.ev);
        rnn_engine_free(e);
    }
    assert_true(runs[0] > 3); /* the fixture does loop without a limit */
    assert_true(runs[1] >= 1 && runs[1] <= 3);
}

/* A key held while a melody model is swapped for a drum model is still
 * released by its note-off: the drum phrase played afterwards is continued. */
static void test_key_released_across_model_swap(void **state)
{
    (void)state;
    const double fps = 6000; /* frames per step at 48 kHz, 120 BPM */
    char err[256];
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 13);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 1.0f);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    abs_ev in1[1] = {{(int64_t)(1 * fps), {0x90, 60, 90}}};
    evlist out = {0};
    drive(e, (int64_t)(4 * fps), 64, 5, in1, 1, tr, 1, &out);

    rnn_model *dm = fixture_model(RNN_KIND_DRUMS, RNN_CELL_LSTM, 2, 16, 48, 21);
    assert_non_null(dm);
    rnn_engine_model *em = rnn_engine_model_wrap(dm, err, sizeof err);
    if (!em) fail_msg("%s", err);
    rnn_engine_model_free(rnn_engine_set_model(e, em));

    /* release the key, then four kicks; the 16 steps after them are quiet */
    abs_ev in2[9];
    in2[0] = (abs_ev){100, {0x80, 60, 0}};
    for (int i = 0; i < 4; i++) {
        in2[1 + 2 * i] = (abs_ev){(int64_t)((2 + 2 * i) * fps), {0x99, 36, 100}};
        in2[2 + 2 * i] = (abs_ev){(int64_t)((2 + 2 * i) * fps) + 500, {0x89, 36, 0}};
    }
    evlist out2 = {0};
    drive(e, (int64_t)(40 * fps), 64, 6, in2, 9, NULL, 0, &out2);
    size_t drum_ons = 0;
    for (size_t i = 0; i < out2.n; i++)
        if (is_on(&out2.ev[i]) && (out2.ev[i].d[0] & 15) == RNN_DRUMS_CHANNEL) drum_ons++;
    assert_true(drum_ons > 0);
    free(out.ev);
    free(out2.ev);
    rnn_engine_free(e);
}

/* Accompany hears the player: at every step the network is fed what the
 * player played there (encoded as the trainer does) or else what it played
 * itself; the engine's notes equal those of that loop run directly with
 * core/net + core/sample. This also covers a step begun at a tick with the
 * generated event and restarted at its commit with the player's. The
 * player's notes are given twice, as the trainer's notes (ticks, 120 a step)
 * and as the engine's input (frames, 6000 a step, sorted, none in the last
 * step); the engine runs K steps, the last block from tick K - 1 to just
 * before tick K, which finishes the step of K - 1. Beyond the note-ons, the
 * engine's net must then hold the state of the loop's, bit for bit: on a
 * net of hidden 16 a single step heard differently shows there even when
 * the samples do not move. Returns the note-ons checked, and in *heard the
 * steps where the net heard the player rather than itself. */
static int accompany_case(const rnn_note *notes, size_t n_notes, const abs_ev *in, size_t n_in,
                          int K, uint64_t wseed, int hidden, uint64_t bseed, int *heard_out)
{
    const double sr = 48000, fps = 6000;
    rnn_engine *e = make_engine_hidden(sr, RNN_KIND_MELODY, wseed, hidden);
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 0);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 127);
    rnn_engine_set_param(e, RNN_PARAM_TEMPERATURE, 0.8f);
    rnn_engine_set_param(e, RNN_PARAM_TOP_P, 0.9f);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    evlist out = {0};
    drive(e, (int64_t)(fps * (K - 1)), 0, bseed, in, n_in, tr, 1, &out);
    assert_true(n_in == 0 || in[n_in - 1].frame < (int64_t)(fps * (K - 1)));
    static rnn_engine_event ob[256];
    uint32_t no = rnn_engine_run(e, (uint32_t)fps - 1, NULL, 0, NULL, 0, ob, 256);
    for (uint32_t i = 0; i < no; i++)
        push(&out, (int64_t)(fps * (K - 1)) + ob[i].frame, ob[i].data);
    rnn_engine_model *em = rnn_engine_set_model(e, NULL);
    rnn_net *heard_net = rnn_engine_model_net(em);

    rnn_seq_list list = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n_notes, 480, 4, &list, err, sizeof err),
                     0);
    assert_int_equal(list.count, 1);
    const rnn_seq *seq = &list.seqs[0];
    rnn_model *m = fixture_model(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, hidden, wseed);
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    rnn_sampler *smp = rnn_sampler_create(130);
    assert_non_null(net);
    assert_non_null(smp);
    rnn_rng rng;
    rnn_rng_seed(&rng, 1234);
    /* a fresh net's first note: drawn from the logits after 'no event' from
     * the zero state, never 'no event' or a note-off; then the net goes on
     * from that step with the note, as rnnmidi-gen's takes do */
    float first[130];
    memcpy(first, rnn_net_step(net, 0), sizeof first);
    first[0] = first[1] = -INFINITY;
    const float *logits = first;
    size_t oi = 0;
    int checked = 0, heard = 0;
    for (int k = 0; k < K; k++) {
        int y = rnn_sample(smp, &rng, logits, 130, 0.8f, 0.9f, NULL);
        int64_t pk = k - seq->start_step;
        int p = pk >= 0 && pk < (int64_t)seq->len ? seq->events[pk] : 0;
        if (y >= 2) {
            while (oi < out.n && !is_on(&out.ev[oi]))
                oi++;
            if (oi >= out.n) fail_msg("no engine note-on for the note-on %d at step %d", y - 2, k);
            if (out.ev[oi].frame != (int64_t)(k * fps) || out.ev[oi].d[1] != y - 2)
                fail_msg("step %d: the engine plays %d at step %.2f, the trainer's encoding "
                         "gives %d",
                         k, out.ev[oi].d[1], out.ev[oi].frame / fps, y - 2);
            oi++;
            checked++;
        }
        heard += p != 0 && p != y;
        logits = rnn_net_step(net, p != 0 ? p : y);
    }
    while (oi < out.n && !is_on(&out.ev[oi]))
        oi++;
    assert_int_equal(oi, out.n); /* no other note-on */
    size_t ns = rnn_net_state_size(net);
    assert_int_equal(rnn_net_state_size(heard_net), ns);
    float *want = malloc(ns * sizeof *want), *got = malloc(ns * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    rnn_net_state_get(net, want);
    rnn_net_state_get(heard_net, got);
    if (memcmp(want, got, ns * sizeof *want) != 0)
        fail_msg("after %d steps the engine's net differs from the one fed the trainer's encoding",
                 K);
    free(want);
    free(got);
    rnn_engine_model_free(em);
    rnn_seq_list_free(&list);
    rnn_net_free(net);
    rnn_sampler_free(smp);
    rnn_model_free(m);
    free(out.ev);
    rnn_engine_free(e);
    *heard_out = heard;
    return checked;
}

static void test_accompany_hears_player(void **state)
{
    (void)state;
    const double fps = 6000;
    /* 12 notes from step 8 to step 45, some early, some late */
    rnn_note notes[12];
    abs_ev in[24];
    size_t n_in = 0;
    for (int i = 0; i < 12; i++) {
        int on = 8 + 3 * i, off = on + 2, pitch = 55 + (i * 5) % 17;
        double jit = (i % 3 - 1) * 0.3;
        notes[i] = (rnn_note){0, 0, pitch, 90, (int64_t)((on + jit) * 120), off * 120 - 5};
        in[n_in++] = (abs_ev){(int64_t)((on + jit) * fps), {0x90, (uint8_t)pitch, 90}};
        in[n_in++] = (abs_ev){(int64_t)(off * fps) - 250, {0x80, (uint8_t)pitch, 0}};
    }
    int heard;
    int checked = accompany_case(notes, 12, in, n_in, 80, 13, 48, 41, &heard);
    assert_true(checked > 10);
    assert_true(heard > 5);
    checked = accompany_case(notes, 12, in, n_in, 80, 13, 16, 41, &heard);
    assert_true(checked > 10);
    assert_true(heard > 5);
}

/* The skyline heard live as in a file: notes over a held bass note (the bass
 * struck again each time one ends), grace notes struck and released inside
 * one step (over the bass, and alone), a note hidden under a held one. */
static void test_accompany_hears_skyline(void **state)
{
    (void)state;
    const double fps = 6000;
    static const struct {
        double on, off; /* steps */
        int pitch;
    } nt[] = {
        {8.2, 30.3, 48},                      /* the bass, held under the rest */
        {10.1, 12.4, 60},                     /* over it: the bass again at step 12 */
        {13.0, 13.3, 62},                     /* a grace note over it: step 13 only */
        {16.4, 18.0, 64},   {17.1, 17.4, 50}, /* hidden under 64 */
        {20.45, 20.48, 65}, {24.3, 25.2, 67}, {25.3, 29.4, 69},
        {27.2, 27.3, 72},                     /* a grace note over 69 */
        {32.1, 33.2, 55},   {34.2, 34.4, 57}, /* a grace note alone: a note-off after it */
        {36.0, 38.1, 59},   {38.2, 40.1, 60}, {40.3, 43.4, 62},
    };
    const size_t n = sizeof nt / sizeof nt[0];
    rnn_note notes[sizeof nt / sizeof nt[0]];
    abs_ev in[2 * sizeof nt / sizeof nt[0]];
    size_t n_in = 0;
    for (size_t i = 0; i < n; i++) {
        notes[i] = (rnn_note){
            0, 0, nt[i].pitch, 90, (int64_t)(nt[i].on * 120), (int64_t)(nt[i].off * 120)};
        in[n_in++] = (abs_ev){(int64_t)(nt[i].on * fps), {0x90, (uint8_t)nt[i].pitch, 90}};
        in[n_in++] = (abs_ev){(int64_t)(nt[i].off * fps), {0x80, (uint8_t)nt[i].pitch, 0}};
    }
    for (size_t i = 1; i < n_in; i++) /* sort by frame */
        for (size_t j = i; j > 0 && in[j].frame < in[j - 1].frame; j--) {
            abs_ev t = in[j];
            in[j] = in[j - 1];
            in[j - 1] = t;
        }
    int heard;
    int checked = accompany_case(notes, n, in, n_in, 64, 14, 16, 43, &heard);
    assert_true(checked > 10);
    assert_true(heard > 8);
}

/* Call and response: silence during the call, the answer starts on the
 * next bar line after the gap and is no longer than the call. */
static void test_call_and_response(void **state)
{
    (void)state;
    const double sr = 48000, fps = 6000;
    rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 6);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CALL_RESPONSE);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 1);
    rnn_engine_set_param(e, RNN_PARAM_RESPONSE_BARS, 4);
    rnn_engine_set_param(e, RNN_PARAM_DENSITY, 0.9f);
    /* a call of 6 notes on steps 16..27 (bar 1), then a second call in bar 6 */
    abs_ev in[24];
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        in[n++] = (abs_ev){(int64_t)((16 + 2 * i) * fps), {0x90, (uint8_t)(60 + i), 100}};
        in[n++] = (abs_ev){(int64_t)((17 + 2 * i) * fps), {0x80, (uint8_t)(60 + i), 0}};
    }
    for (int i = 0; i < 4; i++) {
        in[n++] = (abs_ev){(int64_t)((96 + 2 * i) * fps), {0x90, (uint8_t)(70 + i), 100}};
        in[n++] = (abs_ev){(int64_t)((97 + 2 * i) * fps), {0x80, (uint8_t)(70 + i), 0}};
    }
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    evlist out = {0};
    drive(e, (int64_t)(fps * 160), 0, 17, in, n, tr, 1, &out);
    /* call 1 ends at step 27; gap 4 steps -> 32 is on the bar line: answer
     * steps 32..43 (12 steps, rounded to whole beats) */
    assert_int_equal(count_ons(&out, 0, 32 * 6000), 0);
    assert_true(count_ons(&out, 32 * 6000, 44 * 6000) > 0);
    assert_int_equal(count_ons(&out, 44 * 6000, 96 * 6000), 0);
    /* call 2 ends at step 103; answer on bar line 112, 8 steps */
    assert_int_equal(count_ons(&out, 96 * 6000, 112 * 6000), 0);
    assert_true(count_ons(&out, 112 * 6000, 120 * 6000) > 0);
    assert_int_equal(count_ons(&out, 120 * 6000, INT64_MAX), 0);
    assert_int_equal(check_pairs(&out), 0);
    free(out.ev);
    rnn_engine_free(e);
}

/* Drums: channel 10, the canonical GM pitches, hits as long as the gate. */
static void test_drums(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(48000, RNN_KIND_DRUMS, 7);
    rnn_engine_set_param(e, RNN_PARAM_GATE, 0.25f);
    rnn_engine_set_param(e, RNN_PARAM_CHANNEL, 3);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    evlist out = {0};
    drive(e, 48000 * 6, 0, 23, NULL, 0, tr, 1, &out);
    assert_true(count_ons(&out, 0, INT64_MAX) > 10);
    for (size_t i = 0; i < out.n; i++) {
        const abs_ev *ev = &out.ev[i];
        assert_int_equal(ev->d[0] & 15, 9);
        int c = rnn_drum_class_of_pitch(ev->d[1]);
        assert_true(c >= 0);
        assert_int_equal(rnn_drum_pitch_of_class(c), ev->d[1]);
        if (is_on(ev)) {
            assert_true(on_grid(ev->frame, 0, 0, 6000));
            size_t j = i + 1;
            while (j < out.n && !(is_off(&out.ev[j]) && out.ev[j].d[1] == ev->d[1]))
                j++;
            assert_true(j < out.n);
            assert_int_equal(out.ev[j].frame - ev->frame, 1500);
        }
    }
    assert_int_equal(check_pairs(&out), 0);
    free(out.ev);
    rnn_engine_free(e);
}

/* Key, scale and range: every generated pitch obeys the mask. */
static void test_scale_mask(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 8);
    rnn_engine_set_param(e, RNN_PARAM_KEY, 2); /* D */
    rnn_engine_set_param(e, RNN_PARAM_SCALE, RNN_SCALE_MINOR_PENTATONIC);
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 50);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 74);
    rnn_engine_set_param(e, RNN_PARAM_DENSITY, 0.9f);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    evlist out = {0};
    drive(e, 48000 * 10, 64, 0, NULL, 0, tr, 1, &out);
    assert_true(count_ons(&out, 0, INT64_MAX) > 10);
    for (size_t i = 0; i < out.n; i++) {
        if (!is_on(&out.ev[i])) continue;
        int p = out.ev[i].d[1], deg = (p - 2 + 120) % 12;
        assert_true(p >= 50 && p <= 74);
        assert_true(deg == 0 || deg == 3 || deg == 5 || deg == 7 || deg == 10);
    }
    /* with 64-frame blocks every step was spread out and done before its tick */
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.late_steps, 0);
    assert_true(st.net_steps > 60); /* 10 s at 8 steps a second */
    free(out.ev);
    rnn_engine_free(e);
}

/* A model swap mid-run ends the notes and playing goes on; so does a mode change. */
static void test_model_swap_and_mode_change(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 9);
    static rnn_engine_event ob[4096];
    rnn_transport t = roll(120, 0, 0, 1);
    evlist out = {0};
    int64_t pos = 0;
    char err[256];
    for (int b = 0; b < 3000; b++) {
        if (b == 1000) {
            rnn_engine_model *em = rnn_engine_model_wrap(
                fixture_model(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 0, 32, 10), err, sizeof err);
            assert_non_null(em);
            rnn_engine_model_free(rnn_engine_set_model(e, em));
        }
        if (b == 2000) rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
        if (b == 2100) rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
        uint32_t n = rnn_engine_run(e, 128, NULL, 0, b == 0 ? &t : NULL, b == 0, ob, 4096);
        for (uint32_t i = 0; i < n; i++)
            push(&out, pos + ob[i].frame, ob[i].data);
        if (b == 1000 || b == 2000) {
            /* at the swap and the mode change nothing is left sounding */
            evlist upto = {out.ev, out.n, out.cap};
            assert_int_equal(check_pairs(&upto), 0);
        }
        pos += 128;
    }
    assert_true(count_ons(&out, 0, 1000 * 128) > 10);
    assert_true(count_ons(&out, 1000 * 128, 2000 * 128) > 10);
    assert_int_equal(count_ons(&out, 2000 * 128, 2100 * 128), 0);
    assert_true(count_ons(&out, 2100 * 128, INT64_MAX) > 10);
    for (size_t i = 0; i < out.n; i++)
        if (out.ev[i].frame >= 1000 * 128 + 1) assert_int_equal(out.ev[i].d[0] & 15, 9);
    free(out.ev);
    rnn_engine_free(e);
}

/* Thousands of events in one block, zero-frame blocks, thru on: the output
 * stays within its buffer, sorted, and the engine's own notes pair up. */
static void test_flood_and_zero_blocks(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 11);
    rnn_engine_set_param(e, RNN_PARAM_THRU, 1);
    rnn_engine_set_param(e, RNN_PARAM_CHANNEL, 16);
    static rnn_engine_event in[6000], ob[512];
    for (int i = 0; i < 6000; i++)
        in[i] = (rnn_engine_event){(uint32_t)(i * 4096 / 6000),
                                   3,
                                   {(uint8_t)(i & 1 ? 0x80 : 0x90), (uint8_t)(40 + i % 40), 64},
                                   0};
    rnn_transport t = roll(120, 0, 0, 1);
    evlist gen = {0};
    int64_t pos = 0;
    for (int b = 0; b < 200; b++) {
        uint32_t frames = b % 3 == 0 ? 0 : 4096;
        uint32_t n_in = frames ? 6000 : 0;
        uint32_t n = rnn_engine_run(e, frames, in, n_in, b == 0 ? &t : NULL, b == 0, ob, 512);
        assert_true(n <= 512);
        for (uint32_t i = 0; i < n; i++) {
            if (i) assert_true(ob[i].frame >= ob[i - 1].frame);
            if ((ob[i].data[0] & 15) == 15) push(&gen, pos + ob[i].frame, ob[i].data);
        }
        pos += frames;
    }
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_true(st.dropped > 0);
    rnn_transport stop = {0};
    stop.flags = RNN_TRANSPORT_SPEED;
    uint32_t n = rnn_engine_run(e, 64, NULL, 0, &stop, 1, ob, 512);
    for (uint32_t i = 0; i < n; i++)
        push(&gen, pos + ob[i].frame, ob[i].data);
    assert_int_equal(check_pairs(&gen), 0);
    free(gen.ev);
    rnn_engine_free(e);
}

/* Without a model: MIDI thru only, and deactivate/reset ends sounding notes. */
static void test_no_model_and_reset(void **state)
{
    (void)state;
    char err[256];
    rnn_engine *e = rnn_engine_create(48000, 512, err, sizeof err);
    assert_non_null(e);
    rnn_engine_event in[2] = {{5, 3, {0x90, 60, 100}, 0}, {9, 3, {0x80, 60, 0}, 0}}, ob[64];
    assert_int_equal(rnn_engine_run(e, 64, in, 2, NULL, 0, ob, 64), 2);
    assert_int_equal(ob[0].frame, 5);
    assert_int_equal(ob[1].data[0], 0x80);
    rnn_engine_free(e);

    e = make_engine(48000, RNN_KIND_MELODY, 12);
    rnn_transport t = roll(120, 0, 0, 1);
    evlist out = {0};
    int64_t pos = 0;
    for (int b = 0; b < 400; b++) {
        uint32_t n = rnn_engine_run(e, 256, NULL, 0, b == 0 ? &t : NULL, b == 0, ob, 64);
        for (uint32_t i = 0; i < n; i++)
            push(&out, pos + ob[i].frame, ob[i].data);
        pos += 256;
    }
    rnn_engine_all_notes_off(e); /* deactivate */
    rnn_engine_reset(e);         /* activate */
    rnn_transport stopped = roll(120, 0, 0, 0);
    uint32_t n = rnn_engine_run(e, 1, NULL, 0, &stopped, 1, ob, 64);
    for (uint32_t i = 0; i < n; i++)
        push(&out, pos + ob[i].frame, ob[i].data);
    assert_int_equal(check_pairs(&out), 0);
    assert_true(count_ons(&out, 0, INT64_MAX) > 5);
    free(out.ev);
    rnn_engine_free(e);
}

/* ------------------------------------------------- phrases and answers
 * Each scenario is recomputed step by step with core/net + core/sample: the
 * net hears the player's steps as the trainer encodes them, then the rest
 * after the phrase up to the longest rest a training sequence holds (the
 * note-off step and 14 silent steps for a melody, 15 empty steps for drums:
 * a gap of RNN_SPLIT_GAP_STEPS splits), then nothing more until the answer,
 * which it samples and hears step by step. Every engine note-on must be one
 * of these, at the frame of its step; nothing else may sound. */

#define SC_STEPS 512

typedef struct {
    double on, off; /* in steps */
    int pitch;
} sc_note;

/* skip the step; hear the player's event; generate and hear it; generate but
 * hear the player's; start afresh and hear the player's */
enum { SC_SKIP = 0, SC_FEED, SC_GEN, SC_GEN_HEAR, SC_FRESH };

typedef struct {
    int8_t mode[SC_STEPS]; /* SC_*: what the net does at each step */
    int x[SC_STEPS];       /* the player's event of the step */
} sc_script;

typedef struct {
    int64_t frame;
    int pitch;
} sc_on;

/* The player's notes as engine input (sorted) and as trainer notes. */
static size_t sc_input(const sc_note *nt, size_t n, int drums, double fps, abs_ev *in,
                       rnn_note *notes)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t st = drums ? 0x99 : 0x90;
        in[m++] = (abs_ev){(int64_t)(nt[i].on * fps), {st, (uint8_t)nt[i].pitch, 100}};
        in[m++] =
            (abs_ev){(int64_t)(nt[i].off * fps), {(uint8_t)(st - 0x10), (uint8_t)nt[i].pitch, 0}};
        notes[i] = (rnn_note){0,
                              drums ? 9 : 0,
                              nt[i].pitch,
                              100,
                              (int64_t)(nt[i].on * 120),
                              (int64_t)(nt[i].off * 120)};
    }
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && in[j].frame < in[j - 1].frame; j--) {
            abs_ev t = in[j];
            in[j] = in[j - 1];
            in[j - 1] = t;
        }
    return m;
}

/* Mark a call's steps in the script: its events (the trainer's encoding,
 * cut at the call's last event) are heard, then the rest up to the split.
 * Returns the last step the player played or held (the phrase end); *first
 * receives its first step. */
static int64_t sc_call(sc_script *s, rnn_kind kind, const sc_note *nt, size_t n, int64_t *first)
{
    int drums = kind == RNN_KIND_DRUMS;
    rnn_note notes[64];
    abs_ev in[128];
    sc_input(nt, n, drums, 6000, in, notes);
    /* the step of the call's last event: a melody's note-off, the last hit */
    double t_end = 0;
    for (size_t i = 0; i < n; i++) {
        double t = drums ? nt[i].on : nt[i].off;
        if (t > t_end) t_end = t;
    }
    int64_t cend = (int64_t)floor(t_end + 0.5);
    /* notes after the call, close enough not to split it, keep a short call
     * above the trainer's length and note-count limits; they do not change
     * its events up to cend */
    size_t m = n;
    for (int i = 0; i < 8; i++)
        notes[m++] = (rnn_note){
            0, drums ? 9 : 0, 36, 100, (cend + 8 + 6 * i) * 120, (cend + 9 + 6 * i) * 120};
    rnn_seq_list list = {0};
    char err[256];
    assert_int_equal(rnn_encode(kind, notes, m, 480, 4, &list, err, sizeof err), 0);
    assert_int_equal(list.count, 1);
    const rnn_seq *q = &list.seqs[0];
    *first = q->start_step;
    assert_true(q->start_step + (int64_t)q->len > cend);
    for (int64_t k = q->start_step; k <= cend; k++) {
        s->mode[k] = SC_FEED;
        s->x[k] = q->events[k - q->start_step];
    }
    int64_t rest = drums ? RNN_SPLIT_GAP_STEPS - 1 : RNN_SPLIT_GAP_STEPS - 2;
    for (int64_t k = cend + 1; k <= cend + rest; k++) {
        s->mode[k] = SC_FEED;
        s->x[k] = 0;
    }
    rnn_seq_list_free(&list);
    /* a melody's last event is its note-off: the phrase ended the step before */
    return drums ? cend : cend - 1;
}

/* Call-and-response: the answer's first step and length for a phrase
 * [first, last] with the default gap (2 beats) and 2 response bars. */
static void sc_answer(sc_script *s, int64_t first, int64_t last, int64_t *b, int64_t *len)
{
    int64_t k = last + 1 + 8;
    *b = (k + 15) / 16 * 16;
    int64_t l = (last + 1 - first + 3) / 4 * 4;
    *len = l < 4 ? 4 : l > 32 ? 32 : l;
    for (int64_t j = *b; j < *b + *len; j++)
        s->mode[j] = SC_GEN;
    for (int64_t j = *b + *len; j < SC_STEPS; j++)
        if (s->mode[j] == SC_FEED && s->x[j] == 0) s->mode[j] = SC_SKIP;
}

/* The expected note-ons of a script. */
static size_t sc_reference(rnn_kind kind, uint64_t wseed, const sc_script *s, double fps,
                           sc_on *exp, size_t cap)
{
    char err[256];
    int V = rnn_kind_vocab(kind);
    rnn_model *m = fixture_model(kind, RNN_CELL_LSTM, 2, 16, 48, wseed);
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    rnn_sampler *smp = rnn_sampler_create(V);
    assert_non_null(net);
    assert_non_null(smp);
    rnn_rng rng;
    rnn_rng_seed(&rng, 1234);
    const float *logits = NULL;
    size_t n = 0;
    for (int64_t k = 0; k < SC_STEPS; k++) {
        int feed = s->x[k];
        if (s->mode[k] == SC_SKIP) continue;
        if (s->mode[k] == SC_FRESH) rnn_net_reset(net);
        if (s->mode[k] == SC_GEN || s->mode[k] == SC_GEN_HEAR) {
            assert_non_null(logits);
            int y = rnn_sample(smp, &rng, logits, V, 1.0f, 0.95f, NULL);
            int64_t f = grid_frame(0, 0, fps, (double)k);
            if (kind == RNN_KIND_MELODY && y >= 2) {
                assert_true(n < cap);
                exp[n++] = (sc_on){f, y - 2};
            } else if (kind == RNN_KIND_DRUMS) {
                for (int c = 0; c < RNN_DRUM_CLASSES; c++)
                    if (y >> c & 1) {
                        assert_true(n < cap);
                        exp[n++] = (sc_on){f, rnn_drum_pitch_of_class(c)};
                    }
            }
            if (s->mode[k] == SC_GEN) feed = y;
        }
        logits = rnn_net_step(net, feed);
    }
    rnn_net_free(net);
    rnn_sampler_free(smp);
    rnn_model_free(m);
    return n;
}

/* Run the engine on the notes (random blocks) and compare with the script. */
static void sc_check(rnn_kind kind, int mode, uint64_t wseed, const sc_note *nt, size_t n,
                     const sc_script *s, uint64_t bseed, evlist *out)
{
    const double fps = 6000;
    rnn_engine *e = make_engine(48000, kind, wseed);
    rnn_engine_set_param(e, RNN_PARAM_MODE, (float)mode);
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 0);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 127);
    abs_ev in[256];
    rnn_note notes[128];
    size_t n_in = sc_input(nt, n, kind == RNN_KIND_DRUMS, fps, in, notes);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    drive(e, (int64_t)(fps * SC_STEPS), 0, bseed, in, n_in, tr, 1, out);
    rnn_engine_free(e);

    static sc_on exp[1024];
    size_t n_exp = sc_reference(kind, wseed, s, fps, exp, 1024);
    size_t j = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (!is_on(&out->ev[i])) continue;
        if (j >= n_exp)
            fail_msg("note-on %d at frame %lld (step %.2f) not in the answer", out->ev[i].d[1],
                     (long long)out->ev[i].frame, out->ev[i].frame / fps);
        if (out->ev[i].frame != exp[j].frame || out->ev[i].d[1] != exp[j].pitch)
            fail_msg("note-on %d at step %.2f, expected %d at step %.2f", out->ev[i].d[1],
                     out->ev[i].frame / fps, exp[j].pitch, exp[j].frame / fps);
        j++;
    }
    if (j != n_exp)
        fail_msg("%zu of %zu expected note-ons; the first missing one at step %.2f", j, n_exp,
                 exp[j].frame / fps);
    assert_int_equal(check_pairs(out), 0);
}

/* One melody call ending at `release` (in steps), answered in call mode. */
static void melody_call_case(double release, int64_t want_b, uint64_t wseed)
{
    /* notes every 2 steps from step 2 (release - 14 at most) to the release */
    sc_note nt[16];
    size_t n = 0;
    double on = release - 14 < 2 ? 2 : release - 14;
    for (; on + 1 <= release && n < 16; on += 2, n++)
        nt[n] = (sc_note){on + 0.1 * (double)(n % 3), on + 2 <= release ? on + 1.6 : release,
                          60 + (int)(n * 5) % 12};
    assert_true(n >= 3);
    nt[n - 1].off = release;
    static sc_script s;
    memset(&s, 0, sizeof s);
    int64_t first, b, len;
    int64_t last = sc_call(&s, RNN_KIND_MELODY, nt, n, &first);
    sc_answer(&s, first, last, &b, &len);
    assert_int_equal(b, want_b);
    evlist out = {0};
    sc_check(RNN_KIND_MELODY, RNN_MODE_CALL_RESPONSE, wseed, nt, n, &s, wseed * 7 + 1, &out);
    /* the answer sounds, on the grid, from the bar line on, and nothing after it */
    assert_true(count_ons(&out, b * 6000, (b + len) * 6000) > 0);
    assert_int_equal(count_ons(&out, 0, b * 6000), 0);
    assert_int_equal(count_ons(&out, (b + len) * 6000, INT64_MAX), 0);
    free(out.ev);
}

/* The call's last note ends exactly on the bar line (step 16): the answer
 * starts on the bar line after the gap, 16 steps after the end. */
static void test_call_ends_on_bar_line(void **state)
{
    (void)state;
    melody_call_case(16.0, 32, 21);
    melody_call_case(32.0, 48, 22);
}

/* It ends just before a bar line, and mid-bar: the next bar line after the
 * gap is 17 to 24 steps after its last step, beyond the split. */
static void test_call_ends_before_bar_line_and_mid_bar(void **state)
{
    (void)state;
    melody_call_case(15.0, 32, 23);
    melody_call_case(14.4, 32, 24);
    melody_call_case(9.0, 32, 25);
    melody_call_case(20.0, 32, 26);
    melody_call_case(25.0, 48, 27);
}

/* Continue mode with a listen gap longer than the split: the continuation
 * still comes, primed with the phrase. */
static void test_continue_long_gap(void **state)
{
    (void)state;
    static sc_script s;
    memset(&s, 0, sizeof s);
    sc_note nt[6];
    for (int i = 0; i < 6; i++)
        nt[i] = (sc_note){4 + 2 * i, 5.4 + 2 * i, 62 + i};
    int64_t first;
    int64_t last = sc_call(&s, RNN_KIND_MELODY, nt, 6, &first);
    /* a gap of 5 beats: 20 steps */
    int64_t b = last + 1 + 20;
    for (int64_t k = b; k < b + 32; k++)
        s.mode[k] = SC_GEN;
    for (int64_t k = b + 32; k < SC_STEPS; k++)
        if (s.mode[k] == SC_FEED && s.x[k] == 0) s.mode[k] = SC_SKIP;
    const double fps = 6000;
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 28);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 5);
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 0);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 127);
    abs_ev in[32];
    rnn_note notes[16];
    size_t n_in = sc_input(nt, 6, 0, fps, in, notes);
    abs_tr tr[1] = {{0, roll(120, 0, 0, 1)}};
    evlist out = {0};
    drive(e, (int64_t)(fps * 200), 0, 29, in, n_in, tr, 1, &out);
    rnn_engine_free(e);
    static sc_on exp[256];
    size_t n_exp = sc_reference(RNN_KIND_MELODY, 28, &s, fps, exp, 256);
    assert_true(n_exp > 3);
    size_t j = 0;
    for (size_t i = 0; i < out.n; i++) {
        if (!is_on(&out.ev[i])) continue;
        assert_true(j < n_exp);
        assert_int_equal(out.ev[i].frame, exp[j].frame);
        assert_int_equal(out.ev[i].d[1], exp[j].pitch);
        j++;
    }
    assert_int_equal(j, n_exp);
    assert_int_equal(check_pairs(&out), 0);
    free(out.ev);
}

/* A long silence after an answer brings no second answer: 30 bars of rest
 * after it (sc_check runs 512 steps) hold no note-on. */
static void test_no_second_answer_without_call(void **state)
{
    (void)state;
    static sc_script s;
    memset(&s, 0, sizeof s);
    sc_note nt[5];
    for (int i = 0; i < 5; i++)
        nt[i] = (sc_note){2 + 3 * i, 3.4 + 3 * i, 64 + i}; /* released at 14.4 */
    int64_t first, b, len;
    int64_t last = sc_call(&s, RNN_KIND_MELODY, nt, 5, &first);
    sc_answer(&s, first, last, &b, &len);
    assert_int_equal(b, 32);
    evlist out = {0};
    sc_check(RNN_KIND_MELODY, RNN_MODE_CALL_RESPONSE, 30, nt, 5, &s, 31, &out);
    assert_true(count_ons(&out, b * 6000, (b + len) * 6000) > 0);
    assert_int_equal(count_ons(&out, (b + len) * 6000, INT64_MAX), 0);
    free(out.ev);
}

/* A new call while an answer plays: the answer stops at the player's first
 * note (its sounding note ends there), the net hears the new call, and the
 * new call gets its own answer. */
static void new_call_during_answer(rnn_kind kind, uint64_t wseed)
{
    int drums = kind == RNN_KIND_DRUMS;
    static sc_script s;
    memset(&s, 0, sizeof s);
    sc_note c1[6], c2[4];
    for (int i = 0; i < 6; i++)
        c1[i] = (sc_note){3 + 2 * i, 3.4 + 2 * i, drums ? (i % 2 ? 38 : 36) : 60 + i};
    int64_t first1, b1, len1;
    int64_t last1 = sc_call(&s, kind, c1, 6, &first1);
    sc_answer(&s, first1, last1, &b1, &len1);
    assert_int_equal(b1, 32);
    /* the second call begins 3 steps into the answer, a quarter step late */
    int64_t strike = b1 + 3;
    for (int i = 0; i < 4; i++)
        c2[i] = (sc_note){(double)strike + 0.25 + 2 * i, (double)strike + 1.25 + 2 * i,
                          drums ? 42 : 70 - i};
    for (int64_t k = strike; k < SC_STEPS; k++)
        s.mode[k] = SC_SKIP, s.x[k] = 0;
    int64_t first2;
    static sc_script s2;
    memset(&s2, 0, sizeof s2);
    int64_t last2 = sc_call(&s2, kind, c2, 4, &first2);
    assert_int_equal(first2, strike);
    for (int64_t k = strike; k < SC_STEPS; k++)
        s.mode[k] = s2.mode[k], s.x[k] = s2.x[k];
    /* the tick at `strike` came before the player's note: it was generated
     * and sounded, but the net heard the player there */
    s.mode[strike] = SC_GEN_HEAR;
    int64_t b2, len2;
    sc_answer(&s, first2, last2, &b2, &len2);
    assert_int_equal(b2, 64);

    sc_note all[10];
    memcpy(all, c1, sizeof c1);
    memcpy(all + 6, c2, sizeof c2);
    evlist out = {0};
    sc_check(kind, RNN_MODE_CALL_RESPONSE, wseed, all, 10, &s, wseed + 3, &out);
    /* nothing of the engine's sounds from the strike to the second answer: a
     * held melody note ends at the strike itself, drum hits at their gate */
    int64_t fs = (int64_t)(((double)strike + 0.25) * 6000);
    int sounding = 0;
    for (size_t i = 0; i < out.n; i++) {
        const abs_ev *ev = &out.ev[i];
        if (ev->frame <= fs) {
            sounding += is_on(ev) - is_off(ev);
            continue;
        }
        if (ev->frame >= b2 * 6000) break;
        assert_false(is_on(ev));
        if (!drums) fail_msg("a note-off at step %.2f, after the strike", ev->frame / 6000.0);
        assert_true(ev->frame < (strike + 1) * 6000);
        sounding -= is_off(ev);
    }
    assert_int_equal(sounding, 0);
    if (!drums) {
        /* the answer had a note sounding when the player came in */
        int before = 0;
        for (size_t i = 0; i < out.n && out.ev[i].frame < fs; i++)
            before += is_on(&out.ev[i]) - is_off(&out.ev[i]);
        assert_true(before > 0);
    }
    assert_true(count_ons(&out, b2 * 6000, (b2 + len2) * 6000) > 0);
    free(out.ev);
}

static void test_new_call_during_answer(void **state)
{
    (void)state;
    new_call_during_answer(RNN_KIND_MELODY, 32);
}

static void test_new_call_during_answer_drums(void **state)
{
    (void)state;
    new_call_during_answer(RNN_KIND_DRUMS, 33);
}

/* A note after a rest as long as the split, while the phrase before waits
 * for its bar line, begins a new phrase on a fresh net (as the trainer would
 * begin a new sequence); that phrase is answered, the one before is not. */
static void test_call_after_long_rest_is_new_phrase(void **state)
{
    (void)state;
    static sc_script s, s2;
    memset(&s, 0, sizeof s);
    memset(&s2, 0, sizeof s2);
    sc_note nt[7];
    for (int i = 0; i < 4; i++)
        nt[i] = (sc_note){2 + 2 * i, 3.2 + 2 * i, 60 + 3 * i}; /* released at 9.2 */
    for (int i = 0; i < 3; i++)
        nt[4 + i] = (sc_note){27.1 + 2 * i, 28.3 + 2 * i, 67 - i}; /* 18 steps later */
    int64_t first1, first2;
    sc_call(&s, RNN_KIND_MELODY, nt, 4, &first1);
    int64_t last2 = sc_call(&s2, RNN_KIND_MELODY, nt + 4, 3, &first2);
    assert_int_equal(first2, 27);
    for (int64_t k = first2; k < SC_STEPS; k++)
        s.mode[k] = s2.mode[k], s.x[k] = s2.x[k];
    s.mode[first2] = SC_FRESH;
    int64_t b, len;
    sc_answer(&s, first2, last2, &b, &len);
    assert_int_equal(b, 48);
    assert_int_equal(len, 8);
    evlist out = {0};
    sc_check(RNN_KIND_MELODY, RNN_MODE_CALL_RESPONSE, 39, nt, 7, &s, 40, &out);
    assert_int_equal(count_ons(&out, 0, 48 * 6000), 0);
    assert_true(count_ons(&out, 48 * 6000, 56 * 6000) > 0);
    free(out.ev);
}

/* Drums: a groove ending on a bar line, just before one and mid-bar. */
static void drum_call_case(double last_hit, int64_t want_b, uint64_t wseed)
{
    sc_note nt[12];
    size_t n = 0;
    for (double on = last_hit - 11; on <= last_hit + 1e-9 && n < 12; on += 1, n++)
        nt[n] = (sc_note){on + 0.2 * (double)(n % 2), on + 0.45, n % 4 == 0 ? 36 : n % 2 ? 42 : 38};
    static sc_script s;
    memset(&s, 0, sizeof s);
    int64_t first, b, len;
    int64_t last = sc_call(&s, RNN_KIND_DRUMS, nt, n, &first);
    assert_int_equal(last, (int64_t)floor(last_hit + 0.5));
    sc_answer(&s, first, last, &b, &len);
    assert_int_equal(b, want_b);
    evlist out = {0};
    sc_check(RNN_KIND_DRUMS, RNN_MODE_CALL_RESPONSE, wseed, nt, n, &s, wseed + 5, &out);
    assert_true(count_ons(&out, b * 6000, (b + len) * 6000) > 0);
    assert_int_equal(count_ons(&out, 0, b * 6000), 0);
    free(out.ev);
}

static void test_drum_call_answers(void **state)
{
    (void)state;
    drum_call_case(16, 32, 34); /* the last hit on the bar line */
    drum_call_case(15, 32, 35); /* just before it */
    drum_call_case(14, 32, 36);
    drum_call_case(22, 32, 37); /* mid-bar */
    drum_call_case(26, 48, 38);
}

/* A host's transport with absurd but finite values (a tempo or speed near
 * zero, a position of 1e30 beats, a tempo of 1e9) must neither hang the
 * audio thread nor tick more than once a frame; the clock then goes on. */
static void test_absurd_transport(void **state)
{
    (void)state;
    const struct {
        double bpm, beat, speed;
    } cases[] = {{1e-20, 0, 1}, {120, 0, 1e-30}, {120, 1e30, 1}, {120, -1e30, 1}, {1e9, 0, 1}};
    static rnn_engine_event ob[512];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 21);
        rnn_transport t = roll(cases[c].bpm, 0, cases[c].beat, cases[c].speed);
        if (c == 1) t.beat_unit = 1e-300; /* and a meter no host means */
        if (c == 2) t.beats_per_bar = 1e300;
        alarm(20); /* a hang fails the test instead of stalling it */
        for (int b = 0; b < 4; b++)
            rnn_engine_run(e, 512, NULL, 0, b == 0 ? &t : NULL, b == 0, ob, 512);
        rnn_engine_stats st;
        rnn_engine_get_stats(e, &st);
        assert_true(st.steps <= 4 * 512);
        /* a sane transport afterwards plays on the grid again */
        rnn_transport sane = roll(120, 10, 0, 1);
        uint64_t steps0 = st.steps;
        for (int b = 0; b < 100; b++)
            rnn_engine_run(e, 480, NULL, 0, b == 0 ? &sane : NULL, b == 0, ob, 512);
        alarm(0);
        rnn_engine_get_stats(e, &st);
        assert_int_equal(st.steps - steps0, 8); /* 1 s at 120 BPM, 4 steps a beat */
        rnn_engine_free(e);
    }
}

/* A count-in (the host's bar -1) after the engine has played: in continue
 * mode, with nobody playing, the net hears nothing at all before bar 0 (no
 * leftover generated event stands in for step -1's input). */
static void test_count_in_hears_nothing(void **state)
{
    (void)state;
    static rnn_engine_event ob[512];
    for (int ticks = 1; ticks <= 8; ticks++) { /* stop after various last notes */
        rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 23);
        rnn_engine_set_param(e, RNN_PARAM_DENSITY, 1);
        rnn_transport t = roll(120, 0, 0, 1);
        rnn_engine_run(e, 1, NULL, 0, &t, 1, ob, 512);
        for (int b = 0; b < ticks; b++) /* accompany: one tick a block */
            rnn_engine_run(e, 6000, NULL, 0, NULL, 0, ob, 512);
        rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
        rnn_engine_stats st;
        rnn_engine_get_stats(e, &st);
        uint64_t steps0 = st.net_steps, ticks0 = st.steps;
        rnn_transport count_in = roll(120, -1, 0, 1);
        for (int b = 0; b < 250; b++) /* bar -1 and a beat of bar 0 */
            rnn_engine_run(e, 480, NULL, 0, b == 0 ? &count_in : NULL, b == 0, ob, 512);
        rnn_engine_get_stats(e, &st);
        assert_int_equal(st.steps - ticks0, 20);
        assert_int_equal(st.net_steps - steps0, 0);
        rnn_engine_free(e);
    }
}

/* ------------------------------------------------------------ the budget */

/* A host at 1e6 BPM and transport speed 1e4 in 8192-frame blocks, the player
 * playing into accompany mode: the clock ticks once a frame, but the network
 * steps of a block stay within the budget's rate (RNN_ENGINE_MAX_QPM), the
 * steps between are skipped, notes still play, and the stop ends them all. */
static void test_budget_absurd_host(void **state)
{
    (void)state;
    const double sr = 48000;
    const uint32_t block = 8192;
    rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 31);
    rnn_engine_set_param(e, RNN_PARAM_DENSITY, 0.9f);
    const double rate = RNN_ENGINE_MAX_QPM / 60.0 * 4; /* the fixture's 4 steps a quarter */
    const uint64_t most = (uint64_t)(block * rate / sr) + 2;
    static rnn_engine_event ib[64], ob[4096];
    rnn_transport t = roll(1e6, 0, 0, 1e4);
    evlist out = {0};
    int64_t pos = 0;
    rnn_engine_stats st;
    uint64_t prev = 0;
    alarm(60);
    for (int b = 0; b < 60; b++) {
        uint32_t ni = 0; /* a key struck and released in every block */
        ib[ni++] = (rnn_engine_event){100, 3, {0x90, (uint8_t)(60 + b % 12), 90}, 0};
        ib[ni++] = (rnn_engine_event){3000, 3, {0x80, (uint8_t)(60 + b % 12), 0}, 0};
        uint32_t n = rnn_engine_run(e, block, ib, ni, b == 0 ? &t : NULL, b == 0, ob, 4096);
        for (uint32_t i = 0; i < n; i++)
            push(&out, pos + ob[i].frame, ob[i].data);
        pos += block;
        rnn_engine_get_stats(e, &st);
        if (st.net_steps - prev > most)
            fail_msg("block %d: %llu network steps, the budget allows %llu", b,
                     (unsigned long long)(st.net_steps - prev), (unsigned long long)most);
        prev = st.net_steps;
    }
    alarm(0);
    assert_true(st.steps >= 59 * (uint64_t)block); /* the clock followed the host */
    assert_true(st.steps_skipped > 0);
    assert_true(st.net_steps > 20);
    assert_true(count_ons(&out, 0, pos) > 5);
    rnn_transport stop = {0};
    stop.flags = RNN_TRANSPORT_SPEED;
    uint32_t n = rnn_engine_run(e, 64, NULL, 0, &stop, 1, ob, 4096);
    for (uint32_t i = 0; i < n; i++)
        push(&out, pos + ob[i].frame, ob[i].data);
    assert_int_equal(check_pairs(&out), 0);
    free(out.ev);
    rnn_engine_free(e);
}

/* Up to RNN_ENGINE_MAX_QPM nothing is skipped: 300 BPM at speed 2 computes
 * every step. */
static void test_budget_full_rate(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(48000, RNN_KIND_MELODY, 32);
    static rnn_engine_event ob[512];
    rnn_transport t = roll(RNN_ENGINE_MAX_QPM / 2, 0, 0, 2);
    for (int b = 0; b < 200; b++)
        rnn_engine_run(e, 480, NULL, 0, b == 0 ? &t : NULL, b == 0, ob, 512);
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.steps, 80); /* 2 s at 600 quarters a minute, 4 steps each */
    assert_int_equal(st.steps_skipped, 0);
    assert_true(st.net_steps >= 79);
    rnn_engine_free(e);
}

/* A new temporary folder, in memory where the system has one (the big
 * preset below is written with fsync). */
static void temp_dir(char *dir, size_t len)
{
    snprintf(dir, len, "%s/rnnmidi-engine-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    assert_non_null(mkdtemp(dir));
}

/* Write a preset with zero weights (a cost, not a model). */
static void write_zero_model(const char *path, const rnn_model_config *cfg)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS] = {0};
    int n = rnn_model_tensor_specs(cfg, specs);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        data[i] = calloc(specs[i].count, sizeof(float));
        assert_non_null(data[i]);
    }
    char err[256];
    if (rnn_model_write(path, cfg, NULL, 0, (const float *const *)data, err, sizeof err))
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        free(data[i]);
}

/* An LSTM 2x1024 at 96 steps per quarter (a 53 MB preset) cannot run in
 * real time at the fastest tempo: prepare refuses it and says why. Smaller
 * models are prepared exactly when the documented formula allows. */
static void test_budget_refuses_slow_model(void **state)
{
    (void)state;
    char dir[64], path[256], err[1024];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/big.rnnw", dir);
    rnn_model_config big = {RNN_KIND_MELODY, 96, RNN_CELL_LSTM, 2, 64, 1024, 130, 0, 0, 0, 0, 0, 0, 0};
    write_zero_model(path, &big);
    assert_true(rnn_engine_budget_share(&big) > RNN_ENGINE_BUDGET);
    err[0] = 0;
    rnn_engine_model *em = rnn_engine_model_prepare(path, err, sizeof err);
    assert_null(em);
    print_message("%s\n", err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "real time"));
    assert_non_null(strstr(err, "96 steps per quarter"));
    unlink(path);
    rmdir(dir);

    /* the boundary, in memory: prepared iff macs * MAX_QPM / 60 * spq <= BUDGET * CORE_MACS,
     * for models with and without condition columns (rnn_net_step_macs counts them) */
    int accepted = 0, refused = 0;
    for (int spq = 4; spq <= 96; spq *= 2)
        for (int H = 64; H <= 512; H += 32) {
            const unsigned cond = H % 64 ? RNN_COND_METRIC | RNN_COND_HARMONY : 0;
            rnn_model_config c = {RNN_KIND_MELODY, spq, RNN_CELL_GRU, 2, 32, H, 130, cond, 0, 0, 0, 0, 0, 0};
            double want = (double)rnn_net_step_macs(&c) * RNN_ENGINE_MAX_QPM / 60.0 * spq;
            int ok = want <= RNN_ENGINE_BUDGET * RNN_ENGINE_CORE_MACS;
            void *buf = NULL;
            size_t len = 0;
            rnn_tensor_spec specs[RNN_MAX_TENSORS];
            float *data[RNN_MAX_TENSORS] = {0};
            int n = rnn_model_tensor_specs(&c, specs);
            for (int i = 0; i < n; i++)
                assert_non_null(data[i] = calloc(specs[i].count, sizeof(float)));
            assert_int_equal(rnn_model_serialize(&c, NULL, 0, (const float *const *)data, &buf,
                                                 &len, err, sizeof err),
                             0);
            for (int i = 0; i < n; i++)
                free(data[i]);
            rnn_model *m = rnn_model_load_memory(buf, len, "mem", err, sizeof err);
            free(buf);
            assert_non_null(m);
            rnn_engine_model *w = rnn_engine_model_wrap(m, err, sizeof err);
            if (ok != (w != NULL))
                fail_msg("GRU 2x%d at %d steps per quarter (conditions %u): %s, the budget says %s",
                         H, spq, cond, w ? "prepared" : err, ok ? "prepare" : "refuse");
            accepted += ok;
            refused += !ok;
            rnn_engine_model_free(w);
        }
    assert_true(accepted > 0 && refused > 0);
}

/* Finite weights whose products overflow (|w| ~ 1e38) are refused by
 * prepare, with the file named. */
static void test_probe_refuses_overflow(void **state)
{
    (void)state;
    char dir[64], path[256], err[1024];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/huge.rnnw", dir);
    rnn_model_config c = {RNN_KIND_MELODY, 4, RNN_CELL_LSTM, 2, 16, 32, 130, 0, 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS] = {0};
    int n = rnn_model_tensor_specs(&c, specs);
    uint64_t s = 7;
    for (int i = 0; i < n; i++) {
        assert_non_null(data[i] = malloc(specs[i].count * sizeof(float)));
        for (size_t j = 0; j < specs[i].count; j++)
            data[i][j] = fixture_uniform(&s, 1e38f);
    }
    if (rnn_model_write(path, &c, NULL, 0, (const float *const *)data, err, sizeof err))
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        free(data[i]);
    err[0] = 0;
    assert_null(rnn_engine_model_prepare(path, err, sizeof err));
    print_message("%s\n", err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "range of float"));
    unlink(path);
    rmdir(dir);
}

/* Logits that go non-finite at run time (here: the net's state set to the
 * top of float from outside) never hold a note: the engine ends what sounds,
 * plays nothing for that step, counts it, and plays on from a fresh net. */
static void test_nonfinite_logits_end_notes(void **state)
{
    (void)state;
    const double sr = 48000;
    rnn_engine *e = make_engine(sr, RNN_KIND_MELODY, 33);
    rnn_engine_set_param(e, RNN_PARAM_DENSITY, 1);
    rnn_net *net = rnn_engine_model_net((rnn_engine_model *)rnn_engine_get_model(e));
    assert_non_null(net);
    size_t ns = rnn_net_state_size(net);
    float *huge = malloc(ns * sizeof *huge);
    assert_non_null(huge);
    for (size_t i = 0; i < ns; i++)
        huge[i] = i % 2 ? FLT_MAX : -FLT_MAX;
    static rnn_engine_event ob[512];
    rnn_transport t = roll(120, 0, 0, 1);
    const uint32_t block = 480; /* 1/12 of a step at 120 BPM */
    evlist out = {0};
    int64_t pos = 0;
    int sounding = 0, injected = -1, silent_after = 0;
    rnn_engine_stats st;
    for (int b = 0; b < 600; b++) {
        uint32_t n = rnn_engine_run(e, block, NULL, 0, b == 0 ? &t : NULL, b == 0, ob, 512);
        for (uint32_t i = 0; i < n; i++) {
            push(&out, pos + ob[i].frame, ob[i].data);
            if (is_on(&out.ev[out.n - 1])) sounding++;
            if (is_off(&out.ev[out.n - 1])) sounding--;
        }
        pos += block;
        if (injected < 0 && b > 100 && sounding > 0) {
            rnn_net_state_set(net, huge); /* between runs, on this thread */
            injected = b;
        } else if (injected >= 0 && b <= injected + 36 && sounding == 0) {
            silent_after = 1; /* within 3 steps of the injection, nothing sounds */
        }
    }
    assert_true(injected > 0);
    assert_true(silent_after);
    rnn_engine_get_stats(e, &st);
    assert_true(st.nonfinite_steps >= 1);
    assert_true(count_ons(&out, (injected + 48) * (int64_t)block, pos) > 3); /* plays on */
    rnn_transport stop = {0};
    stop.flags = RNN_TRANSPORT_SPEED;
    uint32_t n = rnn_engine_run(e, 64, NULL, 0, &stop, 1, ob, 512);
    for (uint32_t i = 0; i < n; i++)
        push(&out, pos + ob[i].frame, ob[i].data);
    assert_int_equal(check_pairs(&out), 0);
    free(huge);
    free(out.ev);
    rnn_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_44100),
        cmocka_unit_test(test_conditioned_preset),
        cmocka_unit_test(test_grid_48000),
        cmocka_unit_test(test_grid_96000),
        cmocka_unit_test(test_same_seed_any_blocks),
        cmocka_unit_test(test_tempo_change_and_jump),
        cmocka_unit_test(test_free_run),
        cmocka_unit_test(test_continue_primes_like_training),
        cmocka_unit_test(test_accompany_hears_player),
        cmocka_unit_test(test_accompany_hears_skyline),
        cmocka_unit_test(test_repeat_limit),
        cmocka_unit_test(test_key_released_across_model_swap),
        cmocka_unit_test(test_call_and_response),
        cmocka_unit_test(test_drums),
        cmocka_unit_test(test_scale_mask),
        cmocka_unit_test(test_model_swap_and_mode_change),
        cmocka_unit_test(test_flood_and_zero_blocks),
        cmocka_unit_test(test_no_model_and_reset),
        cmocka_unit_test(test_call_ends_on_bar_line),
        cmocka_unit_test(test_call_ends_before_bar_line_and_mid_bar),
        cmocka_unit_test(test_continue_long_gap),
        cmocka_unit_test(test_no_second_answer_without_call),
        cmocka_unit_test(test_new_call_during_answer),
        cmocka_unit_test(test_new_call_during_answer_drums),
        cmocka_unit_test(test_call_after_long_rest_is_new_phrase),
        cmocka_unit_test(test_drum_call_answers),
        cmocka_unit_test(test_absurd_transport),
        cmocka_unit_test(test_count_in_hears_nothing),
        cmocka_unit_test(test_budget_absurd_host),
        cmocka_unit_test(test_budget_full_rate),
        cmocka_unit_test(test_budget_refuses_slow_model),
        cmocka_unit_test(test_probe_refuses_overflow),
        cmocka_unit_test(test_nonfinite_logits_end_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
