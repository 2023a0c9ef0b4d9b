/* SPDX-License-Identifier: MIT */
/* rnnmidi-gen --attention-png, run as a user runs it (the tools of
 * $RNNMIDI_TOOLS, build/test by default), on the golden attention presets:
 * - the file is a PNG that decodes (signature, chunk CRCs, IHDR, zlib's
 *   inflate of the IDAT into rows of unfiltered 8-bit RGB);
 * - its pixels are those rnn_attn_picture_raster draws for the passage and
 *   weights this test computes itself with core/net and core/sample from
 *   the same preset and seed, so the tool draws what the net did;
 * - read back, the lower panel shows, in the column of step t, a lit cell
 *   at lag L exactly when L <= t (the first draw comes from a step with an
 *   empty ring; then one more stored output a step, up to the window), and
 *   each note-on of the passage lies on its pitch row in the piano roll;
 * - a preset without attention is refused, naming the file and the
 *   reason, with nothing written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../../core/condition.h"
#include "../../core/encoding.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/sample.h"
#include "../../training/attnplot.h"
#include "../support/shell.h"

#define BARS 4
#define STEPS (BARS * 16)
#define C_PANEL 0x1f2129u /* the panels' ground, as training/attnplot.c paints it */
#define C_NOTE 0xf29a3au

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rnnmidi-gen-attn-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char out[256];
    return test_shell(out, sizeof out, "rm -rf %s", dir) == 0 ? 0 : -1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decode path (a PNG as core/png writes it: 8-bit RGB, no interlace) into
 * a new RGB image without the filter bytes; *w, *h its size. */
static unsigned char *png_read(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 22];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 8 && n < sizeof buf);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    assert_memory_equal(buf, sig, 8);
    unsigned char *z = malloc(n);
    assert_non_null(z);
    size_t zlen = 0, at = 8;
    int ended = 0;
    *w = *h = 0;
    while (at + 12 <= n && !ended) {
        const uint32_t len = be32(buf + at);
        assert_true(at + 12 + len <= n);
        const unsigned char *type = buf + at + 4, *data = buf + at + 8;
        uLong crc = crc32(0L, type, 4);
        crc = crc32(crc, data, len);
        assert_int_equal((uint32_t)crc, be32(data + len));
        if (memcmp(type, "IHDR", 4) == 0) {
            assert_int_equal(len, 13);
            *w = (int)be32(data);
            *h = (int)be32(data + 4);
            assert_int_equal(data[8], 8);  /* bits a sample */
            assert_int_equal(data[9], 2);  /* RGB */
            assert_int_equal(data[12], 0); /* no interlace */
        } else if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(z + zlen, data, len);
            zlen += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            ended = 1;
        }
        at += 12 + len;
    }
    assert_true(ended);
    assert_int_equal(at, n);
    assert_true(*w > 0 && *h > 0);
    const size_t stride = (size_t)*w * 3 + 1;
    uLongf raw_len = stride * (size_t)*h;
    unsigned char *raw = malloc(raw_len), *rgb = malloc(raw_len);
    assert_non_null(raw);
    assert_non_null(rgb);
    const uLongf want = raw_len;
    assert_int_equal(uncompress(raw, &raw_len, z, zlen), Z_OK);
    assert_int_equal(raw_len, want);
    for (int j = 0; j < *h; j++) {
        assert_int_equal(raw[(size_t)j * stride], 0); /* filter: none */
        memcpy(rgb + (size_t)j * (size_t)*w * 3, raw + (size_t)j * stride + 1, (size_t)*w * 3);
    }
    free(z);
    free(raw);
    return rgb;
}

static uint32_t pixel(const unsigned char *rgb, int w, int x, int y)
{
    const unsigned char *q = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
    return (uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2];
}

/* What rnnmidi-gen does without a primer at seed 1, temperature 1, top-p
 * 0.95: one 'no event' step, then STEPS draws, each fed back; weights row t
 * those of the step step t is drawn from. Returns the window n. */
static int reference(const char *preset, int32_t *events, float *weights, rnn_kind *kind)
{
    char err[256];
    rnn_model *m = rnn_model_load(preset, err, sizeof err);
    if (!m) fail_msg("%s", err);
    const rnn_model_config *cfg = rnn_model_get_config(m);
    assert_int_equal(cfg->steps_per_quarter, 4);
    *kind = cfg->kind;
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    rnn_sampler *s = rnn_sampler_create(cfg->vocab);
    assert_non_null(net);
    assert_non_null(s);
    rnn_rng rng;
    rnn_rng_seed(&rng, 1);
    float cond[RNN_MAX_COND_COLUMNS] = {0};
    const int C = rnn_model_cond_columns(cfg);
    if (C) {
        /* the step before the grid: the last step of a 4/4 bar */
        rnn_metric_pos p;
        assert_int_equal(rnn_cond_metric_file(NULL, 0, 480, 4, 15, &p), 0);
        rnn_cond_metric_fill(&p, 4, cond);
    }
    const float *logits = rnn_net_step_cond(net, 0, C ? cond : NULL);
    int n = 0;
    for (int t = 0; t < STEPS; t++) {
        const float *w = rnn_net_attn_weights(net, &n);
        assert_non_null(w);
        memcpy(weights + (size_t)t * (size_t)n, w, (size_t)n * sizeof *w);
        int e = rnn_sample(s, &rng, logits, cfg->vocab, 1.0f, 0.95f, NULL);
        events[t] = e < 0 ? 0 : e;
        if (C) {
            rnn_metric_pos p;
            assert_int_equal(rnn_cond_metric_file(NULL, 0, 480, 4, t, &p), 0);
            rnn_cond_metric_fill(&p, 4, cond);
        }
        logits = rnn_net_step_cond(net, events[t], C ? cond : NULL);
    }
    rnn_sampler_free(s);
    rnn_net_free(net);
    rnn_model_free(m);
    return n;
}

static void picture_case(const char *name)
{
    char preset[128], png[128], mid[128], out[4096];
    snprintf(preset, sizeof preset, "tests/golden/%s.rnnw", name);
    snprintf(png, sizeof png, "%s/%s.png", dir, name);
    snprintf(mid, sizeof mid, "%s/%s.mid", dir, name);
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-gen --model %s --bars %d --seed 1 --out %s --attention-png %s",
                        test_tools_dir(), preset, BARS, mid, png);
    if (rc != 0) fail_msg("rnnmidi-gen exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, png));

    int w, h;
    unsigned char *got = png_read(png, &w, &h);
    static int32_t events[STEPS];
    static float weights[STEPS * RNN_MAX_ATTN_WINDOW];
    rnn_kind kind;
    const int n = reference(preset, events, weights, &kind);
    const rnn_attn_picture p = {.kind = kind,
                                .events = events,
                                .T = STEPS,
                                .weights = weights,
                                .n = n,
                                .steps_per_beat = 4,
                                .steps_per_bar = 16};
    rnn_attn_geometry g;
    unsigned char *want = rnn_attn_picture_raster(&p, &g);
    assert_non_null(want);
    assert_int_equal(w, g.w);
    assert_int_equal(h, g.h);
    assert_int_equal(g.w, g.left * 2 + g.cell * STEPS);
    assert_int_equal(g.h, g.heat_top + g.row * n + g.roll_top);
    if (memcmp(got, want, (size_t)w * (size_t)h * 3) != 0)
        fail_msg("%s: the picture is not the one of the passage and weights computed here", name);

    /* the lower panel: lag L of step t lit exactly when L <= t */
    assert_true(g.cell >= 3 && g.row >= 3);
    int lit = 0;
    for (int t = 0; t < STEPS; t++)
        for (int lag = 1; lag <= n; lag++) {
            const uint32_t c =
                pixel(got, w, g.left + g.cell * t + g.cell / 2, g.heat_top + (lag - 1) * g.row + 1);
            if ((c != C_PANEL) != (lag <= t))
                fail_msg("%s: step %d, lag %d: %s", name, t, lag,
                         lag <= t ? "attended to but blank" : "lit with nothing stored");
            lit += c != C_PANEL;
        }
    int stored = 0;
    for (int t = 0; t < STEPS; t++)
        stored += t < n ? t : n;
    assert_int_equal(lit, stored);

    /* the piano roll: each note-on on its row (melody) or lane (drums) */
    int lo = 127, hi = 0, ons = 0;
    for (int t = 0; t < STEPS && kind == RNN_KIND_MELODY; t++)
        if (events[t] >= RNN_MELODY_NOTE_ON(0)) {
            const int q = events[t] - RNN_MELODY_NOTE_ON(0);
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
    if (hi - lo < 11) hi = lo + 11;
    for (int t = 0; t < STEPS; t++) {
        const int x = g.left + g.cell * t + 1;
        if (kind == RNN_KIND_MELODY && events[t] >= RNN_MELODY_NOTE_ON(0)) {
            const int q = events[t] - RNN_MELODY_NOTE_ON(0);
            assert_int_equal(pixel(got, w, x, g.roll_top + (hi - q) * 4 + 1), C_NOTE);
            ons++;
        }
        for (int c = 0; kind == RNN_KIND_DRUMS && c < RNN_DRUM_CLASSES; c++)
            if (events[t] >> c & 1) {
                assert_int_equal(pixel(got, w, x, g.roll_top + c * 8 + 2), C_NOTE);
                ons++;
            }
    }
    assert_true(ons >= 8);
    free(got);
    free(want);
}

static void test_melody_picture(void **state)
{
    (void)state;
    picture_case("attn_lstm_e16_l2");
    picture_case("attn_gru_e0_l2"); /* a window longer than the passage's first bars */
}

static void test_drums_picture(void **state)
{
    (void)state;
    picture_case("attn_drums_gru_e8_l1");
}

static void test_refuses_preset_without_attention(void **state)
{
    (void)state;
    char png[128], mid[128], out[4096];
    snprintf(png, sizeof png, "%s/none.png", dir);
    snprintf(mid, sizeof mid, "%s/none.mid", dir);
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-gen --model tests/golden/lstm_e32_l2.rnnw --bars 2 --out %s "
                        "--attention-png %s",
                        test_tools_dir(), mid, png);
    print_message("rnnmidi-gen: exit %d: %s", rc, out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "tests/golden/lstm_e32_l2.rnnw"));
    assert_non_null(strstr(out, "no attention"));
    struct stat st;
    assert_int_not_equal(stat(png, &st), 0);
    assert_int_not_equal(stat(mid, &st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_melody_picture),
        cmocka_unit_test(test_drums_picture),
        cmocka_unit_test(test_refuses_preset_without_attention),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
