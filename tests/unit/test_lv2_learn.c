/* SPDX-License-Identifier: MIT */
/* A session keeps what Learn learned: lilv finds build/rnnmidi.lv2 through
 * LV2_PATH and instantiates it with the test host's features
 * (tests/support/lv2/); the player of tests/support/lv2/style.h plays to it
 * in 64-frame blocks with Learn on until updates were kept. Then lilv saves
 * the state into a folder (state:makePath, mapPath), a new instance
 * restores it, and:
 * - the state holds the original model's path and a learned model file in
 *   the state's folder, a valid preset named "(learned)" whose weights are
 *   not the original's;
 * - the restored instance plays the learned model (its load status names
 *   it) under the original's path, and plays notes, every one ended;
 * - a session that learned nothing (Learn off) stores no learned model and
 *   writes no file beside its state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <lilv/lilv.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../core/model.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lilv_bundle.h"
#include "../support/lv2/lv2_host.h"
#include "../support/lv2/style.h"

#define BLOCK 64

static LilvWorld *world;
static const LilvPlugin *plugin;
static char tmpdir[256], model[320];

static int setup(void **state)
{
    (void)state;
    if (lilv_bundle_dir(tmpdir, sizeof tmpdir, "learn", NULL)) return -1;
    snprintf(model, sizeof model, "%s/m.rnnw", tmpdir);
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 16, 64, 7, model, NULL, NULL)) return -1;
    plugin = lilv_bundle_world(&world);
    return plugin ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return lilv_bundle_free(world, tmpdir);
}

typedef struct {
    host_plugin *hp;
    LilvInstance *inst;
} inst_t;

static inst_t open_plugin(void)
{
    inst_t t;
    t.hp = host_new();
    assert_non_null(t.hp);
    t.inst = lilv_plugin_instantiate(plugin, STYLE_RATE, t.hp->features);
    assert_non_null(t.inst);
    host_attach(t.hp, lilv_instance_get_descriptor(t.inst), lilv_instance_get_handle(t.inst));
    lilv_instance_activate(t.inst);
    t.hp->controls[RNNMIDI_THRU] = 0;
    t.hp->controls[RNNMIDI_MODE] = RNN_MODE_CONTINUE;
    t.hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    t.hp->controls[RNNMIDI_RESPONSE_BARS] = 1;
    return t;
}

static void close_plugin(inst_t t)
{
    lilv_instance_deactivate(t.inst);
    lilv_instance_free(t.inst);
    host_free(t.hp);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void stopped_block(inst_t t)
{
    host_begin(t.hp);
    host_position(t.hp, 0, 0, 120, 0, 0);
    host_run(t.hp, BLOCK);
}

/* Bars of the style from the current position (the song's start), waiting
 * for Learn's thread as test_rt_lv2_learn does; stops after. */
static void play_bars(inst_t t, int bars, int wait_for_updates)
{
    const int64_t start = t.hp->pos;
    for (int bar = 0; bar < bars; bar++) {
        while (t.hp->pos < start + (int64_t)(bar + 1) * STYLE_BAR_FRAMES) {
            host_begin(t.hp);
            style_block(t.hp, start, BLOCK);
            host_run(t.hp, BLOCK);
        }
        if (!wait_for_updates) continue;
        sleep_ms(25);
        for (int i = 0;
             i < 300000 && t.hp->controls[RNNMIDI_LEARN_STATE] == RNNMIDI_LSTATE_LEARNING; i++) {
            sleep_ms(1);
            host_begin(t.hp);
            host_run(t.hp, 0);
        }
    }
    stopped_block(t);
    stopped_block(t);
}

static void load(inst_t t, const char *path)
{
    host_begin(t.hp);
    host_position(t.hp, 0, 0, 120, 0, 0);
    host_set_model(t.hp, 0, path);
    host_run(t.hp, BLOCK);
    sleep_ms(100); /* Learn's thread makes its learner and ring */
    stopped_block(t);
    assert_string_equal(t.hp->model_path, path);
}

static void save(inst_t t, const char *dir)
{
    LilvState *st = lilv_state_new_from_instance(plugin, t.inst, &host_map_s, NULL, dir, dir, dir,
                                                 host_port_value, t.hp, 0, t.hp->features);
    assert_non_null(st);
    assert_int_equal(lilv_state_save(world, &host_map_s, &host_unmap_s, st, NULL, dir, "state.ttl"),
                     0);
    lilv_state_free(st);
}

/* The files in dir other than state.ttl and manifest.ttl. */
static int other_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.' && strcmp(e->d_name, "state.ttl") &&
             strcmp(e->d_name, "manifest.ttl");
    closedir(d);
    return n;
}

static int file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, text) != NULL;
}

static void test_session_keeps_learned_model(void **state)
{
    (void)state;
    inst_t a = open_plugin();
    a.hp->controls[RNNMIDI_LEARN] = RNNMIDI_LEARN_ON;
    load(a, model);
    play_bars(a, 6 * STYLE_CYCLE_BARS, 1);
    const float updates = a.hp->controls[RNNMIDI_LEARN_UPDATES];
    print_message("learned: %g updates, %g phrases, held-back NLL %.3f -> %.3f\n", (double)updates,
                  (double)a.hp->controls[RNNMIDI_LEARN_PHRASES],
                  (double)a.hp->controls[RNNMIDI_LEARN_NLL_BEFORE],
                  (double)a.hp->controls[RNNMIDI_LEARN_NLL_AFTER]);
    assert_true(updates >= 2);

    char dir[400], file[500], learned[500];
    snprintf(dir, sizeof dir, "%s/state", tmpdir);
    save(a, dir);
    snprintf(file, sizeof file, "%s/state.ttl", dir);
    assert_true(file_has(file, "#learned>"));
    /* the learned model, in the state's folder */
    snprintf(learned, sizeof learned, "%s/learned.rnnw", dir);
    char err[256];
    rnn_model *lm = rnn_model_load(learned, err, sizeof err);
    if (!lm) fail_msg("%s", err);
    assert_non_null(strstr(rnn_model_meta(lm, "name"), "(learned)"));
    rnn_model *om = rnn_model_load(model, err, sizeof err);
    assert_non_null(om);
    size_t n = 0;
    const float *wl = rnn_model_tensor(lm, "head.weight", &n),
                *wo = rnn_model_tensor(om, "head.weight", NULL);
    assert_non_null(wl);
    assert_non_null(wo);
    assert_true(memcmp(wl, wo, n * sizeof *wl) != 0);
    rnn_model_free(lm);
    rnn_model_free(om);
    close_plugin(a);

    /* reopened: the learned model plays, under the original's path */
    inst_t b = open_plugin();
    LilvState *loaded = lilv_state_new_from_file(world, &host_map_s, NULL, file);
    assert_non_null(loaded);
    lilv_state_restore(loaded, b.inst, host_set_port_value, b.hp, 0, b.hp->features);
    lilv_state_free(loaded);
    stopped_block(b);
    stopped_block(b);
    print_message("reopened: %s (%s)\n", b.hp->status, b.hp->model_path);
    assert_non_null(strstr(b.hp->status, "(learned)"));
    assert_non_null(strstr(b.hp->model_path, "m.rnnw"));
    const size_t first = b.hp->n_ev;
    play_bars(b, 2 * STYLE_CYCLE_BARS, 0);
    size_t ons = 0, offs = 0;
    for (size_t i = first; i < b.hp->n_ev; i++) {
        const uint8_t *d = b.hp->ev[i].d;
        ons += (d[0] & 0xF0) == 0x90 && d[2] > 0;
        offs += (d[0] & 0xF0) == 0x80 || ((d[0] & 0xF0) == 0x90 && d[2] == 0);
    }
    assert_true(ons > 0);
    assert_int_equal(ons, offs);
    close_plugin(b);
}

static void test_no_learning_stores_nothing(void **state)
{
    (void)state;
    inst_t a = open_plugin();
    load(a, model);
    play_bars(a, 2 * STYLE_CYCLE_BARS, 0);
    assert_int_equal(a.hp->controls[RNNMIDI_LEARN_UPDATES], 0);
    char dir[400], file[500];
    snprintf(dir, sizeof dir, "%s/plain", tmpdir);
    save(a, dir);
    snprintf(file, sizeof file, "%s/state.ttl", dir);
    assert_false(file_has(file, "#learned>"));
    /* the model outside the bundle is copied into the session, nothing else */
    int others = other_files(dir);
    print_message("a session without learning: %d file(s) beside its state\n", others);
    assert_true(others <= 1);
    char learned[500];
    snprintf(learned, sizeof learned, "%s/learned.rnnw", dir);
    assert_int_not_equal(access(learned, F_OK), 0);
    close_plugin(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_keeps_learned_model),
        cmocka_unit_test(test_no_learning_stores_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
