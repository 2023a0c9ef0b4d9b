/* SPDX-License-Identifier: MIT */
/* Sessions carry their models: the LV2 bundle, loaded by lilv, is saved by
 * a host that offers state:makePath and state:mapPath (a folder per
 * session, paths inside it stored relative to it), with a model from
 * outside the bundle set through patch:Set. The session folder is then
 * moved and the original model deleted; a fresh instance restored from the
 * moved folder plays the saved copy (same bytes as the original, the same
 * notes as the saving instance). Checked through this file's own state host
 * and through lilv's state API (lilv_state_new_from_instance with a save
 * folder, lilv_state_save, lilv_state_new_from_file, lilv_state_restore),
 * which is what jalv and Ardour call. Also: a second save does not copy the
 * model again, a different model of the same file name gets its own name,
 * the bundled default model is referred to in the bundle and never copied,
 * and a host without makePath gets today's mapped path of the original.
 * The models are random-weight fixtures written by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <lilv/lilv.h>
#include <lv2/state/state.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "../support/skip.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lilv_bundle.h"
#include "../support/lv2/lv2_host.h"

#define FIXTURE_STATUS "loaded test fixture (random weights, not a model)"

static LilvWorld *world;
static const LilvPlugin *plugin;
static char tmpdir[256];
static char bundle[1100]; /* the bundle as lilv sees it, ending in '/' */

static int setup(void **state)
{
    (void)state;
    if (lilv_bundle_dir(tmpdir, sizeof tmpdir, "session", "/usr/lib/lv2")) return -1;
    snprintf(bundle, sizeof bundle, "%s/lv2/rnnmidi.lv2/", tmpdir);
    char path[700];
    snprintf(path, sizeof path, "%s/models", tmpdir);
    if (mkdir(path, 0700)) return -1;

    plugin = lilv_bundle_world(&world);
    return plugin ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return lilv_bundle_free(world, tmpdir);
}

/* --------------------------------------------------------------- the host */

typedef struct {
    host_plugin *hp;
    LilvInstance *inst;
} inst_t;

static inst_t open_plugin(void)
{
    inst_t t;
    t.hp = host_new();
    assert_non_null(t.hp);
    t.inst = lilv_plugin_instantiate(plugin, 48000, t.hp->features);
    assert_non_null(t.inst);
    host_attach(t.hp, lilv_instance_get_descriptor(t.inst), lilv_instance_get_handle(t.inst));
    lilv_instance_activate(t.inst);
    return t;
}

static void close_plugin(inst_t t)
{
    lilv_instance_deactivate(t.inst);
    lilv_instance_free(t.inst);
    host_free(t.hp);
}

/* A block with the transport stopped: worker responses arrive, and the
 * plugin says which model it plays. */
static void settle(inst_t t)
{
    for (int i = 0; i < 2; i++) {
        host_begin(t.hp);
        host_position(t.hp, 0, 0, 120, 0, 0);
        host_run(t.hp, 64);
    }
}

static void load_model(inst_t t, const char *path)
{
    host_begin(t.hp);
    host_position(t.hp, 0, 0, 120, 0, 0);
    host_set_model(t.hp, 0, path);
    host_run(t.hp, 64);
    settle(t);
    assert_string_equal(t.hp->model_path, path);
    assert_string_equal(t.hp->status, FIXTURE_STATUS);
}

/* Five seconds at 120 BPM from bar 0 after a fresh activate, with blocks of
 * varying size; the MIDI out, frames counted from the start of the roll. */
static host_ev *roll(inst_t t, size_t *n)
{
    lilv_instance_deactivate(t.inst);
    lilv_instance_activate(t.inst);
    int64_t s0 = t.hp->pos, end = s0 + 48000 * 5;
    size_t first = t.hp->n_ev;
    uint64_t s = 3;
    int started = 0;
    while (t.hp->pos < end) {
        uint32_t b = fixture_block(&s, 20, 2048);
        if (t.hp->pos + b > end) b = (uint32_t)(end - t.hp->pos);
        host_begin(t.hp);
        if (!started) host_position(t.hp, 0, 1, 120, 0, 0);
        started = 1;
        host_run(t.hp, b);
    }
    *n = t.hp->n_ev - first;
    host_ev *ev = malloc(*n * sizeof *ev + 1);
    assert_non_null(ev);
    for (size_t i = 0; i < *n; i++) {
        ev[i] = t.hp->ev[first + i];
        ev[i].frame -= s0;
    }
    return ev;
}

static size_t note_ons(const host_ev *ev, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (ev[i].d[0] & 0xf0) == 0x90 && ev[i].d[2] > 0;
    return k;
}

static int same_events(const host_ev *a, size_t na, const host_ev *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].frame != b[i].frame || memcmp(a[i].d, b[i].d, 3)) return 0;
    return 1;
}

/* ------------------------------------------------- files, read and compared */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = malloc(1 << 22);
    *n = buf ? fread(buf, 1, 1 << 22, f) : 0;
    fclose(f);
    return buf;
}

static int same_file_bytes(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && na > 0 && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

static int is_regular(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Files in a folder, "." and ".." aside. */
static int count_files(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

/* ------------------------------------------- a session host: state folder */

/* The session's state folder is SESSION/state. mapPath stores a path inside
 * it relative to it and any other path as it is; makePath gives a path in
 * it, creating it. The stored properties are kept in memory, as a host
 * keeps them until it writes its session file. */
typedef struct {
    char dir[600]; /* the state folder, no trailing '/' */
    int made;      /* makePath calls */
    struct {
        uint32_t key, type, flags;
        size_t size;
        char value[4200];
    } prop[8];
    int n_prop;
} session;

static char *sess_abstract(LV2_State_Map_Path_Handle h, const char *absolute)
{
    session *s = h;
    size_t n = strlen(s->dir);
    if (!strncmp(absolute, s->dir, n) && absolute[n] == '/') return strdup(absolute + n + 1);
    return strdup(absolute);
}

static char *sess_absolute(LV2_State_Map_Path_Handle h, const char *abstract)
{
    session *s = h;
    if (abstract[0] == '/') return strdup(abstract);
    char *p = malloc(strlen(s->dir) + strlen(abstract) + 2);
    if (p) sprintf(p, "%s/%s", s->dir, abstract);
    return p;
}

static char *sess_make(LV2_State_Make_Path_Handle h, const char *path)
{
    session *s = h;
    s->made++;
    mkdir(s->dir, 0755);
    return sess_absolute(h, path);
}

static void sess_free(LV2_State_Free_Path_Handle h, char *path)
{
    (void)h;
    free(path);
}

static LV2_State_Status sess_store(LV2_State_Handle h, uint32_t key, const void *value, size_t size,
                                   uint32_t type, uint32_t flags)
{
    session *s = h;
    if (s->n_prop == 8 || size > sizeof s->prop[0].value) return LV2_STATE_ERR_UNKNOWN;
    for (int i = 0; i < s->n_prop; i++)
        if (s->prop[i].key == key) return LV2_STATE_ERR_UNKNOWN; /* keys are stored once */
    s->prop[s->n_prop].key = key;
    s->prop[s->n_prop].type = type;
    s->prop[s->n_prop].flags = flags;
    s->prop[s->n_prop].size = size;
    memcpy(s->prop[s->n_prop].value, value, size);
    s->n_prop++;
    return LV2_STATE_SUCCESS;
}

static const void *sess_retrieve(LV2_State_Handle h, uint32_t key, size_t *size, uint32_t *type,
                                 uint32_t *flags)
{
    session *s = h;
    for (int i = 0; i < s->n_prop; i++)
        if (s->prop[i].key == key) {
            *size = s->prop[i].size;
            *type = s->prop[i].type;
            *flags = s->prop[i].flags;
            return s->prop[i].value;
        }
    return NULL;
}

static const char *stored_model(const session *s)
{
    for (int i = 0; i < s->n_prop; i++)
        if (s->prop[i].key == host_map(NULL, RNNMIDI_URI "#model")) {
            assert_int_equal(s->prop[i].type, host_map(NULL, LV2_ATOM__Path));
            return s->prop[i].value;
        }
    return NULL;
}

/* save() with the session's features (make: offer makePath). */
static void save_into(inst_t t, session *s, int make)
{
    LV2_State_Map_Path map = {s, sess_abstract, sess_absolute};
    LV2_State_Make_Path mk = {s, sess_make};
    LV2_State_Free_Path fr = {s, sess_free};
    LV2_Feature f_map = {LV2_STATE__mapPath, &map}, f_make = {LV2_STATE__makePath, &mk},
                f_free = {LV2_STATE__freePath, &fr};
    const LV2_Feature *features[] = {&t.hp->f_map, &f_map, &f_free, make ? &f_make : NULL, NULL};
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    assert_non_null(si);
    s->n_prop = 0;
    assert_int_equal(
        si->save(t.hp->h, sess_store, s, LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE, features),
        LV2_STATE_SUCCESS);
}

static void restore_from(inst_t t, session *s)
{
    LV2_State_Map_Path map = {s, sess_abstract, sess_absolute};
    LV2_State_Free_Path fr = {s, sess_free};
    LV2_Feature f_map = {LV2_STATE__mapPath, &map}, f_free = {LV2_STATE__freePath, &fr};
    const LV2_Feature *features[] = {&t.hp->f_map, &t.hp->f_sched, &t.hp->f_log,
                                     &f_map,       &f_free,        NULL};
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    assert_int_equal(si->restore(t.hp->h, sess_retrieve, s, 0, features), LV2_STATE_SUCCESS);
    settle(t);
}

static void write_model(const char *path, rnn_kind kind, uint64_t seed)
{
    assert_int_equal(fixture_build(kind, RNN_CELL_GRU, 1, 0, 40, seed, path, NULL, NULL), 0);
}

/* ------------------------------------------------------------------ tests */

/* Save with a model from outside, move the session, delete the original,
 * restore into a fresh instance from the moved folder. */
static void test_session_carries_model(void **state)
{
    (void)state;
    char original[400], old_session[400], new_session[400], copy[700];
    snprintf(original, sizeof original, "%s/models/drums.rnnw", tmpdir);
    write_model(original, RNN_KIND_DRUMS, 31);
    snprintf(old_session, sizeof old_session, "%s/session-one", tmpdir);
    snprintf(new_session, sizeof new_session, "%s/moved/session-one", tmpdir);
    assert_int_equal(mkdir(old_session, 0755), 0);

    inst_t a = open_plugin();
    load_model(a, original);
    a.hp->controls[RNNMIDI_SEED] = 77;
    session s = {0};
    snprintf(s.dir, sizeof s.dir, "%s/state", old_session);
    save_into(a, &s, 1);
    /* the session refers to its own copy, relative to its folder */
    assert_non_null(stored_model(&s));
    assert_string_equal(stored_model(&s), "drums.rnnw");
    snprintf(copy, sizeof copy, "%s/drums.rnnw", s.dir);
    assert_true(is_regular(copy));
    assert_true(same_file_bytes(copy, original));
    assert_int_equal(count_files(s.dir), 1); /* no temporary file left */

    /* a second save finds the same bytes there: no new copy */
    struct stat before, after;
    assert_int_equal(stat(copy, &before), 0);
    save_into(a, &s, 1);
    assert_string_equal(stored_model(&s), "drums.rnnw");
    assert_int_equal(stat(copy, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(count_files(s.dir), 1);

    size_t na, nb;
    host_ev *ea = roll(a, &na);
    assert_true(note_ons(ea, na) > 10);
    close_plugin(a);

    /* the session goes elsewhere, the original goes away */
    char parent[400];
    snprintf(parent, sizeof parent, "%s/moved", tmpdir);
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(rename(old_session, new_session), 0);
    assert_int_equal(unlink(original), 0);
    snprintf(s.dir, sizeof s.dir, "%s/state", new_session);
    snprintf(copy, sizeof copy, "%s/drums.rnnw", s.dir);

    inst_t b = open_plugin();
    b.hp->controls[RNNMIDI_SEED] = 77;
    restore_from(b, &s);
    assert_string_equal(b.hp->model_path, copy);
    assert_string_equal(b.hp->status, FIXTURE_STATUS);
    host_ev *eb = roll(b, &nb);
    assert_true(same_events(ea, na, eb, nb));

    /* saved again into a new state folder (as Ardour does at each save): the
     * session's own copy is linked there, not copied again; the user's file
     * was copied, not linked */
    session s2 = {0};
    snprintf(s2.dir, sizeof s2.dir, "%s/state2", new_session);
    save_into(b, &s2, 1);
    assert_string_equal(stored_model(&s2), "drums.rnnw");
    char again[700];
    snprintf(again, sizeof again, "%s/drums.rnnw", s2.dir);
    struct stat one, two;
    assert_int_equal(stat(copy, &one), 0);
    assert_int_equal(stat(again, &two), 0);
    assert_int_equal(one.st_ino, two.st_ino);
    assert_int_equal(two.st_nlink, 2);
    free(ea), free(eb);
    close_plugin(b);
}

/* Another model with the same file name saved into the same session gets
 * a name of its own; the first copy stays as it was. */
static void test_same_name_other_bytes(void **state)
{
    (void)state;
    char dir1[400], dir2[400], m1[500], m2[500];
    snprintf(dir1, sizeof dir1, "%s/models/one", tmpdir);
    snprintf(dir2, sizeof dir2, "%s/models/two", tmpdir);
    assert_int_equal(mkdir(dir1, 0755), 0);
    assert_int_equal(mkdir(dir2, 0755), 0);
    snprintf(m1, sizeof m1, "%s/groove.rnnw", dir1);
    snprintf(m2, sizeof m2, "%s/groove.rnnw", dir2);
    write_model(m1, RNN_KIND_MELODY, 41);
    write_model(m2, RNN_KIND_MELODY, 42);
    assert_false(same_file_bytes(m1, m2));

    session s = {0};
    snprintf(s.dir, sizeof s.dir, "%s/session-names/state", tmpdir);
    char top[500];
    snprintf(top, sizeof top, "%s/session-names", tmpdir);
    assert_int_equal(mkdir(top, 0755), 0);
    inst_t t = open_plugin();
    load_model(t, m1);
    save_into(t, &s, 1);
    assert_string_equal(stored_model(&s), "groove.rnnw");
    load_model(t, m2);
    save_into(t, &s, 1);
    assert_string_equal(stored_model(&s), "groove-2.rnnw");
    char c1[700], c2[700];
    snprintf(c1, sizeof c1, "%s/groove.rnnw", s.dir);
    snprintf(c2, sizeof c2, "%s/groove-2.rnnw", s.dir);
    assert_true(same_file_bytes(c1, m1));
    assert_true(same_file_bytes(c2, m2));
    close_plugin(t);
}

/* The bundled default model stays in the bundle: stored by its bundle path,
 * makePath never asked. A host without makePath gets the original's path
 * through mapPath, as before, and nothing is copied. */
static void test_default_and_no_make_path(void **state)
{
    (void)state;
    char top[500];
    snprintf(top, sizeof top, "%s/session-default", tmpdir);
    assert_int_equal(mkdir(top, 0755), 0);
    session s = {0};
    snprintf(s.dir, sizeof s.dir, "%s/state", top);
    inst_t t = open_plugin();
    settle(t);
    if (!t.hp->model_path[0]) {
        test_skip_note("test_default_and_no_make_path: the bundled default",
                       "the bundle has no default model (presets/melody-lstm.rnnw not built)");
    } else {
        save_into(t, &s, 1);
        assert_non_null(stored_model(&s));
        assert_memory_equal(stored_model(&s), bundle, strlen(bundle));
        assert_string_equal(stored_model(&s), t.hp->model_path);
        assert_int_equal(s.made, 0);
        assert_int_equal(count_files(s.dir), 0); /* missing or empty */

        /* through lilv with a link folder, as Ardour saves: no link either */
        char links[600], dir[600];
        snprintf(links, sizeof links, "%s/externals", top);
        snprintf(dir, sizeof dir, "%s/lilv-state", top);
        assert_int_equal(mkdir(links, 0755), 0);
        LilvState *st = lilv_state_new_from_instance(plugin, t.inst, &host_map_s, NULL, NULL, links,
                                                     dir, NULL, NULL, 0, t.hp->features);
        assert_non_null(st);
        assert_int_equal(
            lilv_state_save(world, &host_map_s, &host_unmap_s, st, NULL, dir, "state.ttl"), 0);
        lilv_state_free(st);
        assert_int_equal(count_files(links), 0);
        assert_int_equal(count_files(dir), 2); /* state.ttl and manifest.ttl */
    }

    char outside[400];
    snprintf(outside, sizeof outside, "%s/models/plain.rnnw", tmpdir);
    write_model(outside, RNN_KIND_MELODY, 51);
    load_model(t, outside);
    save_into(t, &s, 0);
    assert_string_equal(stored_model(&s), outside);
    assert_int_equal(s.made, 0);
    close_plugin(t);
}

/* lilv's own state API, as jalv and Ardour use it: a save folder (which
 * gives the plugin makePath), a link folder for files from outside (what
 * made Ardour sessions refer to the original), lilv_state_save, then the
 * session moved, the original deleted, lilv_state_new_from_file and
 * lilv_state_restore into a fresh instance. */

static void test_lilv_state_moved_session(void **state)
{
    (void)state;
    char original[400], sess[400], moved[400], scratch[500], files[500], links[500], dir[500];
    snprintf(original, sizeof original, "%s/models/lilv-drums.rnnw", tmpdir);
    write_model(original, RNN_KIND_DRUMS, 61);
    snprintf(sess, sizeof sess, "%s/lilv-session", tmpdir);
    snprintf(moved, sizeof moved, "%s/lilv-session-moved", tmpdir);
    assert_int_equal(mkdir(sess, 0755), 0);
    snprintf(scratch, sizeof scratch, "%s/scratch", sess);
    snprintf(files, sizeof files, "%s/files", sess);
    snprintf(links, sizeof links, "%s/externals", sess);
    assert_int_equal(mkdir(links, 0755), 0); /* Ardour makes it with the session */
    snprintf(dir, sizeof dir, "%s/plugins/state1", sess);

    inst_t a = open_plugin();
    load_model(a, original);
    a.hp->controls[RNNMIDI_SEED] = 1234;
    LilvState *st = lilv_state_new_from_instance(plugin, a.inst, &host_map_s, scratch, files, links,
                                                 dir, host_port_value, a.hp, 0, a.hp->features);
    assert_non_null(st);
    assert_int_equal(lilv_state_save(world, &host_map_s, &host_unmap_s, st, NULL, dir, "state.ttl"),
                     0);
    lilv_state_free(st);
    char copy[700];
    snprintf(copy, sizeof copy, "%s/lilv-drums.rnnw", dir);
    assert_true(is_regular(copy)); /* a copy, not lilv's link */
    assert_true(same_file_bytes(copy, original));
    size_t na, nb;
    host_ev *ea = roll(a, &na);
    assert_true(note_ons(ea, na) > 10);
    close_plugin(a);

    assert_int_equal(rename(sess, moved), 0);
    assert_int_equal(unlink(original), 0);
    char file[700];
    snprintf(file, sizeof file, "%s/plugins/state1/state.ttl", moved);
    snprintf(copy, sizeof copy, "%s/plugins/state1/lilv-drums.rnnw", moved);
    inst_t b = open_plugin();
    LilvState *loaded = lilv_state_new_from_file(world, &host_map_s, NULL, file);
    assert_non_null(loaded);
    lilv_state_restore(loaded, b.inst, host_set_port_value, b.hp, 0, b.hp->features);
    lilv_state_free(loaded);
    settle(b);
    assert_float_equal(b.hp->controls[RNNMIDI_SEED], 1234, 0);
    assert_string_equal(b.hp->model_path, copy);
    assert_string_equal(b.hp->status, FIXTURE_STATUS);
    host_ev *eb = roll(b, &nb);
    assert_true(same_events(ea, na, eb, nb));

    /* saved again into the next state folder, as Ardour does: a link */
    snprintf(dir, sizeof dir, "%s/plugins/state2", moved);
    st = lilv_state_new_from_instance(plugin, b.inst, &host_map_s, NULL, NULL, NULL, dir, host_port_value,
                                      b.hp, 0, b.hp->features);
    assert_non_null(st);
    assert_int_equal(lilv_state_save(world, &host_map_s, &host_unmap_s, st, NULL, dir, "state.ttl"),
                     0);
    lilv_state_free(st);
    char again[700];
    snprintf(again, sizeof again, "%s/lilv-drums.rnnw", dir);
    struct stat one, two;
    assert_int_equal(stat(copy, &one), 0);
    assert_int_equal(lstat(again, &two), 0);
    assert_true(S_ISREG(two.st_mode));
    assert_int_equal(one.st_ino, two.st_ino);
    free(ea), free(eb);
    close_plugin(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_carries_model),
        cmocka_unit_test(test_same_name_other_bytes),
        cmocka_unit_test(test_default_and_no_make_path),
        cmocka_unit_test(test_lilv_state_moved_session),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
