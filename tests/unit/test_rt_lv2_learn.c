/* SPDX-License-Identifier: MIT */
/* Learn in the LV2 plugin: the test host (tests/support/lv2/) drives the
 * plugin's code, linked into this binary, as a DAW would: 64-frame blocks
 * at 48 kHz, the transport rolling at 120 BPM, Learn on, and a player whose
 * style the model never saw (4-bar phrases made of four fixed motifs in a
 * fixed order, a 2-bar rest between phrases). The test runs faster than
 * real time (tests/support/lv2/style.h plays the style); it waits for
 * Learn's thread where the plugin shows it busy
 * (learn_state = Learning), and after each bar for two of the thread's
 * polls, so that an update runs about when 8 new bars have come in. Checked:
 * - every run() makes no trapped call (rt_trap.h: allocation, lock) through
 *   at least 10 updates, the thread allocating beside it;
 * - the updates happen and are shown (learn_updates, learn_phrases, the NLL
 *   before and after), kept updates swap a learned model into the engine
 *   (found through --wrap of rnn_engine_create); after 12 updates Learn is
 *   set to Freeze for two more phrases: no update comes, and the learned
 *   model plays them its answers;
 * - no note stuck or dropped across the swaps: every note-on out has its
 *   note-off, no note is struck again before its end, nothing sounds after
 *   the stop, the engine dropped no event;
 * - the learned model predicts new phrases of the style better than the
 *   original (the NLL of 16 phrases the player did not play, encoded as the
 *   trainer encodes a melody, under both; printed), and what it forgot is
 *   printed: the NLL of 16 sequences the original draws itself, under both;
 * - Forget brings the original model back and zeroes the status;
 * - a model core/learn refuses (a golden attention preset, when
 *   rnn_learn_create refuses it) plays on, with learn_state "Cannot learn
 *   this preset". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../core/encoding.h"
#include "../../core/engine.h"
#include "../../core/learn.h"
#include "../../core/net.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lv2_host.h"
#include "../support/lv2/style.h"
#include "../support/rt/rt_plugin.h"
#include "../support/rt/rt_trap.h"

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index);

#define RATE STYLE_RATE
#define BLOCK 64

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

#define SEQS 16

/* Log-sum-exp of V logits minus logit y: the NLL of y. */
static double nll_of(const float *z, int V, int y)
{
    double mx = z[0], s = 0;
    for (int v = 1; v < V; v++)
        mx = z[v] > mx ? z[v] : mx;
    for (int v = 0; v < V; v++)
        s += exp(z[v] - mx);
    return mx + log(s) - z[y];
}

/* Mean NLL (nats a step) of SEQS sequences of STYLE_PHRASE_STEPS events
 * under a model, each from the zero state: the target of step t is the
 * event of step t + 1. */
static double seqs_nll(const rnn_model *m, int32_t (*seqs)[STYLE_PHRASE_STEPS])
{
    char err[256];
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) fail_msg("%s", err);
    const int V = rnn_model_get_config(m)->vocab;
    double sum = 0;
    long count = 0;
    for (int p = 0; p < SEQS; p++) {
        rnn_net_reset(net);
        for (int t = 0; t + 1 < STYLE_PHRASE_STEPS; t++, count++)
            sum += nll_of(rnn_net_step(net, seqs[p][t]), V, seqs[p][t + 1]);
    }
    rnn_net_free(net);
    return sum / (double)count;
}

/* SEQS sequences the model itself plays (drawn at temperature 1 from 'no
 * event' on, a fixed seed): what it knew before learning, to measure what
 * learning made it forget. */
static void own_seqs(const rnn_model *m, int32_t (*seqs)[STYLE_PHRASE_STEPS])
{
    char err[256];
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) fail_msg("%s", err);
    const int V = rnn_model_get_config(m)->vocab;
    uint64_t rng = 12345;
    for (int p = 0; p < SEQS; p++) {
        rnn_net_reset(net);
        int ev = 0;
        for (int t = 0; t < STYLE_PHRASE_STEPS; t++) {
            seqs[p][t] = ev;
            const float *z = rnn_net_step(net, ev);
            double mx = z[0], total = 0;
            for (int v = 1; v < V; v++)
                mx = z[v] > mx ? z[v] : mx;
            for (int v = 0; v < V; v++)
                total += exp(z[v] - mx);
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(rng >> 11) * 0x1.0p-53 * total;
            ev = V - 1;
            for (int v = 0; v < V; v++)
                if ((u -= exp(z[v] - mx)) < 0) {
                    ev = v;
                    break;
                }
        }
    }
    rnn_net_free(net);
}

typedef struct {
    host_plugin *hp;
    const LV2_Descriptor *d;
    LV2_Handle h;
} plug;

static plug open_plugin(void)
{
    plug p;
    p.hp = host_new();
    assert_non_null(p.hp);
    p.d = lv2_descriptor(0);
    rt_plugin_engine = NULL;
    p.h = p.d->instantiate(p.d, RATE, "/nonexistent/", p.hp->features);
    assert_non_null(p.h);
    assert_non_null(rt_plugin_engine);
    host_attach(p.hp, p.d, p.h);
    p.d->activate(p.h);
    return p;
}

static void close_plugin(plug p)
{
    p.d->deactivate(p.h);
    p.d->cleanup(p.h);
    host_free(p.hp);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One block with the transport stopped. */
static void block(plug p)
{
    host_begin(p.hp);
    host_position(p.hp, 0, 0, 120, 0, 0);
    host_run(p.hp, BLOCK);
}

/* While Learn's thread shows itself busy: run() reads the status in
 * blocks of no frames, so no time passes for the player. At most 300 s. */
static void wait_idle(host_plugin *hp)
{
    for (int i = 0; i < 300000 && hp->controls[RNNMIDI_LEARN_STATE] == RNNMIDI_LSTATE_LEARNING;
         i++) {
        sleep_ms(1);
        host_begin(hp);
        host_run(hp, 0);
    }
    assert_int_not_equal(hp->controls[RNNMIDI_LEARN_STATE], RNNMIDI_LSTATE_LEARNING);
}

static void load(plug p, const char *path)
{
    host_begin(p.hp);
    host_position(p.hp, 0, 0, 120, 0, 0);
    host_set_model(p.hp, 0, path);
    host_run(p.hp, BLOCK);
    sleep_ms(100); /* the thread makes its learner and ring */
    block(p);
}

/* The notes out: pairs per channel and pitch, none struck while sounding. */
static void check_notes(const host_plugin *hp, size_t from)
{
    static int on[16][128];
    memset(on, 0, sizeof on);
    for (size_t i = from; i < hp->n_ev; i++) {
        const uint8_t *d = hp->ev[i].d;
        const int ch = d[0] & 15, type = d[0] & 0xF0;
        if (type == 0x90 && d[2] > 0) {
            assert_int_equal(on[ch][d[1]], 0);
            on[ch][d[1]] = 1;
        } else if (type == 0x80 || (type == 0x90 && d[2] == 0)) {
            on[ch][d[1]] = 0;
        }
    }
    for (int ch = 0; ch < 16; ch++)
        for (int k = 0; k < 128; k++)
            assert_int_equal(on[ch][k], 0);
}

static void test_learns_the_style(void **state)
{
    (void)state;
    char dir[64], model[PATH_MAX];
    snprintf(dir, sizeof dir, "/tmp/rnnmidi-learn-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/m.rnnw", dir);
    assert_int_equal(fixture_build(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 16, 64, 7, model, NULL, NULL),
                     0);

    plug p = open_plugin();
    host_plugin *hp = p.hp;
    hp->controls[RNNMIDI_THRU] = 0;
    hp->controls[RNNMIDI_MODE] = RNN_MODE_CONTINUE;
    hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    hp->controls[RNNMIDI_RESPONSE_BARS] = 1;
    hp->controls[RNNMIDI_LEARN] = RNNMIDI_LEARN_ON;
    load(p, model);
    const rnn_engine_model *original = rnn_engine_get_model(rt_plugin_engine);
    assert_non_null(original);

    host_audio_enter = rt_plugin_enter;
    host_audio_leave = rt_plugin_leave;
    rt_plugin_trapped = 0;
    const size_t first = hp->n_ev;
    const int64_t start = hp->pos;
    int swaps = 0, frozen = 0;
    int64_t last_swap = -1;
    const rnn_engine_model *cur = original;
    long max_updates = 0;
    /* bar by bar, 6-bar cycles, until 2 cycles after 12 updates */
    int bars = 0;
    for (; bars < 60 * STYLE_CYCLE_BARS && frozen < 2 * STYLE_CYCLE_BARS; bars++) {
        if (max_updates >= 12 && bars % STYLE_CYCLE_BARS == 0) {
            /* Freeze: the learned model plays on, nothing more is learned */
            hp->controls[RNNMIDI_LEARN] = RNNMIDI_LEARN_FREEZE;
        }
        if (hp->controls[RNNMIDI_LEARN] == RNNMIDI_LEARN_FREEZE) frozen++;
        while (hp->pos < start + (int64_t)(bars + 1) * STYLE_BAR_FRAMES) {
            host_begin(hp);
            style_block(hp, start, BLOCK);
            host_run(hp, BLOCK);
            if (rnn_engine_get_model(rt_plugin_engine) != cur) {
                cur = rnn_engine_get_model(rt_plugin_engine);
                swaps++;
                last_swap = hp->pos;
            }
            wait_idle(hp);
        }
        sleep_ms(25); /* two of the thread's polls */
        wait_idle(hp);
        max_updates = (long)hp->controls[RNNMIDI_LEARN_UPDATES];
    }
    /* stop: everything ends */
    host_begin(hp);
    host_position(hp, 0, 0, 120, bars, 0);
    host_run(hp, BLOCK);
    block(p);
    host_audio_enter = host_audio_leave = NULL;
    assert_int_equal(rt_plugin_trapped, 0);

    assert_int_equal(hp->controls[RNNMIDI_LEARN_STATE], RNNMIDI_LSTATE_FROZEN);
    assert_int_equal(hp->controls[RNNMIDI_LEARN_UPDATES], max_updates);
    const long updates = (long)hp->controls[RNNMIDI_LEARN_UPDATES];
    const long phrases = (long)hp->controls[RNNMIDI_LEARN_PHRASES];
    const float nb = hp->controls[RNNMIDI_LEARN_NLL_BEFORE],
                na = hp->controls[RNNMIDI_LEARN_NLL_AFTER];
    print_message(
        "%d bars played, %ld phrases heard, %ld updates, %d swaps; last update: held-back "
        "NLL %.3f -> %.3f\n",
        bars, phrases, updates, swaps, (double)nb, (double)na);
    assert_true(updates >= 10);
    assert_true(phrases >= 10);
    assert_true(swaps >= 1);
    assert_true(nb > 0 && na > 0);
    check_notes(hp, first);
    rnn_engine_stats st;
    rnn_engine_get_stats(rt_plugin_engine, &st);
    print_message("engine: %llu relocations, %llu net steps\n", (unsigned long long)st.relocations,
                  (unsigned long long)st.net_steps);
    assert_int_equal(st.dropped, 0);
    /* the learned model played after its swap */
    size_t ons = 0;
    for (size_t i = first; i < hp->n_ev; i++)
        ons += hp->ev[i].frame >= last_swap && (hp->ev[i].d[0] & 0xF0) == 0x90;
    assert_true(ons > 0);

    /* the learned model predicts the style better than the original */
    const rnn_model *learned = rnn_engine_model_get(rnn_engine_get_model(rt_plugin_engine));
    assert_non_null(strstr(rnn_model_meta(learned, "name"), "(learned)"));
    char err[256];
    rnn_model *orig = rnn_model_load(model, err, sizeof err);
    assert_non_null(orig);
    static int32_t style[SEQS][STYLE_PHRASE_STEPS], own[SEQS][STYLE_PHRASE_STEPS];
    for (int i = 0; i < SEQS; i++)
        style_events(style_variant(i), style[i]);
    own_seqs(orig, own);
    const double n0 = seqs_nll(orig, style), n1 = seqs_nll(learned, style);
    const double f0 = seqs_nll(orig, own), f1 = seqs_nll(learned, own);
    print_message("style NLL of 16 phrases not played: original %.3f, learned %.3f nats a step "
                  "(%.1f%% lower)\n",
                  n0, n1, 100.0 * (n0 - n1) / n0);
    print_message("forgetting: NLL of 16 sequences the original draws itself: original %.3f, "
                  "learned %.3f nats a step (%+.1f%%)\n",
                  f0, f1, 100.0 * (f1 - f0) / f0);
    assert_true(n1 < n0);
    rnn_model_free(orig);

    /* Forget: the original file plays again, the status is zeroed */
    hp->controls[RNNMIDI_FORGET] = 1;
    block(p);
    hp->controls[RNNMIDI_FORGET] = 0;
    for (int i = 0; i < 2000; i++) {
        sleep_ms(5);
        block(p);
        const char *name =
            rnn_model_meta(rnn_engine_model_get(rnn_engine_get_model(rt_plugin_engine)), "name");
        if (name && !strstr(name, "(learned)")) break;
    }
    const char *name =
        rnn_model_meta(rnn_engine_model_get(rnn_engine_get_model(rt_plugin_engine)), "name");
    assert_true(name && !strstr(name, "(learned)"));
    assert_int_equal(hp->controls[RNNMIDI_LEARN_UPDATES], 0);
    close_plugin(p);
    unlink(model);
    rmdir(dir);
}

static void test_cannot_learn(void **state)
{
    (void)state;
    char model[PATH_MAX], err[512];
    assert_non_null(realpath("tests/golden/attn_gru_e0_l2.rnnw", model));
    rnn_model *m = rnn_model_load(model, err, sizeof err);
    assert_non_null(m);
    rnn_learn *ln = rnn_learn_create(m, 8, 64, err, sizeof err);
    const int refused = ln == NULL;
    rnn_learn_free(ln);
    rnn_model_free(m);

    plug p = open_plugin();
    host_plugin *hp = p.hp;
    hp->controls[RNNMIDI_THRU] = 0;
    hp->controls[RNNMIDI_MODE] = RNN_MODE_ACCOMPANY;
    hp->controls[RNNMIDI_LEARN] = RNNMIDI_LEARN_ON;
    load(p, model);
    assert_non_null(rnn_engine_get_model(rt_plugin_engine));
    const size_t first = hp->n_ev;
    for (int b = 0; b < 4 * RATE / BLOCK; b++) {
        host_begin(hp);
        if (b == 0) host_position(hp, 0, 1, 120, 0, 0);
        host_run(hp, BLOCK);
    }
    sleep_ms(50);
    block(p);
    wait_idle(hp); /* the thread tries to make its learner */
    print_message("attention preset: core/learn %s it, learn_state %g\n",
                  refused ? "refuses" : "takes", (double)hp->controls[RNNMIDI_LEARN_STATE]);
    if (refused)
        assert_int_equal(hp->controls[RNNMIDI_LEARN_STATE], RNNMIDI_LSTATE_CANNOT);
    else
        assert_int_not_equal(hp->controls[RNNMIDI_LEARN_STATE], RNNMIDI_LSTATE_CANNOT);
    size_t ons = 0;
    for (size_t i = first; i < hp->n_ev; i++)
        ons += (hp->ev[i].d[0] & 0xF0) == 0x90;
    assert_true(ons > 0); /* it plays on */
    check_notes(hp, first);
    close_plugin(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_learns_the_style),
        cmocka_unit_test(test_cannot_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
