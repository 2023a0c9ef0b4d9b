/* SPDX-License-Identifier: MIT */
/* The LV2 bundle's inline display as Ardour drives it: lilv loads
 * build/rnnmidi.lv2, whose TTL declares the queue_draw feature and the
 * display interface; this host offers queue_draw, plays a phrase in
 * call-and-response at 120 BPM, lets the network answer, and calls render()
 * through extension_data. The player's notes (as sent) and the network's (as
 * captured from the output) are in their colours on the rows and columns
 * plugin/lv2/display.h's layout gives them, and those colours are nowhere
 * else; the header holds the mode and the model's name, and follows them.
 * queue_draw comes at most RNN_DISPLAY_DRAW_HZ times a second. render() with
 * odd sizes is safe. A thread rendering while run() runs gets whole images:
 * the sizes asked, only the display's colours, each note colour only in the
 * roll. The bundle's default model answers a melody on the display; with
 * RNNMIDI_DISPLAY_PNG=FILE set, that image is also written as a PNG (how
 * presets/examples/inline-display.png was made). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <lilv/lilv.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../../core/engine.h"
#include "../../plugin/lv2/display.h"
#include "../../plugin/lv2/inline_display.h"
#include "../support/skip.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lilv_bundle.h"
#include "../support/lv2/lv2_host.h"

static LilvWorld *world;
static const LilvPlugin *plugin;
static char tmpdir[256];
static char model_a[300];

static int setup(void **state)
{
    (void)state;
    if (lilv_bundle_dir(tmpdir, sizeof tmpdir, "idpy", NULL)) return -1;
    snprintf(model_a, sizeof model_a, "%s/melody.rnnw", tmpdir);
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 48, 21, model_a, NULL, NULL))
        return -1;
    plugin = lilv_bundle_world(&world);
    return plugin ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return lilv_bundle_free(world, tmpdir);
}

/* ------------------------------------------------------------- the host */

typedef struct {
    host_plugin *hp;
    LilvInstance *inst;
    const LV2_Inline_Display_Interface *idi;
    LV2_Inline_Display queue;
    LV2_Feature f_queue;
    const LV2_Feature *features[8];
    atomic_int draws; /* queue_draw calls */
} inst_t;

static void queue_draw(LV2_Inline_Display_Handle h)
{
    inst_t *t = h;
    atomic_fetch_add(&t->draws, 1);
}

static inst_t *open_plugin(double rate, int offer_queue)
{
    inst_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->hp = host_new();
    assert_non_null(t->hp);
    int n = 0;
    for (; t->hp->features[n]; n++)
        t->features[n] = t->hp->features[n];
    t->queue = (LV2_Inline_Display){t, queue_draw};
    t->f_queue = (LV2_Feature){LV2_INLINEDISPLAY__queue_draw, &t->queue};
    if (offer_queue) t->features[n++] = &t->f_queue;
    t->features[n] = NULL;
    t->inst = lilv_plugin_instantiate(plugin, rate, t->features);
    assert_non_null(t->inst);
    host_attach(t->hp, lilv_instance_get_descriptor(t->inst), lilv_instance_get_handle(t->inst));
    t->idi = lilv_instance_get_extension_data(t->inst, LV2_INLINEDISPLAY__interface);
    assert_non_null(t->idi);
    assert_non_null(t->idi->render);
    lilv_instance_activate(t->inst);
    return t;
}

static void close_plugin(inst_t *t)
{
    lilv_instance_deactivate(t->inst);
    lilv_instance_free(t->inst);
    host_free(t->hp);
    free(t);
}

static const LV2_Inline_Display_Image_Surface *render(inst_t *t, uint32_t w, uint32_t max_h)
{
    return t->idi->render(lilv_instance_get_handle(t->inst), w, max_h);
}

static void load_model(inst_t *t, const char *path)
{
    host_begin(t->hp);
    host_position(t->hp, 0, 0, 120, 0, 0);
    host_set_model(t->hp, 0, path);
    host_run(t->hp, 64);
    host_begin(t->hp);
    host_run(t->hp, 64);
    assert_string_equal(t->hp->model_path, path);
}

static uint32_t px_at(const LV2_Inline_Display_Image_Surface *img, int x, int y)
{
    return ((const uint32_t *)(const void *)(img->data + (size_t)y * (size_t)img->stride))[x];
}

static long count_colour(const LV2_Inline_Display_Image_Surface *img, int x0, int y0, int x1,
                         int y1, uint32_t rgb)
{
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += px_at(img, x, y) == rgb;
    return n;
}

/* The name's pixels of two headers agree, from each one's first name
 * column on, as far as both go (a shorter mode leaves more of a long
 * name in view). */
static int same_name(const LV2_Inline_Display_Image_Surface *a,
                     const LV2_Inline_Display_Image_Surface *b, int top)
{
    int xa = -1, xb = -1;
    for (int x = 0; x < a->width && xa < 0; x++)
        for (int y = 0; y < top; y++)
            if (px_at(a, x, y) == RNN_DISPLAY_NAME_RGB) xa = x;
    for (int x = 0; x < b->width && xb < 0; x++)
        for (int y = 0; y < top; y++)
            if (px_at(b, x, y) == RNN_DISPLAY_NAME_RGB) xb = x;
    if (xa < 0 || xb < 0 || a->width != b->width) return 0;
    int span = a->width - (xa > xb ? xa : xb);
    for (int dx = 0; dx < span; dx++)
        for (int y = 0; y < top; y++)
            if ((px_at(a, xa + dx, y) == RNN_DISPLAY_NAME_RGB) !=
                (px_at(b, xb + dx, y) == RNN_DISPLAY_NAME_RGB))
                return 0;
    return span > 20;
}

/* ---------------------------------------------------------------- tests */

static void test_ttl_declares_display(void **state)
{
    (void)state;
    LilvNode *iface = lilv_new_uri(world, LV2_INLINEDISPLAY__interface);
    LilvNode *queue = lilv_new_uri(world, LV2_INLINEDISPLAY__queue_draw);
    assert_true(lilv_plugin_has_extension_data(plugin, iface));
    LilvNodes *opt = lilv_plugin_get_optional_features(plugin);
    LilvNodes *req = lilv_plugin_get_required_features(plugin);
    assert_true(lilv_nodes_contains(opt, queue));
    assert_false(lilv_nodes_contains(req, queue));
    lilv_nodes_free(opt);
    lilv_nodes_free(req);
    lilv_node_free(iface);
    lilv_node_free(queue);
}

typedef struct {
    int who, pitch;
    int64_t on, off;
} span;

/* Spans of the network's notes from the captured output. */
static int net_spans(const host_plugin *hp, span *out, int cap)
{
    int n = 0;
    int64_t open[128];
    for (int p = 0; p < 128; p++)
        open[p] = -1;
    for (size_t i = 0; i < hp->n_ev; i++) {
        const host_ev *e = &hp->ev[i];
        int st = e->d[0] & 0xf0, p = e->d[1] & 127;
        int on = st == 0x90 && e->d[2] > 0, off = st == 0x80 || (st == 0x90 && e->d[2] == 0);
        if ((on || off) && open[p] >= 0 && n < cap) {
            out[n++] = (span){RNN_DISPLAY_NET, p, open[p], e->frame};
            open[p] = -1;
        }
        if (on) open[p] = e->frame;
    }
    for (int p = 0; p < 128; p++)
        if (open[p] >= 0 && n < cap) out[n++] = (span){RNN_DISPLAY_NET, p, open[p], -1};
    return n;
}

static void test_display_shows_the_notes(void **state)
{
    (void)state;
    const double rate = 48000, fpb = 96000; /* 120 BPM, 4/4 */
    inst_t *t = open_plugin(rate, 1);
    load_model(t, model_a);
    host_plugin *hp = t->hp;
    hp->controls[RNNMIDI_MODE] = RNN_MODE_CALL_RESPONSE;
    hp->controls[RNNMIDI_SEED] = 7;
    hp->controls[RNNMIDI_TEMPERATURE] = 0.7f;

    /* the transport rolls from bar 0 at the next block; the player plays four
     * notes in bar 1, each three quarters of a beat; the answer comes in bar 3 */
    span played[4];
    const int pitches[4] = {60, 64, 67, 65};
    int64_t roll = hp->pos;
    for (int k = 0; k < 4; k++)
        played[k] = (span){RNN_DISPLAY_PLAYER, pitches[k], roll + 96000 + k * 24000,
                           roll + 96000 + k * 24000 + 18000};
    int64_t total = roll + (int64_t)(4.5 * fpb);
    int draws0 = atomic_load(&t->draws);
    uint64_t s = 11;
    int first = 1;
    while (hp->pos < total) {
        uint32_t n = fixture_block(&s, 20, 2048);
        if (hp->pos + n > total) n = (uint32_t)(total - hp->pos);
        host_begin(hp);
        if (first) host_position(hp, 0, 1, 120, 0, 0);
        first = 0;
        for (int k = 0; k < 4; k++) {
            if (played[k].on >= hp->pos && played[k].on < hp->pos + n)
                host_midi(hp, (uint32_t)(played[k].on - hp->pos), 0x90, (uint8_t)played[k].pitch,
                          90);
            if (played[k].off >= hp->pos && played[k].off < hp->pos + n)
                host_midi(hp, (uint32_t)(played[k].off - hp->pos), 0x80, (uint8_t)played[k].pitch,
                          0);
        }
        host_run(hp, n);
    }
    int draws = atomic_load(&t->draws) - draws0;
    double seconds = (double)(total - roll) / rate;
    print_message("queue_draw: %d calls in %.1f s\n", draws, seconds);
    assert_true(draws >= 1);
    assert_true(draws <= (int)(seconds * RNN_DISPLAY_DRAW_HZ) + 2);

    span notes[64];
    memcpy(notes, played, sizeof played);
    int n_notes = 4 + net_spans(hp, notes + 4, 60);
    int n_net = n_notes - 4;
    print_message("the network played %d notes\n", n_net);
    assert_true(n_net >= 2);

    const int w = 320;
    const LV2_Inline_Display_Image_Surface *img = render(t, w, 1000);
    assert_non_null(img);
    assert_int_equal(img->width, w);
    assert_int_equal(img->height, w / 2);
    int h = img->height, top = RNN_DISPLAY_HEADER(2);

    /* the layout of display.h: the pitch range of what is in view, widened */
    int64_t now = hp->pos;
    double window = RNN_DISPLAY_BARS * fpb, t0 = (double)now - window;
    int lo = 128, hi = -1;
    for (int i = 0; i < n_notes; i++) {
        int64_t end = notes[i].off < 0 ? now : notes[i].off;
        if ((double)end < t0) continue;
        if (notes[i].pitch < lo) lo = notes[i].pitch;
        if (notes[i].pitch > hi) hi = notes[i].pitch;
    }
    if (hi - lo + 1 < RNN_DISPLAY_MIN_PITCHES) {
        lo = (lo + hi) / 2 - RNN_DISPLAY_MIN_PITCHES / 2;
        if (lo < 0) lo = 0;
        if (lo > 128 - RNN_DISPLAY_MIN_PITCHES) lo = 128 - RNN_DISPLAY_MIN_PITCHES;
        hi = lo + RNN_DISPLAY_MIN_PITCHES - 1;
    }
    int rows = h - top, np = hi - lo + 1;
    long centres[2] = {0, 0}, boxes[2] = {0, 0};
    for (int i = 0; i < n_notes; i++) {
        const span *sp = &notes[i];
        int64_t end = sp->off < 0 ? now : sp->off;
        if ((double)end < t0) continue;
        int x0 = (int)floor(((double)sp->on - t0) * w / window);
        int x1 = (int)floor(((double)end - t0) * w / window);
        if (x1 <= x0) x1 = x0 + 1;
        if (x0 < 0) x0 = 0;
        if (x1 > w) x1 = w;
        int y0 = top + (hi - sp->pitch) * rows / np, y1 = top + (hi - sp->pitch + 1) * rows / np;
        uint32_t rgb = sp->who == RNN_DISPLAY_PLAYER ? RNN_DISPLAY_PLAYER_RGB : RNN_DISPLAY_NET_RGB;
        /* the player's notes are all there, whole; the network's, drawn
         * last, too */
        assert_int_equal(px_at(img, (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2), rgb);
        assert_int_equal(count_colour(img, x0, y0, x1, y1, rgb), (long)(x1 - x0) * (y1 - y0));
        centres[sp->who]++;
        boxes[sp->who] += (long)(x1 - x0) * (y1 - y0);
    }
    assert_int_equal(centres[RNN_DISPLAY_PLAYER], 4);
    /* each colour only where its notes are (the answer comes after the call,
     * and a net note never overlaps another of the same pitch) */
    assert_int_equal(count_colour(img, 0, 0, w, h, RNN_DISPLAY_PLAYER_RGB),
                     boxes[RNN_DISPLAY_PLAYER]);
    assert_int_equal(count_colour(img, 0, 0, w, h, RNN_DISPLAY_NET_RGB), boxes[RNN_DISPLAY_NET]);

    /* the header: the mode and the name; another mode changes the mode's
     * pixels and not the name's */
    long mode_px = count_colour(img, 0, 0, w, top, RNN_DISPLAY_MODE_RGB);
    long name_px = count_colour(img, 0, 0, w, top, RNN_DISPLAY_NAME_RGB);
    assert_true(mode_px > 20);
    assert_true(name_px > 20);
    unsigned char *header = malloc((size_t)img->stride * (size_t)top);
    assert_non_null(header);
    memcpy(header, img->data, (size_t)img->stride * (size_t)top);
    LV2_Inline_Display_Image_Surface before = *img;
    before.data = header;
    hp->controls[RNNMIDI_MODE] = RNN_MODE_ACCOMPANY;
    host_begin(hp);
    host_run(hp, 64);
    img = render(t, w, 1000);
    long mode2 = count_colour(img, 0, 0, w, top, RNN_DISPLAY_MODE_RGB);
    assert_true(mode2 > 20 && mode2 != mode_px);
    assert_true(same_name(&before, img, top));
    free(header);

    /* an instance without a model names none: the name's pixels differ */
    inst_t *u = open_plugin(rate, 0);
    host_begin(u->hp);
    host_run(u->hp, 64);
    u->hp->controls[RNNMIDI_MODE] = RNN_MODE_ACCOMPANY;
    host_begin(u->hp);
    host_run(u->hp, 64);
    const LV2_Inline_Display_Image_Surface *other = render(u, w, 1000);
    assert_int_equal(count_colour(other, 0, 0, w, top, RNN_DISPLAY_MODE_RGB), mode2);
    long name_none = count_colour(other, 0, 0, w, top, RNN_DISPLAY_NAME_RGB);
    assert_true(name_none > 20 && name_none != name_px);
    assert_int_equal(atomic_load(&u->draws), 0); /* not offered, never called */
    close_plugin(u);
    close_plugin(t);
}

static void test_render_odd_sizes(void **state)
{
    (void)state;
    inst_t *t = open_plugin(44100, 1);
    /* before any run() */
    const LV2_Inline_Display_Image_Surface *img = render(t, 100, 100);
    assert_non_null(img);
    assert_int_equal(img->width, 100);
    assert_int_equal(img->height, 50);
    assert_null(render(t, 0, 0));
    assert_null(render(t, 0, 50));
    assert_null(render(t, 50, 0));
    host_begin(t->hp);
    host_midi(t->hp, 0, 0x90, 60, 100);
    host_run(t->hp, 256);
    const uint32_t sizes[][2] = {
        {1, 1},  {1, 1000},  {2, 1},       {3, 2},       {17, 5},
        {33, 9}, {301, 151}, {4096, 4096}, {100000, 13}, {UINT32_MAX, UINT32_MAX},
        {64, 2}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        img = render(t, sizes[k][0], sizes[k][1]);
        assert_non_null(img);
        assert_true(img->width >= 1 && (uint32_t)img->width <= sizes[k][0]);
        assert_true(img->height >= 1 && (uint32_t)img->height <= sizes[k][1]);
        assert_true(img->stride >= 4 * img->width);
        long opaque = 0;
        for (int y = 0; y < img->height; y++)
            for (int x = 0; x < img->width; x++)
                opaque += px_at(img, x, y) >> 24 == 0xff;
        assert_int_equal(opaque, (long)img->width * img->height);
    }
    close_plugin(t);
}

/* --------------------------------------------- render() beside run() */

typedef struct {
    inst_t *t;
    atomic_int stop;
    long frames, bad;
    char why[160];
} painter;

static int known_colour(uint32_t c, int header)
{
    if (c == RNN_DISPLAY_BG_RGB) return 1;
    if (header) return c == RNN_DISPLAY_MODE_RGB || c == RNN_DISPLAY_NAME_RGB;
    return c == RNN_DISPLAY_BAR_RGB || c == RNN_DISPLAY_BEAT_RGB || c == RNN_DISPLAY_PLAYER_RGB ||
           c == RNN_DISPLAY_NET_RGB;
}

static void *paint(void *arg)
{
    painter *p = arg;
    const uint32_t ws[3] = {160, 257, 400};
    while (!atomic_load(&p->stop)) {
        uint32_t w = ws[p->frames % 3];
        const LV2_Inline_Display_Image_Surface *img = render(p->t, w, 1000);
        p->frames++;
        if (!img || img->width != (int)w || img->height != (int)w / 2) {
            if (!p->bad++) snprintf(p->why, sizeof p->why, "image of %u wide", w);
            continue;
        }
        int top = RNN_DISPLAY_HEADER(img->height >= 96 ? 2 : 1);
        for (int y = 0; y < img->height; y++)
            for (int x = 0; x < img->width; x++)
                if (!known_colour(px_at(img, x, y), y < top)) {
                    if (!p->bad++)
                        snprintf(p->why, sizeof p->why, "colour %08x at %d,%d of %ux%d",
                                 px_at(img, x, y), x, y, w, img->height);
                    y = img->height;
                    break;
                }
    }
    return NULL;
}

static void test_render_beside_run(void **state)
{
    (void)state;
    const double rate = 48000;
    inst_t *t = open_plugin(rate, 1);
    load_model(t, model_a);
    host_plugin *hp = t->hp;
    hp->controls[RNNMIDI_MODE] = RNN_MODE_ACCOMPANY;
    hp->controls[RNNMIDI_SEED] = 3;
    painter p = {t, 0, 0, 0, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, paint, &p), 0);
    int draws0 = atomic_load(&t->draws);
    int64_t start = hp->pos;
    uint64_t s = 5;
    for (int b = 0; b < 3000; b++) {
        uint32_t n = fixture_block(&s, 24, 1024);
        host_begin(hp);
        if (b == 0) host_position(hp, 0, 1, 120, 0, 0);
        if (b % 7 == 0 && n > 0)
            host_midi(hp, 0, (uint8_t)(b % 14 ? 0x90 : 0x80), (uint8_t)(50 + b % 24), 80);
        if (b % 500 == 250) hp->controls[RNNMIDI_MODE] = (float)((b / 500) % 3);
        host_run(hp, n);
    }
    atomic_store(&p.stop, 1);
    pthread_join(th, NULL);
    double seconds = (double)(hp->pos - start) / rate;
    int draws = atomic_load(&t->draws) - draws0;
    print_message("%ld images rendered beside %.1f s of run(), %ld wrong %s; %d queue_draw\n",
                  p.frames, seconds, p.bad, p.why, draws);
    assert_int_equal(p.bad, 0);
    assert_true(p.frames > 0);
    assert_true(draws <= (int)(seconds * RNN_DISPLAY_DRAW_HZ) + 2);
    /* once run() stops, two renders give the same image */
    const LV2_Inline_Display_Image_Surface *a = render(t, 200, 100);
    size_t bytes = (size_t)a->stride * (size_t)a->height;
    unsigned char *copy = malloc(bytes);
    assert_non_null(copy);
    memcpy(copy, a->data, bytes);
    const LV2_Inline_Display_Image_Surface *b = render(t, 200, 100);
    assert_memory_equal(copy, b->data, bytes);
    free(copy);
    close_plugin(t);
}

/* An ARGB32 image as an 8-bit RGB PNG (zlib for the data and the CRCs). */
static int write_png(const char *path, const LV2_Inline_Display_Image_Surface *img)
{
    size_t row = 1 + 3 * (size_t)img->width, raw_len = row * (size_t)img->height;
    unsigned char *raw = malloc(raw_len);
    uLongf z_len = compressBound((uLong)raw_len);
    unsigned char *z = malloc(z_len);
    FILE *f = fopen(path, "wb");
    int ok = raw && z && f;
    for (int y = 0; ok && y < img->height; y++) {
        unsigned char *r = raw + (size_t)y * row;
        r[0] = 0; /* no filter */
        for (int x = 0; x < img->width; x++) {
            uint32_t c = px_at(img, x, y);
            r[1 + 3 * x] = (unsigned char)(c >> 16);
            r[2 + 3 * x] = (unsigned char)(c >> 8);
            r[3 + 3 * x] = (unsigned char)c;
        }
    }
    ok = ok && compress2(z, &z_len, raw, (uLong)raw_len, 9) == Z_OK;
    unsigned char ihdr[13] = {0};
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)((uint32_t)img->width >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)((uint32_t)img->height >> (24 - 8 * i));
    }
    ihdr[8] = 8; /* bits per channel */
    ihdr[9] = 2; /* RGB */
    const struct {
        const char *type;
        const unsigned char *data;
        uint32_t len;
    } chunks[3] = {{"IHDR", ihdr, 13}, {"IDAT", z, (uint32_t)z_len}, {"IEND", NULL, 0}};
    if (ok) ok = fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) == 8;
    for (int k = 0; ok && k < 3; k++) {
        unsigned char be[4];
        for (int i = 0; i < 4; i++)
            be[i] = (unsigned char)(chunks[k].len >> (24 - 8 * i));
        uLong crc = crc32(0, (const Bytef *)chunks[k].type, 4);
        if (chunks[k].len) crc = crc32(crc, chunks[k].data, chunks[k].len);
        unsigned char cb[4];
        for (int i = 0; i < 4; i++)
            cb[i] = (unsigned char)((uint32_t)crc >> (24 - 8 * i));
        ok = fwrite(be, 1, 4, f) == 4 && fwrite(chunks[k].type, 1, 4, f) == 4 &&
             (!chunks[k].len || fwrite(chunks[k].data, 1, chunks[k].len, f) == chunks[k].len) &&
             fwrite(cb, 1, 4, f) == 4;
    }
    if (f && fclose(f)) ok = 0;
    free(raw);
    free(z);
    return ok ? 0 : -1;
}

/* The bundle's default model (when the bundle has one) answers the opening
 * of a melody in call-and-response: the call in the player's colour, an
 * answer in the network's after it. */
static void test_default_model_answers(void **state)
{
    (void)state;
    const double rate = 48000;
    inst_t *t = open_plugin(rate, 1);
    host_plugin *hp = t->hp;
    host_begin(hp);
    host_run(hp, 64);
    if (!strstr(hp->model_path, "melody-lstm.rnnw")) {
        close_plugin(t);
        test_skip_note("test_default_model_answers",
                       "the bundle has no default model (presets/melody-lstm.rnnw)");
        skip();
    }
    hp->controls[RNNMIDI_MODE] = RNN_MODE_CALL_RESPONSE;
    hp->controls[RNNMIDI_SEED] = 5;
    hp->controls[RNNMIDI_TEMPERATURE] = 0.8f;
    /* E E F G G F E D, in quarters (pairs of eighths) over bars 1 and 2 */
    const int melody[][2] = {{64, 2}, {64, 2}, {65, 2}, {67, 2},
                             {67, 2}, {65, 2}, {64, 2}, {62, 2}};
    const int n_mel = (int)(sizeof melody / sizeof melody[0]);
    const int64_t eighth = 12000;
    int64_t roll = hp->pos, at = roll + 96000, on[8], off[8];
    for (int k = 0; k < n_mel; k++) {
        on[k] = at;
        off[k] = at + melody[k][1] * eighth - 1500;
        at += melody[k][1] * eighth;
    }
    int64_t total = roll + 6 * 96000;
    while (hp->pos < total) {
        uint32_t n = 256;
        host_begin(hp);
        if (hp->pos == roll) host_position(hp, 0, 1, 120, 0, 0);
        for (int k = 0; k < n_mel; k++) {
            if (on[k] >= hp->pos && on[k] < hp->pos + n)
                host_midi(hp, (uint32_t)(on[k] - hp->pos), 0x90, (uint8_t)melody[k][0], 90);
            if (off[k] >= hp->pos && off[k] < hp->pos + n)
                host_midi(hp, (uint32_t)(off[k] - hp->pos), 0x80, (uint8_t)melody[k][0], 0);
        }
        host_run(hp, n);
    }
    const LV2_Inline_Display_Image_Surface *img = render(t, 320, 160);
    assert_non_null(img);
    int top = RNN_DISPLAY_HEADER(2);
    /* the call, from bar 2 on in view, left of the answer */
    int player_right = -1, net_left = img->width;
    for (int y = top; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            uint32_t c = px_at(img, x, y);
            if (c == RNN_DISPLAY_PLAYER_RGB && x > player_right) player_right = x;
            if (c == RNN_DISPLAY_NET_RGB && x < net_left) net_left = x;
        }
    print_message("call up to column %d, answer from column %d\n", player_right, net_left);
    assert_true(player_right >= 0);
    assert_true(net_left < img->width);
    assert_true(net_left > player_right);
    const char *png = getenv("RNNMIDI_DISPLAY_PNG");
    if (png) assert_int_equal(write_png(png, img), 0);
    close_plugin(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttl_declares_display),
        cmocka_unit_test(test_display_shows_the_notes),
        cmocka_unit_test(test_render_odd_sizes),
        cmocka_unit_test(test_render_beside_run),
        cmocka_unit_test(test_default_model_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
