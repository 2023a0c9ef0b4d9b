/* SPDX-License-Identifier: MIT */
/* rnnmidi-learn as a user runs it: a player's riff (a two-bar line of
 * eighths and a held note, written here as a MIDI file) replayed for a
 * minute with a golden conditioned LSTM preset; the learning curve has a
 * line per update and a result line in which the learned weights predict
 * the next half minute better than the preset (by at least 30%: the riff
 * repeats); --svg draws the curves, a point per update. The learned preset
 * written with --out loads in rnnmidi-eval,
 * whose NLL on the riff is below the preset's. A golden preset with
 * attention learns the riff as well, under the spread guard anchored to
 * the preset. A replay
 * shorter than --minutes plus --next is refused (status 1), and so are a
 * missing --model, an unknown --guard and a spread guard that would hold
 * back every bar (status 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/midifile.h"
#include "../support/shell.h"

static const char *preset = "tests/golden/cond_lstm_e16_l2.rnnw";
static char dir[64], riff[128], out[128], svg[128];
static char buf[1 << 16];

/* Four minutes of the riff at 120 bpm, ppq 4 (one tick a 16th). */
static void write_riff(void)
{
    static const int line[] = {60, 62, 64, 67, 64, 62, 60, 55, 57, 60, 64, 62};
    enum { N = 12, BARS = 120 };
    rnn_note *notes = calloc((size_t)BARS / 2 * (N + 1), sizeof *notes);
    assert_non_null(notes);
    size_t n = 0;
    for (int r = 0; r < BARS / 2; r++) {
        const int64_t t0 = (int64_t)r * 32;
        for (int i = 0; i < N; i++)
            notes[n++] = (rnn_note){1, 0, line[i], 90, t0 + 2 * i, t0 + 2 * i + 2};
        notes[n++] = (rnn_note){1, 0, 59, 90, t0 + 24, t0 + 31};
    }
    char err[256];
    if (rnn_midi_write_path(riff, notes, n, 4, 120.0, err, sizeof err) != 0) fail_msg("%s", err);
    free(notes);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rnnmidi-learn-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(riff, sizeof riff, "%s/riff.mid", dir);
    snprintf(out, sizeof out, "%s/learned.rnnw", dir);
    snprintf(svg, sizeof svg, "%s/curve.svg", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(riff);
    unlink(out);
    unlink(svg);
    rmdir(dir);
    return 0;
}

static double field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) fail_msg("no %s in:\n%s", key, text);
    return atof(p + strlen(key));
}

static void test_curve(void **state)
{
    (void)state;
    write_riff();
    int rc = test_shell(buf, sizeof buf,
                        "%s/rnnmidi-learn --model %s --minutes 1 --next 0.5 --bars 4 --radius 0.5 "
                        "--lr 0.01 --out %s --svg %s %s",
                        test_tools_dir(), preset, out, svg, riff);
    if (rc != 0) fail_msg("rnnmidi-learn exited %d:\n%s", rc, buf);
    /* 1 minute at 120 bpm and 4 steps a quarter: 480 steps, 7 updates of 64 */
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "\nupdate=")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 7);
    const char *res = strstr(buf, "result: ");
    if (!res) fail_msg("no result line:\n%s", buf);
    const double before = field(res, "preset="), after = field(res, "learned=");
    if (!(after < 0.7 * before)) fail_msg("no learning:\n%s", buf);

    /* the picture: an SVG with the three curves, a point per update each */
    FILE *f = fopen(svg, "r");
    assert_non_null(f);
    const size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    assert_true(strncmp(buf, "<svg", 4) == 0);
    assert_non_null(strstr(buf, "</svg>"));
    int curves = 0;
    for (const char *p = buf; (p = strstr(p, "<polyline")) != NULL; p++) {
        const char *pts = strstr(p, "points=\""), *end = pts ? strchr(pts + 8, '"') : NULL;
        assert_non_null(end);
        int commas = 0;
        for (const char *q = pts + 8; q < end; q++)
            commas += *q == ',';
        /* no --dev: the dev curve has no point */
        assert_int_equal(commas, curves < 2 ? 7 : 0);
        curves++;
    }
    assert_int_equal(curves, 3);

    rc = test_shell(buf, sizeof buf, "%s/rnnmidi-eval --model %s %s", test_tools_dir(), preset,
                    riff);
    if (rc != 0) fail_msg("rnnmidi-eval exited %d:\n%s", rc, buf);
    const double e0 = field(buf, "nll_nats=");
    rc = test_shell(buf, sizeof buf, "%s/rnnmidi-eval --model %s %s", test_tools_dir(), out, riff);
    if (rc != 0) fail_msg("rnnmidi-eval on the learned preset exited %d:\n%s", rc, buf);
    const double e1 = field(buf, "nll_nats=");
    if (!(e1 < e0)) fail_msg("learned %f, preset %f", e1, e0);
}

/* the attention preset (PyTorch-made, tests/golden), the spread guard, --anchor */
static void test_attention(void **state)
{
    (void)state;
    write_riff();
    int rc = test_shell(buf, sizeof buf,
                        "%s/rnnmidi-learn --model tests/golden/attn_lstm_e16_l2.rnnw --minutes 1 "
                        "--next 0.5 --bars 4 --holdout 1 --guard spread --anchor --radius 0.5 "
                        "--lr 0.01 %s",
                        test_tools_dir(), riff);
    if (rc != 0) fail_msg("rnnmidi-learn exited %d:\n%s", rc, buf);
    int lines = 0, checked = 0;
    for (const char *p = buf; (p = strstr(p, "\nupdate=")) != NULL; p++) {
        lines++;
        checked += field(p, "held_before=") > 0; /* every update is checked */
    }
    assert_int_equal(lines, 7);
    assert_int_equal(checked, 7);
    const char *res = strstr(buf, "result: ");
    if (!res) fail_msg("no result line:\n%s", buf);
    const double before = field(res, "preset="), after = field(res, "learned=");
    if (!(after < 0.7 * before)) fail_msg("no learning:\n%s", buf);
}

static void test_refusals(void **state)
{
    (void)state;
    write_riff();
    int rc = test_shell(buf, sizeof buf, "%s/rnnmidi-learn --model %s --minutes 30 %s",
                        test_tools_dir(), preset, riff);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(buf, "minutes"));
    rc = test_shell(buf, sizeof buf, "%s/rnnmidi-learn %s", test_tools_dir(), riff);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(buf, "--model"));
    rc = test_shell(buf, sizeof buf, "%s/rnnmidi-learn --model %s --guard oldest %s",
                    test_tools_dir(), preset, riff);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(buf, "oldest"));
    rc = test_shell(buf, sizeof buf,
                    "%s/rnnmidi-learn --model %s --guard spread --bars 2 --holdout 2 %s",
                    test_tools_dir(), preset, riff);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(buf, "spread"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
