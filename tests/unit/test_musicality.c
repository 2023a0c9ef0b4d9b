/* SPDX-License-Identifier: MIT */
/* Tests of training/musicality and the tool rnnmidi-musicality: every
 * feature of a hand-built melody window and drum window against values
 * worked out by hand from the definitions in musicality.h; the overlap
 * estimator against the closed form of two Gaussians and its bounds; then
 * the tool, run as a user runs it ($RNNMIDI_TOOLS) on a random-weight
 * fixture preset and MIDI files written here, whose real features are
 * known; and conditioned presets set by hand, whose music shows that the
 * tool gives them the conditions the trainer would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/midifile.h"
#include "../../training/dataset.h"
#include "../../training/musicality.h"
#include "../support/engine_fixture.h"
#include "../support/shell.h"

#define ON(p) RNN_MELODY_NOTE_ON(p)

static void assert_near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) fail_msg("%s: %.6f, want %.6f", what, got, want);
}

/* Five bars of 16 steps; the window is bars 1-4, bar 0 its lookback:
 *   bar 0: C4 E4 G4 C5 on the beats        bar 1: the same (a repeat)
 *   bar 2: C4 C4 C4 D4                     bar 3: D4 on beat 1, B4 on beat 3, note-off on 4
 *   bar 4: as bar 2 (a repeat, two bars back)
 * Window notes: 60 64 67 72 60 60 60 62 62 71 60 60 60 62 (14), intervals
 * 4 3 5 12 0 0 2 0 9 11 0 0 2 (3 of 13 over 5), pitch classes C 8, D 3,
 * E 1, G 1, B 1 (all in C major, G major, A minor, E minor: in_key 1
 * whichever wins), longest run 3 (60 60 60). Harmony C-E-G in bars 1-2,
 * none in bar 3, G-B-D in bar 4: on beats, 4 of 4, 3 of 4, -, 1 of 4. */
static void test_melody_features(void **state)
{
    (void)state;
    int32_t ev[80] = {0};
    const int bars[5][4] = {
        {60, 64, 67, 72}, {60, 64, 67, 72}, {60, 60, 60, 62}, {62, -1, 71, -2}, {60, 60, 60, 62}};
    for (int b = 0; b < 5; b++)
        for (int k = 0; k < 4; k++) {
            int p = bars[b][k];
            ev[16 * b + 4 * k] = p >= 0 ? ON(p) : p == -2 ? RNN_MELODY_NOTE_OFF : 0;
        }
    uint16_t harmony[80] = {0};
    for (int s = 16; s < 48; s++)
        harmony[s] = 0x091; /* C E G */
    for (int s = 64; s < 80; s++)
        harmony[s] = 0x884; /* D G B */
    double f[RNN_MUS_MAX_FEATURES];
    assert_int_equal(rnn_mus_window(RNN_KIND_MELODY, ev, 80, 16, 4, harmony, f), 0);
    assert_near(f[RNN_MUS_NOTES_PER_BAR], 14.0 / 4, 1e-12, "notes_per_bar");
    assert_near(f[RNN_MUS_IN_KEY], 1.0, 1e-12, "in_key");
    assert_near(f[RNN_MUS_LEAP_RATIO], 3.0 / 13, 1e-12, "leap_ratio");
    const double h =
        -(8.0 / 14 * log2(8.0 / 14) + 3.0 / 14 * log2(3.0 / 14) + 3 * (1.0 / 14 * log2(1.0 / 14)));
    assert_near(f[RNN_MUS_PC_ENTROPY], h, 1e-12, "pc_entropy");
    assert_near(f[RNN_MUS_REPEATED_BARS], 2.0 / 4, 1e-12, "repeated_bars");
    assert_near(f[RNN_MUS_LONGEST_RUN], 3, 1e-12, "longest_run");
    assert_near(f[RNN_MUS_CHORD_TONES], 8.0 / 12, 1e-12, "chord_tones");
    /* no harmony: chord_tones undefined; the first bar of a sequence has
     * no bar before it: bars 0-3 give 1 repeat (bar 1) of 3 */
    assert_int_equal(rnn_mus_window(RNN_KIND_MELODY, ev, 80, 0, 4, NULL, f), 0);
    assert_true(isnan(f[RNN_MUS_CHORD_TONES]));
    assert_near(f[RNN_MUS_REPEATED_BARS], 1.0 / 3, 1e-12, "repeated_bars from step 0");
    /* a window of one note held: notes_per_bar 0.25, no interval */
    int32_t held[64] = {ON(67)};
    assert_int_equal(rnn_mus_window(RNN_KIND_MELODY, held, 64, 0, 4, NULL, f), 0);
    assert_near(f[RNN_MUS_NOTES_PER_BAR], 0.25, 1e-12, "one note");
    assert_true(isnan(f[RNN_MUS_LEAP_RATIO]));
    assert_near(f[RNN_MUS_PC_ENTROPY], 0, 1e-12, "one pitch class");
    /* windows that do not fit */
    assert_int_equal(rnn_mus_window(RNN_KIND_MELODY, ev, 80, 17, 4, NULL, f), -1);
    assert_int_equal(rnn_mus_window(RNN_KIND_MELODY, ev, 63, 0, 4, NULL, f), -1);
    assert_int_equal(rnn_mus_window((rnn_kind)0, ev, 80, 0, 4, NULL, f), -1);
}

/* Bars A A B A of 16 steps. A: kick on 0 and 8, snare on 4 and 12 (beats
 * 2 and 4), closed hi-hat on every eighth (0, 2, ..., 14): 12 hits. B: A
 * plus a snare on 6 and a hi-hat on 15: 14 hits. Hits 50 (12.5 a bar);
 * Jaccard A-A 1, A-B and B-A 12/14; snares 8 of 9 on the backbeat; hi-hats
 * 32 of 33 on eighths; of the 3 bars after the first, the two A repeat a
 * bar before them. */
static void test_drum_features(void **state)
{
    (void)state;
    int32_t ev[64] = {0};
    for (int b = 0; b < 4; b++) {
        int32_t *bar = ev + 16 * b;
        bar[0] |= 1;
        bar[8] |= 1;
        bar[4] |= 2;
        bar[12] |= 2;
        for (int s = 0; s < 16; s += 2)
            bar[s] |= 4;
        if (b == 2) {
            bar[6] |= 2;
            bar[15] |= 4;
        }
    }
    double f[RNN_MUS_MAX_FEATURES];
    assert_int_equal(rnn_mus_window(RNN_KIND_DRUMS, ev, 64, 0, 4, NULL, f), 0);
    assert_near(f[RNN_MUS_HITS_PER_BAR], 12.5, 1e-12, "hits_per_bar");
    assert_near(f[RNN_MUS_CONSISTENCY], (1 + 2 * 12.0 / 14) / 3, 1e-12, "consistency");
    assert_near(f[RNN_MUS_BACKBEAT], 8.0 / 9, 1e-12, "backbeat");
    assert_near(f[RNN_MUS_HAT_ON_8THS], 32.0 / 33, 1e-12, "hat_on_8ths");
    assert_near(f[RNN_MUS_DRUM_REPEATED_BARS], 2.0 / 3, 1e-12, "repeated_bars");
    /* silence: hits 0, the rest undefined */
    int32_t none[64] = {0};
    assert_int_equal(rnn_mus_window(RNN_KIND_DRUMS, none, 64, 0, 4, NULL, f), 0);
    assert_near(f[RNN_MUS_HITS_PER_BAR], 0, 0, "silence");
    assert_true(isnan(f[RNN_MUS_CONSISTENCY]) && isnan(f[RNN_MUS_BACKBEAT]) &&
                isnan(f[RNN_MUS_HAT_ON_8THS]) && isnan(f[RNN_MUS_DRUM_REPEATED_BARS]));
    /* a set: two windows of the pattern, means as one window's */
    rnn_mus_set set;
    rnn_mus_set_init(&set, RNN_KIND_DRUMS, 4);
    int32_t two[140];
    memcpy(two, ev, sizeof ev);
    memcpy(two + 64, ev, sizeof ev);
    unsigned char ok[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    assert_int_equal(rnn_mus_set_add(&set, two, 128, 0, ok, NULL), 1); /* bar 7 is not 4/4 */
    assert_int_equal(rnn_mus_set_add(&set, two, 140, 0, NULL, NULL), 2);
    assert_int_equal(set.windows, 3);
    assert_near(rnn_mus_set_mean(&set, RNN_MUS_BACKBEAT), 8.0 / 9, 1e-12, "set mean");
    rnn_mus_set_free(&set);
}

static double normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2));
}

/* The estimator: one point against one point 0.001 apart, both with the
 * least bandwidth 0.001, is the overlap of N(0, s) and N(d, s):
 * 2 Phi(-d / 2s) = 0.61708; equal samples overlap 1, far ones 0, and the
 * measure is symmetric. */
static void test_overlap(void **state)
{
    (void)state;
    const double a = 0, b = 0.001;
    assert_near(rnn_mus_overlap(&a, 1, &b, 1), 2 * normal_cdf(-0.5), 1e-4, "two Gaussians");
    double x[50], y[50];
    for (int i = 0; i < 50; i++) {
        x[i] = sin(i) * 3;
        y[i] = 100 + cos(i);
    }
    assert_near(rnn_mus_overlap(x, 50, x, 50), 1, 1e-6, "equal samples");
    assert_near(rnn_mus_overlap(x, 50, y, 50), 0, 1e-9, "far samples");
    assert_near(rnn_mus_overlap(x, 50, y, 25), rnn_mus_overlap(y, 25, x, 50), 1e-12, "symmetry");
    double shifted[50];
    for (int i = 0; i < 50; i++)
        shifted[i] = x[i] + 1;
    double o = rnn_mus_overlap(x, 50, shifted, 50);
    assert_true(o > 0.3 && o < 0.95);
    assert_true(isnan(rnn_mus_overlap(x, 0, y, 50)));
}

/* A melody of eight bars of 4/4 (quarter notes, one pattern a bar, pitches
 * p..p+5: intervals 2 2 1 -5) written to path; returns its split. */
static int write_melody(const char *path, int p)
{
    rnn_note n[32];
    const int d[4] = {0, 2, 4, 5};
    for (int i = 0; i < 32; i++)
        n[i] = (rnn_note){1, 0, p + d[i % 4], 90, 96 * i, 96 * i + 96};
    char err[256];
    size_t size;
    unsigned char *data = rnn_midi_write_mem(n, 32, 96, 120, &size, err, sizeof err);
    assert_non_null(data);
    int split = (int)rnn_split_of_bytes(data, size);
    free(data);
    if (path) assert_int_equal(rnn_midi_write_path(path, n, 32, 96, 120, err, sizeof err), 0);
    return split;
}

/* The value in the given column (1 = first number) of the line of a feature. */
static double column(const char *out, const char *feature, int col)
{
    char key[64];
    snprintf(key, sizeof key, "\n%s ", feature);
    const char *line = strstr(out, key);
    if (!line) fail_msg("no line %s in:\n%s", feature, out);
    line += strlen(key);
    for (int c = 1;; c++) {
        while (*line == ' ')
            line++;
        if (c == col) return *line == '-' ? NAN : strtod(line, NULL);
        while (*line && *line != ' ' && *line != '\n')
            line++;
    }
}

static void test_tool(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-musicality-XXXXXX", model[256], path[256];
    static char out[1 << 16];
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/tiny.rnnw", dir);
    assert_int_equal(fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 8, 16, 7, model, NULL, NULL),
                     0);
    /* one file of the train split and one of the test split */
    int train = -1, test = -1;
    for (int p = 40; p < 100 && (train < 0 || test < 0); p++) {
        int s = write_melody(NULL, p);
        if (s == RNN_SPLIT_TRAIN && train < 0) train = p;
        if (s == RNN_SPLIT_TEST && test < 0) test = p;
    }
    assert_true(train >= 0 && test >= 0);
    snprintf(path, sizeof path, "%s/train.mid", dir);
    write_melody(path, train);
    snprintf(path, sizeof path, "%s/test.mid", dir);
    write_melody(path, test);

    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-musicality --model %s --seeds 2 --bars 8 --primer-bars 2 %s",
                        test_tools_dir(), model, dir);
    if (rc != 0) fail_msg("rnnmidi-musicality exited %d:\n%s", rc, out);
    print_message("%s", out);
    /* 2 + 1 + 7 + 1 lines */
    int lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 11);
    assert_non_null(strstr(out, "real: train split, 2 windows of 1 files"));
    assert_non_null(strstr(out, "2 takes of 8 bars from a zero state (4 windows)"));
    assert_non_null(strstr(out, "primed: 1 test files, 2 bars each (2 windows)"));
    /* the real column (5): 4 notes a bar, no leap (5 semitones is not one),
     * every bar after the sequence's first repeats (the first has no bar
     * before it and is left out), runs of 1; chord tones undefined (one
     * voice, no harmony) */
    assert_near(column(out, "notes_per_bar", 5), 4, 0, "real notes_per_bar");
    assert_near(column(out, "leap_ratio", 5), 0, 0, "real leap_ratio");
    assert_near(column(out, "repeated_bars", 5), 1, 0, "real repeated_bars");
    assert_near(column(out, "longest_run", 5), 1, 0, "real longest_run");
    assert_near(column(out, "in_key", 5), 1, 0, "real in_key");
    assert_true(isnan(column(out, "chord_tones", 5)));
    assert_true(isnan(column(out, "chord_tones", 1)));
    for (int col = 1; col <= 4; col++) {
        double v = column(out, "leap_ratio", col);
        assert_true(v >= 0 && v <= 1);
    }
    double m = column(out, "mean_overlap", 1);
    assert_true(m >= 0 && m <= 1);

    /* two real splits of one melody in two keys: equal features, overlap 1 */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality --kind melody --vs-split test %s",
                    test_tools_dir(), dir);
    if (rc != 0) fail_msg("rnnmidi-musicality exited %d:\n%s", rc, out);
    assert_near(column(out, "notes_per_bar", 1), 4, 0, "test notes_per_bar");
    assert_near(column(out, "notes_per_bar", 2), 1, 1e-4, "overlap");
    assert_near(column(out, "mean_overlap", 1), 1, 1e-4, "mean overlap");

    /* usage errors: exit 2 */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality %s", test_tools_dir(), dir);
    assert_int_equal(rc, 2);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality --model %s --split nope %s",
                    test_tools_dir(), model, dir);
    assert_int_equal(rc, 2);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality --model %s --seeds -1 %s",
                    test_tools_dir(), model, dir);
    assert_int_equal(rc, 2);
    /* bad input: exit 1 */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality --model %s/none.rnnw %s",
                    test_tools_dir(), dir, dir);
    assert_int_equal(rc, 1);

    snprintf(path, sizeof path, "%s/train.mid", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/test.mid", dir);
    unlink(path);
    unlink(model);
    rmdir(dir);
}

/* A preset built by hand whose next event depends on its conditions alone
 * (tanh cell, event embedding, recurrence and biases of the event zero):
 *   drums, metric: one unit is on when the input step is the last of its
 *     beat (metric column "3 steps after the beat"), and then the kick
 *     (event 1) is all but certain, else silence (event 0): kicks on
 *     every beat, 4 a bar, when the takes hear a 4/4 grid from bar 0;
 *   melody, harmony: unit k is on when pitch class k sounds in the
 *     harmony, and the next event is a note-on of 60 + k for a k that
 *     is on, or of any of 60..71 alike when none is.
 * Every other event is out of the nucleus. */
static void write_cond_preset(rnn_kind kind, const char *path)
{
    const int melody = kind == RNN_KIND_MELODY, H = melody ? 12 : 1;
    const rnn_model_config cfg = {
        kind, 4, RNN_CELL_RNN,         1,
        1,    H, rnn_kind_vocab(kind), melody ? RNN_COND_HARMONY : RNN_COND_METRIC,
        0,    0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    float *data[RNN_MAX_TENSORS] = {0};
    const int I = 1 + rnn_model_cond_columns(&cfg), V = cfg.vocab;
    for (int i = 0; i < n; i++) {
        data[i] = calloc(specs[i].count, sizeof(float));
        assert_non_null(data[i]);
        float *w = data[i];
        if (!strcmp(specs[i].name, "rnn.weight_ih_l0") && melody)
            for (int k = 0; k < 12; k++)
                w[k * I + 1 + rnn_model_cond_offset(&cfg, RNN_COND_HARMONY) + k] = 8;
        else if (!strcmp(specs[i].name, "rnn.weight_ih_l0"))
            w[1 + rnn_model_cond_offset(&cfg, RNN_COND_METRIC) + 2 + 3] = 8;
        else if (!strcmp(specs[i].name, "rnn.bias_ih_l0"))
            for (int k = 0; k < H; k++)
                w[k] = -4;
        else if (!strcmp(specs[i].name, "head.weight") && melody)
            for (int k = 0; k < 12; k++)
                w[(size_t)ON(60 + k) * H + k] = 10;
        else if (!strcmp(specs[i].name, "head.weight"))
            w[1] = 10;
        else if (!strcmp(specs[i].name, "head.bias"))
            for (int e = 0; e < V; e++)
                w[e] = (melody ? e >= ON(60) && e <= ON(71) : e <= 1) ? 0 : -30;
    }
    const rnn_meta meta[] = {{"name", "test fixture (hand-set weights, not a model)"}};
    char err[256];
    if (rnn_model_write(path, &cfg, meta, 1, (const float *const *)data, err, sizeof err))
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        free(data[i]);
}

/* A file of the test split, 12 bars of 4/4 at 96 ppq: for melody a line of
 * quarter notes C4 E4 G4 C5 (track 1) over a C major chord held through
 * bars 0-10 (track 2, channel 1), so its chord tones on beats are all of
 * them; for drums a kick on every beat. The velocity picks the split. */
static void write_cond_file(rnn_kind kind, const char *path)
{
    rnn_note n[64];
    char err[256];
    for (int v = 40; v < 128; v++) {
        size_t k = 0;
        for (int i = 0; i < 48; i++) {
            const int pitch = kind == RNN_KIND_DRUMS ? 36 : (const int[]){60, 64, 67, 72}[i % 4];
            n[k++] = (rnn_note){
                1, kind == RNN_KIND_DRUMS ? RNN_DRUMS_CHANNEL : 0, pitch, v, 96 * i, 96 * i + 96};
        }
        for (int c = 0; kind == RNN_KIND_MELODY && c < 3; c++)
            n[k++] = (rnn_note){2, 1, (const int[]){48, 52, 55}[c], 70, 0, 96 * 44};
        size_t size;
        unsigned char *data = rnn_midi_write_mem(n, k, 96, 120, &size, err, sizeof err);
        assert_non_null(data);
        const int split = (int)rnn_split_of_bytes(data, size);
        free(data);
        if (split != RNN_SPLIT_TEST) continue;
        assert_int_equal(rnn_midi_write_path(path, n, k, 96, 120, err, sizeof err), 0);
        return;
    }
    fail_msg("no velocity puts the file in the test split");
}

/* The conditions reach the net: the drums preset plays a kick on each beat
 * from a zero state and primed (a take that heard no grid, or a grid not
 * from bar 0, would play none, or 3 in its first bar); the melody preset
 * plays only chord tones over the test file's harmony, and with
 * --no-harmony a pitch class of 12 at random (3 of them chord tones). */
static void test_tool_conditions(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-musicality-cond-XXXXXX", model[256], path[256];
    static char out[1 << 16];
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/drums.rnnw", dir);
    snprintf(path, sizeof path, "%s/drums.mid", dir);
    write_cond_preset(RNN_KIND_DRUMS, model);
    write_cond_file(RNN_KIND_DRUMS, path);
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-musicality --model %s --split test --seeds 3 --bars 8 "
                        "--primer-bars 2 %s",
                        test_tools_dir(), model, path);
    if (rc != 0) fail_msg("rnnmidi-musicality exited %d:\n%s", rc, out);
    print_message("%s", out);
    assert_non_null(strstr(out, "conditions: metric\n"));
    assert_non_null(strstr(out, "primed: 1 test files, 2 bars each (2 windows)"));
    for (int col = 1; col <= 5; col += 2) {
        assert_near(column(out, "hits_per_bar", col), 4, 0, "kicks a bar");
        assert_near(column(out, "consistency", col), 1, 0, "consistency");
    }
    unlink(path);
    unlink(model);

    snprintf(model, sizeof model, "%s/melody.rnnw", dir);
    snprintf(path, sizeof path, "%s/melody.mid", dir);
    write_cond_preset(RNN_KIND_MELODY, model);
    write_cond_file(RNN_KIND_MELODY, path);
    const char *args = "--split test --seeds 2 --bars 8 --primer-bars 2";
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality --model %s %s %s", test_tools_dir(),
                    model, args, path);
    if (rc != 0) fail_msg("rnnmidi-musicality exited %d:\n%s", rc, out);
    print_message("%s", out);
    assert_non_null(strstr(out, "conditions: harmony (the test files' own in primed takes)"));
    assert_near(column(out, "chord_tones", 5), 1, 0, "real chord tones");
    assert_true(isnan(column(out, "chord_tones", 1)));
    assert_near(column(out, "chord_tones", 3), 1, 0, "primed chord tones with the harmony");
    rc = test_shell(out, sizeof out, "%s/rnnmidi-musicality --model %s %s --no-harmony %s",
                    test_tools_dir(), model, args, path);
    if (rc != 0) fail_msg("rnnmidi-musicality --no-harmony exited %d:\n%s", rc, out);
    print_message("%s", out);
    assert_non_null(strstr(out, "harmony (zeroed: --no-harmony)"));
    const double zeroed = column(out, "chord_tones", 3);
    if (!(zeroed > 0 && zeroed < 0.6)) fail_msg("chord tones with the harmony zeroed: %g", zeroed);
    unlink(path);
    unlink(model);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_melody_features), cmocka_unit_test(test_drum_features),
        cmocka_unit_test(test_overlap),         cmocka_unit_test(test_tool),
        cmocka_unit_test(test_tool_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
