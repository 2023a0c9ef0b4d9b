/* SPDX-License-Identifier: MIT */
/* Attention presets (format v2, the PyTorch golden ones of tests/golden:
 * RNN, LSTM and GRU melodies, a GRU drum model on the metric) played by the
 * engine:
 * - accompany: each step of the engine's net, its attention sliced over
 *   the blocks, gives bit for bit the logits of rnn_net_step_cond on a net
 *   of its own fed the events the engine played (and the metric columns of
 *   a 4/4 file), well past the window, so the ring wraps;
 * - a state saved with rnn_net_state_get and set back gives the same logits
 *   again, and it does so because the ring is in it: the same state with
 *   the ring emptied gives others;
 * - continue and call-and-response: the player's phrase primes the net as
 *   the trainer encodes it, and the answer is what core/net and core/sample
 *   give for that encoding at the step the mode answers at;
 * - in all three modes the same seed plays the same notes at the same
 *   frames with blocks of 1, 64, 8192 frames or any size: the sliced step
 *   (attention included) is the whole step;
 * - a setting changed after the draw was prepared, before its tick, rules
 *   the draw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/condition.h"
#include "../../core/encoding.h"
#include "../../core/engine.h"
#include "../../core/sample.h"
#include "../support/engine_fixture.h"

#define SR 48000.0
#define FPS 6000 /* frames a step: 120 BPM, 4 steps a quarter, at 48 kHz */
#define PLAY_STEPS 80
#define MAX_V 512

static const char *const presets[] = {"attn_rnn_e0_l1", "attn_lstm_e16_l2", "attn_gru_e0_l2",
                                      "attn_drums_gru_e8_l1"};
#define N_PRESETS (sizeof presets / sizeof *presets)

static rnn_model *load(const char *name)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "tests/golden/%s.rnnw", name);
    rnn_model *m = rnn_model_load(path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_true(rnn_model_get_config(m)->attn_window > 0);
    return m;
}

static rnn_engine *make_engine(const char *name, int mode, int seed)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(SR, 8192, err, sizeof err);
    assert_non_null(e);
    rnn_engine_model *em = rnn_engine_model_wrap(load(name), err, sizeof err);
    if (!em) fail_msg("%s: %s", name, err);
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    rnn_engine_set_param(e, RNN_PARAM_SEED, (float)seed);
    rnn_engine_set_param(e, RNN_PARAM_MODE, (float)mode);
    /* the references below sample without the mask and the repeat limit */
    rnn_engine_set_param(e, RNN_PARAM_LOWEST, 0);
    rnn_engine_set_param(e, RNN_PARAM_HIGHEST, 127);
    rnn_engine_set_param(e, RNN_PARAM_REPEAT_LIMIT, 0);
    return e;
}

static rnn_transport rolling_4_4(void)
{
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    t.bpm = 120;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    return t;
}

/* ------------------------------------------------------------ accompany */

/* What one accompany run gave: per step the event struck at its tick and
 * the engine net's logits once the step is done. */
typedef struct {
    int V;
    rnn_kind kind;
    int note_on[PLAY_STEPS];  /* melody: pitch struck at the tick, -1 none; drums: the set */
    int note_off[PLAY_STEPS]; /* melody: a note ended at the tick */
    float logits[PLAY_STEPS][MAX_V];
    int played;
} run_rec;

/* Accompany from frame 0 in blocks of a twelfth of a step: a tick starts a
 * block, and a step's last slice ends with the block before the next tick. */
static void play_accompany(const char *name, run_rec *r)
{
    rnn_engine *e = make_engine(name, RNN_MODE_ACCOMPANY, 5);
    const rnn_engine_model *em = rnn_engine_get_model(e);
    const rnn_model_config *cfg = rnn_model_get_config(rnn_engine_model_get(em));
    assert_int_equal(cfg->steps_per_quarter, 4);
    memset(r, 0, sizeof *r);
    r->V = cfg->vocab;
    r->kind = cfg->kind;
    assert_true(r->V <= MAX_V);
    const float *logits = rnn_net_logits(rnn_engine_model_net((rnn_engine_model *)em));
    const int block = FPS / 12;
    rnn_transport t = rolling_4_4();
    static rnn_engine_event out[4096];
    for (int k = 0; k < PLAY_STEPS; k++)
        r->note_on[k] = r->kind == RNN_KIND_MELODY ? -1 : 0;
    for (int64_t pos = 0; pos < (int64_t)PLAY_STEPS * FPS; pos += block) {
        uint32_t no = rnn_engine_run(e, block, NULL, 0, pos == 0 ? &t : NULL, pos == 0, out, 4096);
        const int k = (int)(pos / FPS);
        for (uint32_t i = 0; i < no; i++) {
            const int on = (out[i].data[0] & 0xF0) == 0x90 && out[i].data[2] > 0;
            r->played += on;
            if (pos % FPS != 0 || out[i].frame != 0) continue; /* not at a tick */
            if (r->kind == RNN_KIND_DRUMS) {
                if (on) r->note_on[k] |= 1 << rnn_drum_class_of_pitch(out[i].data[1]);
            } else if (on) {
                r->note_on[k] = out[i].data[1];
            } else {
                r->note_off[k] = 1;
            }
        }
        if ((pos + block) % FPS == 0) memcpy(r->logits[k], logits, (size_t)r->V * sizeof *logits);
    }
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.late_steps, 0);
    assert_int_equal(st.nonfinite_steps, 0);
    rnn_engine_free(e);
}

/* The metric columns of step k of a 4/4 file (none for a model without). */
static const float *file_columns(const rnn_model_config *cfg, int64_t k, float *cols)
{
    const int at = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
    if (!cfg->conditions) return NULL;
    assert_int_equal(at, 0);
    assert_int_equal(rnn_model_cond_columns(cfg), rnn_cond_metric_columns(4));
    rnn_metric_pos p;
    assert_int_equal(rnn_cond_metric_file(NULL, 0, 96 * 4, 4, k, &p), 0);
    rnn_cond_metric_fill(&p, 4, cols);
    return cols;
}

/* The engine's steps against rnn_net_step_cond's: the event of a step is
 * the note struck at its tick; a tick with none is 'no event' or a
 * note-off that ended nothing audible, tried in that order from the same
 * saved state. */
static void check_parity(const char *name, const run_rec *r)
{
    char err[256];
    rnn_model *model = load(name);
    const rnn_model_config *cfg = rnn_model_get_config(model);
    rnn_net *ref = rnn_net_create(model, err, sizeof err);
    assert_non_null(ref);
    float *saved = malloc(rnn_net_state_size(ref) * sizeof *saved);
    assert_non_null(saved);
    {
        /* the 'no event' step the first note is drawn from: the columns of
         * the bar's last step, before step 0 */
        float cols[RNN_MAX_COND_COLUMNS];
        rnn_net_step_cond(ref, 0, file_columns(cfg, 15, cols));
    }
    for (int k = 0; k < PLAY_STEPS; k++) {
        float cols[RNN_MAX_COND_COLUMNS];
        const float *c = file_columns(cfg, k, cols);
        int cand[2], nc = 0;
        if (r->kind == RNN_KIND_DRUMS)
            cand[nc++] = r->note_on[k];
        else if (r->note_on[k] >= 0)
            cand[nc++] = RNN_MELODY_NOTE_ON(r->note_on[k]);
        else if (r->note_off[k])
            cand[nc++] = RNN_MELODY_NOTE_OFF;
        else
            cand[nc++] = 0, cand[nc++] = RNN_MELODY_NOTE_OFF;
        rnn_net_state_get(ref, saved);
        int match = 0;
        for (int i = 0; i < nc && !match; i++) {
            if (i > 0) rnn_net_state_set(ref, saved);
            const float *l = rnn_net_step_cond(ref, cand[i], c);
            match = memcmp(l, r->logits[k], (size_t)r->V * sizeof *l) == 0;
        }
        if (!match)
            fail_msg("%s, step %d: the engine's logits are not rnn_net_step_cond's for its event",
                     name, k);
    }
    free(saved);
    rnn_net_free(ref);
    rnn_model_free(model);
}

static void test_accompany_parity(void **state)
{
    (void)state;
    static run_rec r;
    for (size_t i = 0; i < N_PRESETS; i++) {
        play_accompany(presets[i], &r);
        assert_true(r.played >= 8);
        check_parity(presets[i], &r);
    }
}

/* ------------------------------------------------------- saved state */

/* The events of an accompany run as the net's inputs. */
static int run_event(const run_rec *r, int k)
{
    if (r->kind == RNN_KIND_DRUMS) return r->note_on[k];
    if (r->note_on[k] >= 0) return RNN_MELODY_NOTE_ON(r->note_on[k]);
    return r->note_off[k] ? RNN_MELODY_NOTE_OFF : 0;
}

static void test_saved_state_holds_the_ring(void **state)
{
    (void)state;
    static run_rec r;
    static float logits[PLAY_STEPS][MAX_V];
    char err[256];
    for (size_t i = 0; i < N_PRESETS; i++) {
        play_accompany(presets[i], &r);
        rnn_model *model = load(presets[i]);
        const rnn_model_config *cfg = rnn_model_get_config(model);
        rnn_net *net = rnn_net_create(model, err, sizeof err);
        assert_non_null(net);
        const size_t S = rnn_net_state_size(net);
        /* h (and c) of every layer, then the ring */
        const size_t rec = (size_t)cfg->layers * cfg->hidden * (cfg->cell == RNN_CELL_LSTM ? 2 : 1);
        assert_true(S > rec + 1);
        float *saved = malloc(S * sizeof *saved), *again = malloc(S * sizeof *again);
        assert_non_null(saved);
        assert_non_null(again);
        /* save past the window, so the ring is full and has wrapped */
        const int half = PLAY_STEPS - 12;
        assert_true(half > cfg->attn_window);
        float cols[RNN_MAX_COND_COLUMNS];
        for (int k = 0; k < half; k++)
            rnn_net_step_cond(net, run_event(&r, k), file_columns(cfg, k, cols));
        rnn_net_state_get(net, saved);
        assert_float_equal(saved[rec], (float)cfg->attn_window, 0);
        for (int k = half; k < PLAY_STEPS; k++)
            memcpy(logits[k], rnn_net_step_cond(net, run_event(&r, k), file_columns(cfg, k, cols)),
                   (size_t)r.V * sizeof(float));
        /* a fresh net set to the saved state goes on bit for bit */
        rnn_net_reset(net);
        rnn_net_state_set(net, saved);
        rnn_net_state_get(net, again);
        assert_memory_equal(again, saved, S * sizeof *saved);
        for (int k = half; k < PLAY_STEPS; k++) {
            const float *l = rnn_net_step_cond(net, run_event(&r, k), file_columns(cfg, k, cols));
            if (memcmp(l, logits[k], (size_t)r.V * sizeof *l) != 0)
                fail_msg("%s, step %d: a restored state gives other logits", presets[i], k);
        }
        /* the same h and c with the ring emptied: the context differs */
        saved[rec] = 0;
        rnn_net_state_set(net, saved);
        const int k = half;
        const float *l = rnn_net_step_cond(net, run_event(&r, k), file_columns(cfg, k, cols));
        assert_true(memcmp(l, logits[k], (size_t)r.V * sizeof *l) != 0);
        free(saved);
        free(again);
        rnn_net_free(net);
        rnn_model_free(model);
    }
}

/* ---------------------------------------------------- phrases and blocks */

typedef struct {
    int64_t frame;
    uint8_t d[3];
} abs_ev;

typedef struct {
    abs_ev ev[4096];
    size_t n;
} evlist;

/* 10 notes over 2 bars from step 4, played up to 0.45 step early or late
 * (the last key is up at step 37): as engine input (sorted by frame) and
 * as the trainer's notes (480 ticks a quarter). */
#define N_PHRASE 10
static size_t phrase(abs_ev *in, rnn_note *notes)
{
    static const int pitch[N_PHRASE] = {60, 62, 64, 65, 67, 65, 64, 62, 60, 67};
    static const int on_step[N_PHRASE] = {4, 6, 8, 11, 12, 16, 20, 24, 28, 30};
    static const int off_step[N_PHRASE] = {6, 8, 10, 12, 15, 19, 23, 27, 30, 37};
    static const double jitter[N_PHRASE] = {0.3, -0.4, 0.1, 0, -0.2, 0.45, -0.45, 0.2, 0, 0.35};
    size_t n = 0;
    for (int i = 0; i < N_PHRASE; i++) {
        notes[i] = (rnn_note){
            0, 0, pitch[i], 90, on_step[i] * 120 + (int)(jitter[i] * 120), off_step[i] * 120 - 10};
        in[n++] =
            (abs_ev){(int64_t)((on_step[i] + jitter[i]) * FPS), {0x90, (uint8_t)pitch[i], 90}};
        in[n++] = (abs_ev){(int64_t)off_step[i] * FPS - 500, {0x80, (uint8_t)pitch[i], 0}};
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && in[j].frame < in[j - 1].frame; j--) {
            abs_ev t = in[j];
            in[j] = in[j - 1];
            in[j - 1] = t;
        }
    return n;
}

/* Play the phrase into an engine in `mode` for `steps` steps, in blocks of
 * `fixed` frames (0: sizes from fixture_block, 0 and 8192 among them). */
static void play_phrase(const char *name, int mode, uint32_t fixed, int steps, evlist *out)
{
    rnn_engine *e = make_engine(name, mode, 1234);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 2);
    rnn_engine_set_param(e, RNN_PARAM_RESPONSE_BARS, 2);
    abs_ev in[2 * N_PHRASE];
    rnn_note notes[N_PHRASE];
    const size_t n_in = phrase(in, notes);
    static rnn_engine_event ib[2 * N_PHRASE], ob[4096];
    rnn_transport t = rolling_4_4();
    uint64_t s = 77;
    size_t ii = 0;
    out->n = 0;
    const int64_t total = (int64_t)steps * FPS;
    for (int64_t pos = 0; pos < total;) {
        uint32_t n = fixed ? fixed : fixture_block(&s, 16, 8192);
        if (pos + n > total) n = (uint32_t)(total - pos);
        uint32_t ni = 0;
        while (ii < n_in && in[ii].frame < pos + n) {
            ib[ni] = (rnn_engine_event){(uint32_t)(in[ii].frame - pos), 3, {0}, 0};
            memcpy(ib[ni].data, in[ii].d, 3);
            ni++, ii++;
        }
        uint32_t no = rnn_engine_run(e, n, ib, ni, pos == 0 ? &t : NULL, pos == 0, ob, 4096);
        for (uint32_t i = 0; i < no; i++) {
            assert_true(out->n < sizeof out->ev / sizeof *out->ev);
            out->ev[out->n].frame = pos + ob[i].frame;
            memcpy(out->ev[out->n].d, ob[i].data, 3);
            out->n++;
        }
        pos += n;
    }
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.nonfinite_steps, 0);
    rnn_engine_free(e);
}

static int is_on(const abs_ev *e)
{
    return (e->d[0] & 0xf0) == 0x90 && e->d[2] > 0;
}

/* The answer as core/net and core/sample give it: the trainer's encoding
 * of the phrase heard from its first step up to step k0 - 1 (the rest after
 * it as 'no event'), then `len` steps sampled from k0 on with the engine's
 * seed and settings, each fed back. Returns the note-ons (frame, pitch). */
static size_t reference_answer(const char *name, int64_t k0, int64_t len, abs_ev *exp)
{
    abs_ev in[2 * N_PHRASE];
    rnn_note notes[N_PHRASE];
    phrase(in, notes);
    rnn_seq_list list = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, N_PHRASE, 480, 4, &list, err, sizeof err),
                     0);
    assert_int_equal(list.count, 1);
    const rnn_seq *seq = &list.seqs[0];
    assert_int_equal(seq->start_step, 4);
    assert_true(seq->start_step + (int64_t)seq->len <= k0);
    rnn_model *m = load(name);
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    rnn_sampler *smp = rnn_sampler_create(130);
    assert_non_null(net);
    assert_non_null(smp);
    const float *logits = NULL;
    for (int64_t k = seq->start_step; k < k0; k++) {
        int64_t i = k - seq->start_step;
        logits = rnn_net_step(net, i < (int64_t)seq->len ? seq->events[i] : 0);
    }
    rnn_rng rng;
    rnn_rng_seed(&rng, 1234);
    size_t n = 0;
    for (int64_t k = k0; k < k0 + len; k++) {
        int y = rnn_sample(smp, &rng, logits, 130, 1.0f, 0.95f, NULL);
        if (y >= RNN_MELODY_NOTE_ON(0))
            exp[n++] = (abs_ev){k * FPS, {0x90, (uint8_t)(y - RNN_MELODY_NOTE_ON(0)), 100}};
        logits = rnn_net_step(net, y);
    }
    rnn_seq_list_free(&list);
    rnn_sampler_free(smp);
    rnn_net_free(net);
    rnn_model_free(m);
    return n;
}

/* Continue answers after the 2-beat gap (step 37 + 8), call-and-response
 * from the next bar line (48); both for 2 bars. */
static void answer_case(const char *name, int mode, int64_t k0)
{
    static evlist out;
    static abs_ev exp[64];
    play_phrase(name, mode, 64, 100, &out);
    size_t n_exp = reference_answer(name, k0, 32, exp), j = 0;
    assert_true(n_exp >= 4);
    for (size_t i = 0; i < out.n; i++) {
        if (!is_on(&out.ev[i])) continue;
        if (j >= n_exp)
            fail_msg("%s: note-on %d at step %.2f is not in the answer", name, out.ev[i].d[1],
                     (double)out.ev[i].frame / FPS);
        if (out.ev[i].frame != exp[j].frame || out.ev[i].d[1] != exp[j].d[1])
            fail_msg("%s: note-on %d at step %.2f, the reference's %d at step %.2f", name,
                     out.ev[i].d[1], (double)out.ev[i].frame / FPS, exp[j].d[1],
                     (double)exp[j].frame / FPS);
        j++;
    }
    if (j != n_exp) fail_msg("%s: %zu of the answer's %zu note-ons", name, j, n_exp);
}

static void test_continue_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PRESETS; i++)
        if (strstr(presets[i], "drums") == NULL) answer_case(presets[i], RNN_MODE_CONTINUE, 45);
}

static void test_call_and_response_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PRESETS; i++)
        if (strstr(presets[i], "drums") == NULL)
            answer_case(presets[i], RNN_MODE_CALL_RESPONSE, 48);
}

static int same(const evlist *a, const evlist *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->ev[i].frame != b->ev[i].frame || memcmp(a->ev[i].d, b->ev[i].d, 3)) return 0;
    return 1;
}

/* Every mode, every preset (the drum model, which hears no melody player,
 * in accompany): blocks of 1, 8192 and any size play what blocks of 64
 * play. */
static void test_any_blocks(void **state)
{
    (void)state;
    static evlist ref, got;
    static const uint32_t sizes[] = {1, 8192, 0};
    for (size_t p = 0; p < N_PRESETS; p++)
        for (int mode = 0; mode < RNN_MODE_COUNT; mode++) {
            if (strstr(presets[p], "drums") && mode != RNN_MODE_ACCOMPANY) continue;
            play_phrase(presets[p], mode, 64, 90, &ref);
            int ons = 0;
            for (size_t i = 0; i < ref.n; i++)
                ons += is_on(&ref.ev[i]);
            assert_true(ons >= 4);
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                play_phrase(presets[p], mode, sizes[s], 90, &got);
                if (!same(&ref, &got))
                    fail_msg("%s, mode %d: blocks of %u play other notes than blocks of 64",
                             presets[p], mode, sizes[s]);
            }
        }
}

/* The draw at a tick is prepared before it, as the step's last work: a
 * setting changed after that and before the tick still rules the draw.
 * Temperature 0 from the block before tick k on: the event at tick k is the
 * likeliest class of the logits the net had then (no bias at density 0.5,
 * no mask, no repeat limit). */
static void test_setting_changed_before_tick(void **state)
{
    (void)state;
    static rnn_engine_event out[4096];
    static float logits[MAX_V];
    for (int k = 10; k < 40; k += 7) {
        rnn_engine *e = make_engine("attn_lstm_e16_l2", RNN_MODE_ACCOMPANY, 3);
        const float *l =
            rnn_net_logits(rnn_engine_model_net((rnn_engine_model *)rnn_engine_get_model(e)));
        rnn_transport t = rolling_4_4();
        const int block = FPS / 12;
        int event = -1;
        for (int64_t pos = 0; pos <= (int64_t)k * FPS; pos += block) {
            if (pos == (int64_t)k * FPS - block) rnn_engine_set_param(e, RNN_PARAM_TEMPERATURE, 0);
            if (pos == (int64_t)k * FPS) memcpy(logits, l, 130 * sizeof *l);
            uint32_t no =
                rnn_engine_run(e, block, NULL, 0, pos == 0 ? &t : NULL, pos == 0, out, 4096);
            if (pos != (int64_t)k * FPS) continue;
            event = 0;
            for (uint32_t i = 0; i < no; i++)
                if (out[i].frame == 0 && (out[i].data[0] & 0xF0) == 0x90 && out[i].data[2] > 0)
                    event = RNN_MELODY_NOTE_ON(out[i].data[1]);
                else if (out[i].frame == 0 && event == 0)
                    event = RNN_MELODY_NOTE_OFF;
        }
        int best = 0;
        for (int c = 1; c < 130; c++)
            if (logits[c] > logits[best]) best = c;
        /* a note-off of nothing sounding is silent: 'no event' looks alike */
        if (best == RNN_MELODY_NOTE_OFF && event == 0) event = best;
        assert_int_equal(event, best);
        rnn_engine_free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accompany_parity), cmocka_unit_test(test_saved_state_holds_the_ring),
        cmocka_unit_test(test_continue_answers), cmocka_unit_test(test_call_and_response_answers),
        cmocka_unit_test(test_any_blocks),       cmocka_unit_test(test_setting_changed_before_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
