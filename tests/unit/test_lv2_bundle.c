/* SPDX-License-Identifier: MIT */
/* The built bundle build/rnnmidi.lv2 against its peers: `nm -D` lists
 * exactly one defined symbol, lv2_descriptor; `lv2_validate` (Debian lv2-dev)
 * finds 0 errors in its TTL; lilv reads from the TTL the same port indices,
 * symbols, ranges and defaults as the C port table, and those agree with
 * core/engine's parameter table; the plugin is an lv2:MIDIPlugin, hard-RT
 * capable, with version numbers, the model as a patch:writable atom:Path;
 * a bundle holding a default model (here a random-weight fixture standing in
 * for presets/melody-lstm.rnnw) loads it at instantiation and lists a preset
 * whose state restores it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <lilv/lilv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "engine_fixture.h"
#include "lv2_host.h"

#define BUNDLE "build/rnnmidi.lv2"

/* Run a command; its stdout (and stderr) into buf. Returns the exit status. */
static int capture(const char *cmd, char *buf, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = 0;
    return pclose(p);
}

static void test_only_lv2_descriptor_exported(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(capture("nm -D --defined-only " BUNDLE "/rnnmidi.so", out, sizeof out), 0);
    int lines = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        lines++;
        const char *sym = strrchr(l, ' ');
        assert_non_null(sym);
        assert_string_equal(sym + 1, "lv2_descriptor");
    }
    assert_int_equal(lines, 1);
}

static void test_lv2_validate(void **state)
{
    (void)state;
    static char out[1 << 16];
    if (access("/usr/bin/lv2_validate", X_OK) != 0) fail_msg("lv2_validate missing (lv2-dev)");
    int rc = capture("lv2_validate " BUNDLE "/manifest.ttl " BUNDLE "/rnnmidi.ttl " BUNDLE
                     "/presets.ttl 2>&1",
                     out, sizeof out);
    if (rc != 0 || !strstr(out, "Found 0 errors")) fail_msg("lv2_validate:\n%s", out);
    assert_null(strstr(out, "warning:"));
}

typedef struct {
    int index;
    const char *symbol;
    float def, min, max;
    int param;
} row;

static const row rows[] = {
#define ROW(E, sym, name, def, min, max, kind, param, points, unit)                                \
    {RNNMIDI_##E, sym, (float)(def), (float)(min), (float)(max), param},
    RNNMIDI_CONTROLS(ROW)
#undef ROW
};

static void test_ttl_matches_c(void **state)
{
    (void)state;
    LilvWorld *w = lilv_world_new();
    char cwd[1024], uri[1200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(uri, sizeof uri, "file://%s/" BUNDLE "/", cwd);
    LilvNode *b = lilv_new_uri(w, uri);
    lilv_world_load_bundle(w, b);
    lilv_node_free(b);
    LilvNode *pu = lilv_new_uri(w, RNNMIDI_URI);
    const LilvPlugin *p = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(w), pu);
    assert_non_null(p);
    assert_int_equal(lilv_plugin_get_num_ports(p), RNNMIDI_N_PORTS);

    const char *fixed[3] = {"control", "notify", "audio_in"};
    for (int i = 0; i < 3; i++) {
        LilvNode *s = lilv_new_string(w, fixed[i]);
        const LilvPort *port = lilv_plugin_get_port_by_symbol(p, s);
        assert_non_null(port);
        assert_int_equal(lilv_port_get_index(p, port), i);
        lilv_node_free(s);
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        LilvNode *s = lilv_new_string(w, rows[i].symbol);
        const LilvPort *port = lilv_plugin_get_port_by_symbol(p, s);
        assert_non_null(port);
        assert_int_equal(lilv_port_get_index(p, port), rows[i].index);
        LilvNode *def, *min, *max;
        lilv_port_get_range(p, port, &def, &min, &max);
        assert_float_equal(lilv_node_as_float(def), rows[i].def, 1e-6);
        assert_float_equal(lilv_node_as_float(min), rows[i].min, 1e-6);
        assert_float_equal(lilv_node_as_float(max), rows[i].max, 1e-6);
        lilv_node_free(def), lilv_node_free(min), lilv_node_free(max), lilv_node_free(s);
        if (rows[i].param >= 0) {
            float d, lo, hi;
            assert_int_equal(
                rnn_engine_param_info((rnn_engine_param)rows[i].param, &d, &lo, &hi, NULL), 0);
            assert_float_equal(d, rows[i].def, 1e-6);
            assert_float_equal(lo, rows[i].min, 1e-6);
            assert_float_equal(hi, rows[i].max, 1e-6);
        }
    }
    /* every engine parameter has a port */
    for (int id = 0; id < RNN_PARAM_COUNT; id++) {
        int found = 0;
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
            found |= rows[i].param == id;
        assert_true(found);
    }
    LilvNode *midi = lilv_new_uri(w, "http://lv2plug.in/ns/lv2core#MIDIPlugin");
    LilvNode *rdf_type = lilv_new_uri(w, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type");
    LilvNodes *types = lilv_plugin_get_value(p, rdf_type);
    assert_true(lilv_nodes_contains(types, midi));
    lilv_nodes_free(types);
    lilv_node_free(rdf_type);
    LilvNode *rt = lilv_new_uri(w, "http://lv2plug.in/ns/lv2core#hardRTCapable");
    assert_true(lilv_plugin_has_feature(p, rt));
    LilvNode *minor = lilv_new_uri(w, "http://lv2plug.in/ns/lv2core#minorVersion");
    LilvNodes *mv = lilv_plugin_get_value(p, minor);
    assert_non_null(mv);
    assert_int_equal(lilv_node_as_int(lilv_nodes_get_first(mv)), RNNMIDI_MINOR_VERSION);
    LilvNode *writable = lilv_new_uri(w, "http://lv2plug.in/ns/ext/patch#writable");
    LilvNodes *wr = lilv_plugin_get_value(p, writable);
    assert_non_null(wr);
    assert_string_equal(lilv_node_as_uri(lilv_nodes_get_first(wr)), RNNMIDI_URI "#model");
    LilvNode *opt = lilv_new_uri(w, "http://lv2plug.in/ns/lv2core#connectionOptional");
    LilvNode *audio = lilv_new_string(w, "audio_in");
    assert_true(lilv_port_has_property(p, lilv_plugin_get_port_by_symbol(p, audio), opt));
    /* the presets are found and apply to the plugin */
    LilvNode *pset = lilv_new_uri(w, "http://lv2plug.in/ns/ext/presets#Preset");
    LilvNodes *presets = lilv_plugin_get_related(p, pset);
    assert_true(lilv_nodes_size(presets) >= 5);
    lilv_nodes_free(presets), lilv_nodes_free(mv), lilv_nodes_free(wr);
    lilv_node_free(pset), lilv_node_free(opt), lilv_node_free(audio), lilv_node_free(writable);
    lilv_node_free(minor), lilv_node_free(rt), lilv_node_free(midi), lilv_node_free(pu);
    lilv_world_free(w);
}

/* `make install` into a DESTDIR puts the whole bundle under LV2DIR, and
 * `make uninstall` removes it. */
static void test_install_uninstall(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-install-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd,
             "make --no-print-directory -s install-lv2 DESTDIR=%s LV2DIR=/home/u/.lv2 2>&1", dir);
    assert_int_equal(capture(cmd, out, sizeof out), 0);
    const char *files[] = {"rnnmidi.so", "manifest.ttl", "rnnmidi.ttl", "presets.ttl"};
    struct stat st;
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s/home/u/.lv2/rnnmidi.lv2/%s", dir, files[i]);
        assert_int_equal(stat(cmd, &st), 0);
    }
    snprintf(cmd, sizeof cmd,
             "make --no-print-directory -s uninstall-lv2 DESTDIR=%s LV2DIR=/home/u/.lv2 2>&1", dir);
    assert_int_equal(capture(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "%s/home/u/.lv2/rnnmidi.lv2", dir);
    assert_int_not_equal(stat(cmd, &st), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_default_model_and_its_preset(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-bundle-XXXXXX", cwd[1024], path[1400], cmd[4200];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(path, sizeof path, "%s/rnnmidi.lv2", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(cmd, sizeof cmd,
             "ln -s %s/" BUNDLE "/rnnmidi.so %s/ && for f in manifest rnnmidi presets; do "
             "build/ttlgen -m plugin/lv2/$f.ttl.in %s/$f.ttl || exit 1; done",
             cwd, path, path);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/rnnmidi.lv2/melody-lstm.rnnw", dir);
    assert_int_equal(fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 8, 16, 3, path, NULL, NULL),
                     0);
    static char out[1 << 16];
    snprintf(cmd, sizeof cmd, "lv2_validate %s/rnnmidi.lv2/*.ttl 2>&1", dir);
    assert_int_equal(capture(cmd, out, sizeof out), 0);
    if (!strstr(out, "Found 0 errors")) fail_msg("lv2_validate:\n%s", out);

    /* keep the plugin mapped after lilv unloads it, so that LeakSanitizer sees
     * what its libraries (aubio's FFT plans) keep in statics */
    assert_non_null(dlopen(BUNDLE "/rnnmidi.so", RTLD_NOW | RTLD_NODELETE));
    LilvWorld *w = lilv_world_new();
    snprintf(cmd, sizeof cmd, "file://%s/rnnmidi.lv2/", dir);
    LilvNode *b = lilv_new_uri(w, cmd);
    lilv_world_load_bundle(w, b);
    lilv_node_free(b);
    LilvNode *pu = lilv_new_uri(w, RNNMIDI_URI);
    const LilvPlugin *p = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(w), pu);
    assert_non_null(p);

    /* instantiated, it plays its bundled model */
    host_plugin *hp = host_new();
    LilvInstance *inst = lilv_plugin_instantiate(p, 48000, hp->features);
    assert_non_null(inst);
    host_attach(hp, lilv_instance_get_descriptor(inst), lilv_instance_get_handle(inst));
    lilv_instance_activate(inst);
    host_begin(hp);
    host_run(hp, 64);
    assert_non_null(strstr(hp->model_path, "melody-lstm.rnnw"));

    /* the model's preset restores it, from the bundle */
    LilvNode *preset = lilv_new_uri(w, RNNMIDI_URI "#preset-melody-lstm");
    lilv_world_load_resource(w, preset);
    LilvState *st = lilv_state_new_from_world(w, &host_map_s, preset);
    assert_non_null(st);
    hp->model_path[0] = 0;
    lilv_state_restore(st, inst, NULL, NULL, 0, hp->features);
    for (int i = 0; i < 2; i++) { /* restore() left the load to the worker */
        host_begin(hp);
        host_run(hp, 64);
    }
    snprintf(cmd, sizeof cmd, "%s/rnnmidi.lv2/melody-lstm.rnnw", dir);
    char *want = realpath(cmd, NULL), *got = realpath(hp->model_path, NULL);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want), free(got);
    lilv_state_free(st);
    /* and so does the plugin's default state (state:state) */
    st = lilv_state_new_from_world(w, &host_map_s, pu);
    assert_non_null(st);
    hp->model_path[0] = 0;
    lilv_state_restore(st, inst, NULL, NULL, 0, hp->features);
    for (int i = 0; i < 2; i++) { /* restore() left the load to the worker */
        host_begin(hp);
        host_run(hp, 64);
    }
    assert_non_null(strstr(hp->model_path, "melody-lstm.rnnw"));
    lilv_state_free(st);
    lilv_node_free(preset);
    lilv_instance_deactivate(inst);
    lilv_instance_free(inst);
    host_free(hp);
    lilv_node_free(pu);
    lilv_world_free(w);
    host_free_uris();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_lv2_descriptor_exported),
        cmocka_unit_test(test_lv2_validate),
        cmocka_unit_test(test_ttl_matches_c),
        cmocka_unit_test(test_install_uninstall),
        cmocka_unit_test(test_default_model_and_its_preset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
