/* SPDX-License-Identifier: MIT */
/* core/slot: the hand-off of prepared models to the audio thread.
 *
 * Every model the test makes is entered in a ledger, and the link wraps
 * rnn_engine_model_free (-Wl,--wrap, see the Makefile) so that each free is
 * checked against it: a model freed twice, freed while the engine plays it,
 * freed on the audio thread or never freed fails the test, beside what
 * ASan finds. The audio side (take, give back, install) runs under the
 * malloc/lock trap (tests/support/rt/rt_trap.c, checked first). A
 * two-thread stress offers thousands of models, some of stale generations,
 * while an engine installs and plays them block after block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/engine.h"
#include "../../core/slot.h"
#include "../support/engine_fixture.h"
#include "../support/rt/rt_trap.h"

/* ---- the ledger ---------------------------------------------------------- */

#define LEDGER_CAP 8192

static struct {
    rnn_engine_model *model;
    int freed;
} ledger[LEDGER_CAP];
static int n_ledger;
static atomic_int bad_frees;   /* frees of models not alive in the ledger */
static atomic_int audio_frees; /* frees on the audio thread */
static pthread_t audio_thread;
static atomic_int audio_running;

void __real_rnn_engine_model_free(rnn_engine_model *em);
void __wrap_rnn_engine_model_free(rnn_engine_model *em);

void __wrap_rnn_engine_model_free(rnn_engine_model *em)
{
    if (!em) return;
    if (atomic_load(&audio_running) && pthread_equal(pthread_self(), audio_thread))
        atomic_fetch_add(&audio_frees, 1);
    /* newest first: an address may come back for a later model */
    int i = n_ledger - 1;
    while (i >= 0 && (ledger[i].model != em || ledger[i].freed))
        i--;
    if (i < 0)
        atomic_fetch_add(&bad_frees, 1);
    else
        ledger[i].freed = 1;
    __real_rnn_engine_model_free(em);
}

/* A small prepared model, entered in the ledger. Preparing thread only. */
static rnn_engine_model *make_model(uint64_t seed)
{
    char err[256];
    rnn_model *m = fixture_model(seed & 1 ? RNN_KIND_MELODY : RNN_KIND_DRUMS,
                                 seed & 2 ? RNN_CELL_GRU : RNN_CELL_LSTM, 1, 8, 8, seed);
    assert_non_null(m);
    rnn_engine_model *em = rnn_engine_model_wrap(m, err, sizeof err);
    if (!em) fail_msg("%s", err);
    assert_true(n_ledger < LEDGER_CAP);
    ledger[n_ledger].model = em;
    ledger[n_ledger].freed = 0;
    n_ledger++;
    return em;
}

static int is_freed(const rnn_engine_model *em)
{
    for (int i = n_ledger - 1; i >= 0; i--)
        if (ledger[i].model == em) return ledger[i].freed;
    return -1;
}

/* Every model made is freed exactly once, except `alive`. */
static void check_ledger(const rnn_engine_model *alive)
{
    assert_int_equal(atomic_load(&bad_frees), 0);
    assert_int_equal(atomic_load(&audio_frees), 0);
    for (int i = 0; i < n_ledger; i++)
        assert_int_equal(ledger[i].freed, ledger[i].model != alive);
}

static int reset_ledger(void **state)
{
    (void)state;
    n_ledger = 0;
    atomic_store(&bad_frees, 0);
    atomic_store(&audio_frees, 0);
    return 0;
}

static rnn_engine *make_engine(void)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(48000.0, 256, err, sizeof err);
    if (!e) fail_msg("%s", err);
    return e;
}

/* The engine's model back out of it, freed through the ledger. */
static void free_engine(rnn_engine *e)
{
    rnn_engine_model_free(rnn_engine_set_model(e, NULL));
    rnn_engine_free(e);
}

/* ---- one thread ------------------------------------------------------------ */

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

/* offer, install, retire: the replaced model is freed by retire, not before */
static void test_install_and_retire(void **state)
{
    (void)state;
    rnn_slot *s = rnn_slot_create();
    assert_non_null(s);
    rnn_engine *e = make_engine();
    assert_null(rnn_slot_install(s, e)); /* nothing offered */

    rnn_engine_model *a = make_model(1), *b = make_model(2);
    assert_int_equal(rnn_slot_offer(s, a, rnn_slot_request(s)), 1);
    rt_trap_arm();
    const rnn_engine_model *got = rnn_slot_install(s, e);
    assert_int_equal(rt_trap_disarm(), 0);
    assert_ptr_equal(got, a);
    assert_ptr_equal(rnn_engine_get_model(e), a);
    assert_int_equal(rnn_slot_retire(s), 0); /* replaced nothing */

    assert_int_equal(rnn_slot_offer(s, b, rnn_slot_request(s)), 1);
    rt_trap_arm();
    got = rnn_slot_install(s, e);
    const rnn_engine_model *again = rnn_slot_install(s, e);
    assert_int_equal(rt_trap_disarm(), 0);
    assert_ptr_equal(got, b);
    assert_null(again);
    assert_int_equal(is_freed(a), 0); /* handed back, not yet retired */
    assert_int_equal(rnn_slot_retire(s), 1);
    assert_int_equal(is_freed(a), 1);
    assert_int_equal(rnn_slot_retire(s), 0);

    rnn_slot_free(s);
    check_ledger(b);
    free_engine(e);
    check_ledger(NULL);
}

/* take and give back by hand, as a host that swaps the model itself */
static void test_take_and_give_back(void **state)
{
    (void)state;
    rnn_slot *s = rnn_slot_create();
    assert_non_null(s);
    rnn_engine_model *a = make_model(3), *b = make_model(4);
    rnn_engine_model *current = a;
    assert_int_equal(rnn_slot_offer(s, b, rnn_slot_request(s)), 1);
    rt_trap_arm();
    rnn_engine_model *taken = rnn_slot_take(s);
    rnn_engine_model *none = rnn_slot_take(s); /* nothing until the give back */
    rnn_slot_give_back(s, current);
    current = taken;
    rnn_slot_give_back(s, NULL); /* nothing taken: nothing happens */
    assert_int_equal(rt_trap_disarm(), 0);
    assert_ptr_equal(taken, b);
    assert_null(none);
    assert_int_equal(rnn_slot_retire(s), 1);
    assert_int_equal(is_freed(a), 1);
    rnn_slot_free(s);
    rnn_engine_model_free(current);
    check_ledger(NULL);
}

/* generations: the last request wins, however the loads finish */
static void test_generations(void **state)
{
    (void)state;
    rnn_slot *s = rnn_slot_create();
    assert_non_null(s);
    rnn_engine *e = make_engine();
    assert_int_equal(rnn_slot_generation(s), 0);
    uint32_t g1 = rnn_slot_request(s), g2 = rnn_slot_request(s);
    assert_int_equal(g2, g1 + 1);
    assert_int_equal(rnn_slot_generation(s), g2);

    /* the older load finishes last: refused at the offer */
    rnn_engine_model *newer = make_model(5), *older = make_model(6);
    assert_int_equal(rnn_slot_offer(s, newer, g2), 1);
    assert_int_equal(rnn_slot_offer(s, older, g1), 0);
    assert_int_equal(is_freed(older), 1);
    assert_ptr_equal(rnn_slot_install(s, e), newer);

    /* a request after the offer: the waiting model is not taken */
    rnn_engine_model *stale = make_model(7);
    assert_int_equal(rnn_slot_offer(s, stale, rnn_slot_request(s)), 1);
    rnn_slot_request(s);
    rt_trap_arm();
    const rnn_engine_model *got = rnn_slot_install(s, e);
    assert_int_equal(rt_trap_disarm(), 0);
    assert_null(got);
    assert_ptr_equal(rnn_engine_get_model(e), newer);
    assert_int_equal(rnn_slot_retire(s), 1);
    assert_int_equal(is_freed(stale), 1);

    /* an offer replaces one still waiting: that one is freed by the offer */
    uint32_t g = rnn_slot_request(s);
    rnn_engine_model *first = make_model(8), *second = make_model(9);
    assert_int_equal(rnn_slot_offer(s, first, g), 1);
    assert_int_equal(rnn_slot_offer(s, second, g), 1);
    assert_int_equal(is_freed(first), 1);
    assert_ptr_equal(rnn_slot_install(s, e), second);

    assert_int_equal(rnn_slot_offer(s, NULL, rnn_slot_generation(s)), 0);
    rnn_slot_free(s);
    check_ledger(second);
    free_engine(e);
    check_ledger(NULL);
}

/* the slot frees what it still holds: a model waiting, models handed back */
static void test_free_releases_everything(void **state)
{
    (void)state;
    rnn_slot *s = rnn_slot_create();
    assert_non_null(s);
    rnn_engine *e = make_engine();
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(rnn_slot_offer(s, make_model(10 + i), rnn_slot_request(s)), 1);
        assert_non_null(rnn_slot_install(s, e));
    }
    rnn_engine_model *last = (rnn_engine_model *)rnn_engine_get_model(e);
    assert_int_equal(rnn_slot_offer(s, make_model(20), rnn_slot_request(s)), 1);
    rnn_slot_free(s); /* two handed back, one waiting */
    check_ledger(last);
    rnn_slot_free(NULL);
    free_engine(e);
    check_ledger(NULL);
}

/* ---- two threads ----------------------------------------------------------- */

#define STRESS_MODELS 2000

static atomic_int preparer_done;

static void *preparer(void *arg)
{
    rnn_slot *s = arg;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < STRESS_MODELS; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint32_t gen = rnn_slot_request(s);
        rnn_engine_model *em = make_model(100 + (uint64_t)i);
        if (r % 5 == 0) rnn_slot_request(s); /* a newer request came while it loaded */
        rnn_slot_offer(s, em, gen);
        if (r % 3 == 0) rnn_slot_retire(s);
        if (r % 7 == 0) sched_yield();
    }
    atomic_store(&preparer_done, 1);
    return NULL;
}

static void *audio(void *arg)
{
    void **a = arg;
    rnn_slot *s = a[0];
    rnn_engine *e = a[1];
    long *installs = a[2];
    rnn_engine_event out[RNN_ENGINE_MIN_OUT];
    rnn_engine_event in[2] = {{0, 3, {0x90, 60, 100}, 0}, {32, 3, {0x80, 60, 0}, 0}};
    while (!atomic_load(&preparer_done)) {
        if (rnn_slot_install(s, e)) (*installs)++;
        /* the engine plays what it holds: a model freed under it is a use
         * after free for ASan */
        rnn_engine_run(e, 64, in, 2, NULL, 0, out, RNN_ENGINE_MIN_OUT);
    }
    if (rnn_slot_install(s, e)) (*installs)++;
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    rnn_slot *s = rnn_slot_create();
    assert_non_null(s);
    rnn_engine *e = make_engine();
    long installs = 0;
    void *args[3] = {s, e, &installs};
    atomic_store(&preparer_done, 0);
    pthread_t prep;
    atomic_store(&audio_running, 1);
    assert_int_equal(pthread_create(&audio_thread, NULL, audio, args), 0);
    assert_int_equal(pthread_create(&prep, NULL, preparer, s), 0);
    assert_int_equal(pthread_join(prep, NULL), 0);
    assert_int_equal(pthread_join(audio_thread, NULL), 0);
    atomic_store(&audio_running, 0);
    rnn_slot_retire(s);
    rnn_slot_free(s);
    print_message("stress: %d models offered, %ld installed\n", n_ledger, installs);
    assert_true(installs > 0);
    assert_int_equal(n_ledger, STRESS_MODELS);
    check_ledger(rnn_engine_get_model(e));
    free_engine(e);
    check_ledger(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test_setup(test_install_and_retire, reset_ledger),
        cmocka_unit_test_setup(test_take_and_give_back, reset_ledger),
        cmocka_unit_test_setup(test_generations, reset_ledger),
        cmocka_unit_test_setup(test_free_releases_everything, reset_ledger),
        cmocka_unit_test_setup(test_two_threads, reset_ledger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
