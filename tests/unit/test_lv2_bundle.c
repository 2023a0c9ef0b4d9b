/* SPDX-License-Identifier: MIT */
/* The built bundle build/rnnmidi.lv2 against its peers: `nm -D` lists
 * exactly one defined symbol, lv2_descriptor; the binary brings next to
 * nothing into the host: its DT_NEEDED entries (`readelf -d`) and everything
 * `ldd` loads are libc, libm and the dynamic loader, plus at most one small
 * numeric library (FFTW single precision); `lv2_validate` (Debian lv2-dev)
 * finds 0 errors in its TTL; lilv reads from the TTL the same port indices,
 * symbols, names, ranges, defaults and scale points as the C port table,
 * whose engine settings are core/engine's parameter table itself; the plugin is an lv2:MIDIPlugin,
 * hard-RT capable, with version numbers, the model as a patch:writable atom:Path; a bundle holding
 * a default model (here a random-weight fixture standing in for presets/melody-lstm.rnnw) loads it
 * at instantiation and lists a preset whose state restores it, and offers that default state to the
 * host (state:loadDefaultState, optional) only when it has one. What lv2lint asks of a plugin a
 * distribution ships is checked here too, with lilv: every port has a comment and a port group,
 * float ports have float ranges and integer ports integer ones, units as in the C table, a project
 * with a maintainer, a short description and a release (even) version. The presets' values are
 * there as soon as the plugin's data is, as jalv 1.6.6 expects. */
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
#include "../support/engine_fixture.h"
#include "../support/lv2/lv2_host.h"

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

/* The libraries the plugin may load into a host, by soname prefix: the C
 * library and the loader, and at most one of NUMERIC_LIBS. */
static const char *const BASE_LIBS[] = {"libc.so.", "libm.so.", "ld-linux", "linux-vdso.so.",
                                        "linux-gate.so."};
static const char *const NUMERIC_LIBS[] = {"libfftw3f.so."};

static int has_prefix(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strncmp(s, list[i], strlen(list[i]))) return 1;
    return 0;
}

/* Check one library name; counts the numeric ones. */
static void check_lib(const char *name, const char *from, int *numeric)
{
    if (has_prefix(name, BASE_LIBS, sizeof BASE_LIBS / sizeof *BASE_LIBS)) return;
    if (has_prefix(name, NUMERIC_LIBS, sizeof NUMERIC_LIBS / sizeof *NUMERIC_LIBS)) {
        (*numeric)++;
        return;
    }
    fail_msg("%s: rnnmidi.so loads %s into the host (only libc, libm and one numeric library "
             "may be linked)",
             from, name);
}

static void test_linked_libraries(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(capture("readelf -d " BUNDLE "/rnnmidi.so", out, sizeof out), 0);
    int needed = 0, numeric = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        if (!strstr(l, "(NEEDED)")) continue;
        char *a = strchr(l, '['), *b = a ? strchr(a, ']') : NULL;
        assert_non_null(b);
        *b = 0;
        print_message("NEEDED %s\n", a + 1);
        check_lib(a + 1, "readelf -d", &numeric);
        needed++;
    }
    assert_true(needed >= 1); /* libc at least: the parse found the entries */
    assert_true(numeric <= 1);

    /* what the loader brings in, transitively */
    assert_int_equal(capture("ldd " BUNDLE "/rnnmidi.so", out, sizeof out), 0);
    int loaded = 0;
    numeric = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        while (*l == ' ' || *l == '\t')
            l++;
        char name[256];
        if (sscanf(l, "%255s", name) != 1) continue;
        const char *slash = strrchr(name, '/'); /* the loader is listed by path */
        check_lib(slash ? slash + 1 : name, "ldd", &numeric);
        loaded++;
    }
    print_message("ldd: %d libraries\n", loaded);
    assert_true(loaded >= 2);
    assert_true(numeric <= 1);
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
    const char *symbol, *name;
    float def, min, max;
    int param;
    rnn_param_kind kind;
    const char *unit;
    const char *const *choices;
} row;

/* The control ports as the C port table has them (main fills it). */
#define N_ROWS (RNNMIDI_N_PORTS - RNNMIDI_FIRST_CONTROL)
static row rows[N_ROWS];

static int fill_rows(void)
{
    static const int param[N_ROWS] = {
#define ROW(E, p) p,
        RNNMIDI_CONTROLS(ROW)
#undef ROW
    };
    for (int i = 0; i < N_ROWS; i++) {
        const rnn_param_desc *d = rnnmidi_control_desc(RNNMIDI_FIRST_CONTROL + i);
        if (!d) {
            fprintf(stderr, "control port %d has no description\n", RNNMIDI_FIRST_CONTROL + i);
            return -1;
        }
        rows[i] = (row){RNNMIDI_FIRST_CONTROL + i,
                        d->symbol,
                        d->label,
                        d->def,
                        d->min,
                        d->max,
                        param[i],
                        d->kind,
                        d->unit,
                        d->choices};
    }
    return 0;
}

#define NS_LV2 "http://lv2plug.in/ns/lv2core#"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_RDFS "http://www.w3.org/2000/01/rdf-schema#"
#define NS_PG "http://lv2plug.in/ns/ext/port-groups#"
#define NS_UNITS "http://lv2plug.in/ns/extensions/units#"
#define NS_STATE "http://lv2plug.in/ns/ext/state#"
#define NS_DOAP "http://usefulinc.com/ns/doap#"

/* A world with the bundle at dir (relative to the top folder, or absolute). */
static LilvWorld *load_bundle(const char *dir)
{
    LilvWorld *w = lilv_world_new();
    char cwd[1024], uri[2200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    if (dir[0] == '/')
        snprintf(uri, sizeof uri, "file://%s/", dir);
    else
        snprintf(uri, sizeof uri, "file://%s/%s/", cwd, dir);
    LilvNode *b = lilv_new_uri(w, uri);
    lilv_world_load_bundle(w, b);
    lilv_node_free(b);
    return w;
}

static const LilvPlugin *get_plugin(LilvWorld *w)
{
    LilvNode *pu = lilv_new_uri(w, RNNMIDI_URI);
    const LilvPlugin *p = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(w), pu);
    lilv_node_free(pu);
    assert_non_null(p);
    return p;
}

/* The one value of subject's property, as lilv_world_get gives it (or NULL). */
static LilvNode *get1(LilvWorld *w, const LilvNode *subject, const char *property)
{
    LilvNode *prop = lilv_new_uri(w, property);
    LilvNode *v = lilv_world_get(w, subject, prop, NULL);
    lilv_node_free(prop);
    return v;
}

static int is_nonempty_string(const LilvNode *n)
{
    return n && lilv_node_is_string(n) && lilv_node_as_string(n)[0];
}

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
        LilvNode *name = lilv_port_get_name(p, port);
        assert_string_equal(lilv_node_as_string(name), rows[i].name);
        lilv_node_free(name);
        /* a choice lists every value from min to max with its label, once */
        LilvScalePoints *points = lilv_port_get_scale_points(p, port);
        int n_points = points ? (int)lilv_scale_points_size(points) : 0, seen = 0;
        if (!rows[i].choices)
            assert_int_equal(n_points, 0);
        else
            assert_int_equal(n_points, (int)(rows[i].max - rows[i].min) + 1);
        LILV_FOREACH(scale_points, it, points)
        {
            const LilvScalePoint *sp = lilv_scale_points_get(points, it);
            int v = lilv_node_as_int(lilv_scale_point_get_value(sp));
            assert_true(v >= rows[i].min && v <= rows[i].max);
            assert_string_equal(lilv_node_as_string(lilv_scale_point_get_label(sp)),
                                rows[i].choices[v - (int)rows[i].min]);
            seen |= 1 << (v - (int)rows[i].min);
        }
        if (rows[i].choices) assert_int_equal(seen, (1 << n_points) - 1);
        lilv_scale_points_free(points);
        if (rows[i].param >= 0) {
            /* the port's description is the engine's own table entry */
            assert_ptr_equal(rnnmidi_control_desc(rows[i].index),
                             rnn_engine_param_desc((rnn_engine_param)rows[i].param));
            float d, lo, hi;
            const char *sym;
            assert_int_equal(
                rnn_engine_param_info((rnn_engine_param)rows[i].param, &d, &lo, &hi, &sym), 0);
            assert_float_equal(d, rows[i].def, 1e-6);
            assert_float_equal(lo, rows[i].min, 1e-6);
            assert_float_equal(hi, rows[i].max, 1e-6);
            assert_string_equal(sym, rows[i].symbol);
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

/* The ports a generic host UI draws: each with a comment and a group that
 * the TTL defines, a unit where the C table gives one, and ranges typed as
 * the port is (a float port's "2.0", an integer port's "2"). */
static void test_ports_described(void **state)
{
    (void)state;
    LilvWorld *w = load_bundle(BUNDLE);
    const LilvPlugin *p = get_plugin(w);
    LilvNode *comment = lilv_new_uri(w, NS_RDFS "comment");
    LilvNode *group = lilv_new_uri(w, NS_PG "group");
    LilvNode *unit = lilv_new_uri(w, NS_UNITS "unit");
    LilvNode *rdf_type = lilv_new_uri(w, NS_RDF "type");
    LilvNode *pg_group = lilv_new_uri(w, NS_PG "Group");
    LilvNode *label = lilv_new_uri(w, NS_RDFS "label");
    LilvNode *symbol = lilv_new_uri(w, NS_LV2 "symbol");
    for (uint32_t i = 0; i < lilv_plugin_get_num_ports(p); i++) {
        const LilvPort *port = lilv_plugin_get_port_by_index(p, i);
        const char *sym = lilv_node_as_string(lilv_port_get_symbol(p, port));
        LilvNode *c = lilv_port_get(p, port, comment);
        if (!is_nonempty_string(c)) fail_msg("port %s has no rdfs:comment", sym);
        lilv_node_free(c);
        LilvNode *g = lilv_port_get(p, port, group);
        if (!g || !lilv_node_is_uri(g)) fail_msg("port %s has no pg:group", sym);
        if (!lilv_world_ask(w, g, rdf_type, pg_group))
            fail_msg("port %s: group <%s> is not a pg:Group", sym, lilv_node_as_uri(g));
        LilvNode *gl = lilv_world_get(w, g, label, NULL), *gs = lilv_world_get(w, g, symbol, NULL);
        if (!is_nonempty_string(gl) || !is_nonempty_string(gs))
            fail_msg("port %s: group <%s> has no label or symbol", sym, lilv_node_as_uri(g));
        lilv_node_free(gl), lilv_node_free(gs), lilv_node_free(g);
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        LilvNode *s = lilv_new_string(w, rows[i].symbol);
        const LilvPort *port = lilv_plugin_get_port_by_symbol(p, s);
        assert_non_null(port);
        LilvNode *u = lilv_port_get(p, port, unit);
        if (rows[i].unit[0]) {
            char want[256];
            snprintf(want, sizeof want, NS_UNITS "%s", rows[i].unit);
            if (!u || !lilv_node_is_uri(u) || strcmp(lilv_node_as_uri(u), want))
                fail_msg("port %s: unit %s, not <%s>", rows[i].symbol,
                         u ? lilv_node_as_string(u) : "missing", want);
        } else if (u) {
            fail_msg("port %s: unit %s, none in the C table", rows[i].symbol,
                     lilv_node_as_string(u));
        }
        lilv_node_free(u);
        LilvNode *range[3];
        lilv_port_get_range(p, port, &range[0], &range[1], &range[2]);
        for (int k = 0; k < 3; k++) {
            assert_non_null(range[k]);
            int ok = rows[i].kind == RNN_PARAM_REAL ? lilv_node_is_float(range[k])
                                                    : lilv_node_is_int(range[k]);
            if (!ok)
                fail_msg("port %s: %s written as %s for a %s port", rows[i].symbol,
                         (const char *[]){"default", "minimum", "maximum"}[k],
                         lilv_node_as_string(range[k]),
                         rows[i].kind == RNN_PARAM_REAL ? "float" : "integer");
            lilv_node_free(range[k]);
        }
        lilv_node_free(s);
    }
    lilv_node_free(symbol), lilv_node_free(label), lilv_node_free(pg_group);
    lilv_node_free(rdf_type), lilv_node_free(unit), lilv_node_free(group), lilv_node_free(comment);
    lilv_world_free(w);
}

/* Who makes it and which release it is, as a distribution reads them. */
static void test_project_and_version(void **state)
{
    (void)state;
    LilvWorld *w = load_bundle(BUNDLE);
    const LilvPlugin *p = get_plugin(w);
    LilvNode *project = lilv_plugin_get_project(p);
    assert_non_null(project);
    LilvNode *name = get1(w, project, NS_DOAP "name");
    assert_true(is_nonempty_string(name));
    lilv_node_free(name);
    LilvNode *author = lilv_plugin_get_author_name(p);
    LilvNode *mbox = lilv_plugin_get_author_email(p);
    LilvNode *home = lilv_plugin_get_author_homepage(p);
    assert_true(is_nonempty_string(author));
    assert_non_null(mbox);
    assert_true(lilv_node_is_uri(mbox));
    assert_int_equal(strncmp(lilv_node_as_uri(mbox), "mailto:", 7), 0);
    assert_non_null(home);
    assert_true(lilv_node_is_uri(home));
    LilvNode *shortdesc = get1(w, lilv_plugin_get_uri(p), NS_DOAP "shortdesc");
    assert_true(is_nonempty_string(shortdesc));
    /* a short description, as its name says: one line a host can list */
    assert_true(strlen(lilv_node_as_string(shortdesc)) <= 80);
    assert_null(strchr(lilv_node_as_string(shortdesc), '\n'));
    /* LV2's rule: a release has an even, non-zero minor and an even micro
     * version; hosts compare them to pick the newer of two copies */
    LilvNode *minor = get1(w, lilv_plugin_get_uri(p), NS_LV2 "minorVersion");
    LilvNode *micro = get1(w, lilv_plugin_get_uri(p), NS_LV2 "microVersion");
    assert_non_null(minor);
    assert_non_null(micro);
    assert_true(lilv_node_is_int(minor) && lilv_node_is_int(micro));
    assert_int_equal(lilv_node_as_int(minor), RNNMIDI_MINOR_VERSION);
    assert_int_equal(lilv_node_as_int(micro), RNNMIDI_MICRO_VERSION);
    assert_true(RNNMIDI_MINOR_VERSION > 0 && RNNMIDI_MINOR_VERSION % 2 == 0);
    assert_true(RNNMIDI_MICRO_VERSION % 2 == 0);
    lilv_node_free(minor), lilv_node_free(micro), lilv_node_free(shortdesc);
    lilv_node_free(home), lilv_node_free(mbox), lilv_node_free(author), lilv_node_free(project);
    lilv_world_free(w);
}

typedef struct {
    int n;
    float temperature;
} preset_values;

static void count_port_value(const char *symbol, void *user, const void *value, uint32_t size,
                             uint32_t type)
{
    preset_values *pv = user;
    pv->n++;
    if (!strcmp(symbol, "temperature") && size == sizeof(float) &&
        type == host_map(NULL, LV2_ATOM__Float))
        pv->temperature = *(const float *)value;
}

/* A host that reads a preset straight after loading the plugin, without
 * lilv_world_load_resource() on the preset first (jalv 1.6.6's console
 * `preset URI` command), still gets its values: presets.ttl comes with the
 * plugin's data. */
static void test_presets_load_with_plugin(void **state)
{
    (void)state;
    LilvWorld *w = load_bundle(BUNDLE);
    const LilvPlugin *p = get_plugin(w);
    assert_int_equal(lilv_plugin_get_num_ports(p), RNNMIDI_N_PORTS); /* loads its data */
    LilvNode *pset = lilv_new_uri(w, "http://lv2plug.in/ns/ext/presets#Preset");
    LilvNodes *presets = lilv_plugin_get_related(p, pset);
    assert_true(lilv_nodes_size(presets) >= 5);
    int wild = 0;
    LILV_FOREACH(nodes, i, presets)
    {
        const LilvNode *preset = lilv_nodes_get(presets, i);
        LilvState *st = lilv_state_new_from_world(w, &host_map_s, preset);
        assert_non_null(st);
        preset_values pv = {0, -1.0f};
        lilv_state_emit_port_values(st, count_port_value, &pv);
        if (pv.n == 0) fail_msg("preset <%s> has no port values", lilv_node_as_uri(preset));
        if (!strcmp(lilv_node_as_uri(preset), RNNMIDI_URI "#preset-wild")) {
            assert_float_equal(pv.temperature, 1.4f, 1e-6);
            wild = 1;
        }
        lilv_state_free(st);
    }
    assert_true(wild);
    lilv_nodes_free(presets);
    lilv_node_free(pset);
    lilv_world_free(w);
    host_free_uris();
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
     * what it keeps in statics */
    assert_non_null(dlopen(BUNDLE "/rnnmidi.so", RTLD_NOW | RTLD_NODELETE));
    LilvWorld *w = lilv_world_new();
    snprintf(cmd, sizeof cmd, "file://%s/rnnmidi.lv2/", dir);
    LilvNode *b = lilv_new_uri(w, cmd);
    lilv_world_load_bundle(w, b);
    lilv_node_free(b);
    LilvNode *pu = lilv_new_uri(w, RNNMIDI_URI);
    const LilvPlugin *p = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(w), pu);
    assert_non_null(p);

    /* it tells the host that it has a default state, and does not need it
     * loaded: instantiate() loads the bundled model itself */
    LilvNode *load_default = lilv_new_uri(w, NS_STATE "loadDefaultState");
    assert_true(lilv_plugin_has_feature(p, load_default));
    LilvNodes *required = lilv_plugin_get_required_features(p);
    assert_false(lilv_nodes_contains(required, load_default));
    lilv_nodes_free(required);
    lilv_node_free(load_default);

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

/* A bundle without a default model has no state:state, so it does not list
 * state:loadDefaultState either (lv2lint warns about one without the other). */
static void test_no_model_no_default_state(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-nomodel-XXXXXX", cwd[1024], path[1400], cmd[4200];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(path, sizeof path, "%s/rnnmidi.lv2", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(cmd, sizeof cmd,
             "ln -s %s/" BUNDLE "/rnnmidi.so %s/ && for f in manifest rnnmidi presets; do "
             "build/ttlgen plugin/lv2/$f.ttl.in %s/$f.ttl || exit 1; done",
             cwd, path, path);
    assert_int_equal(system(cmd), 0);
    LilvWorld *w = load_bundle(path);
    const LilvPlugin *p = get_plugin(w);
    LilvNode *load_default = lilv_new_uri(w, NS_STATE "loadDefaultState");
    LilvNode *st = get1(w, lilv_plugin_get_uri(p), NS_STATE "state");
    assert_null(st);
    assert_false(lilv_plugin_has_feature(p, load_default));
    lilv_node_free(load_default);
    lilv_world_free(w);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (fill_rows()) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_lv2_descriptor_exported),
        cmocka_unit_test(test_linked_libraries),
        cmocka_unit_test(test_lv2_validate),
        cmocka_unit_test(test_ttl_matches_c),
        cmocka_unit_test(test_ports_described),
        cmocka_unit_test(test_project_and_version),
        cmocka_unit_test(test_presets_load_with_plugin),
        cmocka_unit_test(test_install_uninstall),
        cmocka_unit_test(test_default_model_and_its_preset),
        cmocka_unit_test(test_no_model_no_default_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
