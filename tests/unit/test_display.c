/* SPDX-License-Identifier: MIT */
/* The LV2 inline display (plugin/lv2/display.c), linked directly.
 * Snapshots: a writer thread records notes whose every field follows from
 * their index, and publishes a mode and a name that go together, as fast as
 * it can, while reader threads take snapshots; every snapshot a reader keeps
 * must be one the writer could have published (no span, clock or name
 * mixed from two moments). Drawing: spans at known frames and pitches land
 * on the rows and columns display.h's layout gives them, in the player's
 * and the network's colours, and nowhere else; the header holds the mode
 * and the name in their colours, and changes with them. Sizes: render()
 * with w and max_h of 0, 1, odd, and far beyond the limits. Draw requests:
 * at most RNN_DISPLAY_DRAW_HZ a second while notes are in view, none once
 * nothing moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugin/lv2/display.h"

/* ------------------------------------------------------------ snapshots */

#define WRITES 200000

static const char *const names[3] = {"alpha", "bravo bravo bravo", "c"};

typedef struct {
    rnn_display *d;
    atomic_int done;
    long kept, refused, bad;
    char why[200];
} race;

static atomic_long kept_all; /* snapshots kept by both readers */
static uint64_t writes;      /* notes the writer wrote */

static void on_off(rnn_display *d, int who, uint64_t at, int pitch, int on)
{
    uint8_t m[3] = {(uint8_t)(on ? 0x90 : 0x80), (uint8_t)pitch, on ? 100 : 0};
    rnn_display_midi(d, who, at, m, 3);
}

/* Note i: who i & 1, pitch 10 + i % 100, frames 10 i .. 10 i + 5; then the
 * clock moves to 10 i + 5 with mode i % 3 and names[i % 3]. */
static void *writer(void *arg)
{
    race *r = arg;
    uint64_t i = 0;
    /* WRITES notes, and on while the readers have kept too few snapshots to
     * judge: a loaded machine may run them late (at most 100 times as long) */
    for (; i < WRITES || (atomic_load(&kept_all) <= 20 && i < 100 * (uint64_t)WRITES); i++) {
        on_off(r->d, (int)(i & 1), 10 * i, (int)(10 + i % 100), 1);
        on_off(r->d, (int)(i & 1), 10 * i + 5, (int)(10 + i % 100), 0);
        rnn_display_set(r->d, 10 * i + 5, 1000, 4, 0, (uint32_t)(i % 3), names[i % 3]);
    }
    writes = i;
    atomic_store(&r->done, 1);
    return NULL;
}

static int check_snapshot(const rnn_display_snapshot *s, char *why, size_t n)
{
    if (s->total == 0) return 0;
    uint64_t want_n = s->total < RNN_DISPLAY_SPANS ? s->total : RNN_DISPLAY_SPANS;
    if (s->n != want_n)
        return snprintf(why, n, "n %u of total %llu", s->n, (unsigned long long)s->total), 1;
    uint64_t last = s->total - 1;
    /* the clock is the last note's end, or the one before while it sounds */
    uint64_t clock_note = s->now / 10;
    /* before the first set: the first note sounding, or already ended */
    int first = s->total == 1 && s->now == 0;
    if (!first && (s->now % 10 != 5 || !(clock_note == last || clock_note + 1 == last)))
        return snprintf(why, n, "now %llu with %llu notes", (unsigned long long)s->now,
                        (unsigned long long)s->total),
               1;
    for (uint32_t j = 0; j < s->n; j++) {
        uint64_t i = s->total - s->n + j;
        const rnn_display_span *sp = &s->span[j];
        int open_ok = sp->end == RNN_DISPLAY_OPEN && i == last;
        if (sp->start != 10 * i || sp->pitch != 10 + i % 100 || sp->who != (i & 1) ||
            !(sp->end == 10 * i + 5 || open_ok))
            return snprintf(why, n, "span %llu: %llu..%llu pitch %d who %d", (unsigned long long)i,
                            (unsigned long long)sp->start, (unsigned long long)sp->end, sp->pitch,
                            sp->who),
                   1;
    }
    if (s->now >= 5 && strcmp(s->name, names[s->mode % 3]))
        return snprintf(why, n, "mode %u with name '%s'", s->mode, s->name), 1;
    if (s->now >= 5 && s->mode != (s->now / 10) % 3)
        return snprintf(why, n, "mode %u at now %llu", s->mode, (unsigned long long)s->now), 1;
    return 0;
}

static void *reader(void *arg)
{
    race *r = arg;
    rnn_display_snapshot *s = malloc(sizeof *s);
    if (!s) return NULL;
    while (!atomic_load(&r->done)) {
        if (!rnn_display_read(r->d, s)) {
            r->refused++;
            continue;
        }
        r->kept++;
        atomic_fetch_add(&kept_all, 1);
        char why[200];
        if (check_snapshot(s, why, sizeof why)) {
            if (!r->bad) snprintf(r->why, sizeof r->why, "%s", why);
            r->bad++;
        }
    }
    free(s);
    return NULL;
}

static void test_snapshots_are_whole(void **state)
{
    (void)state;
    rnn_display *d = rnn_display_create(48000);
    assert_non_null(d);
    race r[2];
    memset(r, 0, sizeof r);
    atomic_store(&kept_all, 0);
    pthread_t w, rd[2];
    for (int k = 0; k < 2; k++)
        r[k].d = d;
    race *wr = &r[0];
    assert_int_equal(pthread_create(&rd[0], NULL, reader, &r[0]), 0);
    assert_int_equal(pthread_create(&rd[1], NULL, reader, &r[1]), 0);
    assert_int_equal(pthread_create(&w, NULL, writer, wr), 0);
    pthread_join(w, NULL);
    atomic_store(&r[1].done, 1);
    pthread_join(rd[0], NULL);
    pthread_join(rd[1], NULL);
    long kept = r[0].kept + r[1].kept, refused = r[0].refused + r[1].refused;
    print_message("snapshots: %ld kept, %ld given up, %ld inconsistent %s\n", kept, refused,
                  r[0].bad + r[1].bad, r[0].bad ? r[0].why : r[1].why);
    assert_int_equal(r[0].bad + r[1].bad, 0);
    assert_true(kept > 20);

    /* after the writer: the last state, whole */
    rnn_display_snapshot *s = malloc(sizeof *s);
    assert_non_null(s);
    assert_int_equal(rnn_display_read(d, s), 1);
    assert_int_equal(s->total, writes);
    assert_int_equal(s->now, 10 * (writes - 1) + 5);
    char why[200] = "";
    assert_int_equal(check_snapshot(s, why, sizeof why), 0);
    free(s);
    rnn_display_free(d);
}

/* -------------------------------------------------------------- drawing */

static uint32_t px_at(const LV2_Inline_Display_Image_Surface *img, int x, int y)
{
    return ((const uint32_t *)(const void *)(img->data + (size_t)y * (size_t)img->stride))[x];
}

/* display.h's layout, written out again */
static int col_of(uint64_t t, uint64_t now, double window, int w)
{
    return (int)floor(((double)t - ((double)now - window)) * w / window);
}

static int row_of(int p, int lo, int hi, int top, int h)
{
    return top + (hi - p) * (h - top) / (hi - lo + 1);
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

typedef struct {
    int who, pitch;
    uint64_t on, off; /* off 0: still sounding */
} note;

static void test_notes_where_the_layout_says(void **state)
{
    (void)state;
    const double rate = 48000, fpb = 96000; /* 120 BPM, 4/4 */
    rnn_display *d = rnn_display_create(rate);
    assert_non_null(d);
    const uint64_t now = 10 * 96000 + 1234;
    const note notes[] = {
        {RNN_DISPLAY_PLAYER, 60, now - 300000, now - 250000},
        {RNN_DISPLAY_PLAYER, 64, now - 250000, now - 200000},
        {RNN_DISPLAY_PLAYER, 67, now - 200000, now - 150000},
        {RNN_DISPLAY_NET, 72, now - 120000, now - 90000},
        {RNN_DISPLAY_NET, 55, now - 80000, now - 30000},
        {RNN_DISPLAY_NET, 62, now - 20000, 0},                /* sounding: to the right edge */
        {RNN_DISPLAY_PLAYER, 90, now - 900000, now - 800000}, /* long gone */
    };
    const int n_notes = (int)(sizeof notes / sizeof notes[0]);
    for (int i = 0; i < n_notes; i++) {
        on_off(d, notes[i].who, notes[i].on, notes[i].pitch, 1);
        if (notes[i].off) on_off(d, notes[i].who, notes[i].off, notes[i].pitch, 0);
    }
    rnn_display_set(d, now, fpb, 4, 0, RNN_MODE_CALL_RESPONSE, "my model");

    const int w = 300, h = 150;
    const LV2_Inline_Display_Image_Surface *img = rnn_display_render(d, w, 1000);
    assert_non_null(img);
    assert_int_equal(img->width, w);
    assert_int_equal(img->height, h);
    assert_true(img->stride >= 4 * w);
    int scale = 2, top = RNN_DISPLAY_HEADER(scale);
    /* in view 55..72: 18 pitches, widened about 63 to 24: 51..74 */
    int lo = 51, hi = 74;
    double window = RNN_DISPLAY_BARS * fpb;
    long expect[2] = {0, 0};
    for (int i = 0; i < n_notes - 1; i++) {
        const note *nt = &notes[i];
        int x0 = col_of(nt->on, now, window, w), x1 = nt->off ? col_of(nt->off, now, window, w) : w;
        int y0 = row_of(nt->pitch, lo, hi, top, h), y1 = row_of(nt->pitch - 1, lo, hi, top, h);
        uint32_t rgb = nt->who == RNN_DISPLAY_PLAYER ? RNN_DISPLAY_PLAYER_RGB : RNN_DISPLAY_NET_RGB;
        assert_true(x1 - x0 >= 3 && y1 - y0 >= 3);
        /* the whole box, and its centre, in the note's colour */
        assert_int_equal(count_colour(img, x0, y0, x1, y1, rgb), (long)(x1 - x0) * (y1 - y0));
        assert_int_equal(px_at(img, (x0 + x1) / 2, (y0 + y1) / 2), rgb);
        /* nothing of it outside: the rows above and below are not in it */
        if (y0 - 1 >= top) assert_int_equal(count_colour(img, x0, y0 - 1, x1, y0, rgb), 0);
        if (y1 < h) assert_int_equal(count_colour(img, x0, y1, x1, y1 + 1, rgb), 0);
        expect[nt->who] += (long)(x1 - x0) * (y1 - y0);
    }
    /* and no note colour anywhere else (the boxes do not overlap) */
    assert_int_equal(count_colour(img, 0, 0, w, h, RNN_DISPLAY_PLAYER_RGB), expect[0]);
    assert_int_equal(count_colour(img, 0, 0, w, h, RNN_DISPLAY_NET_RGB), expect[1]);
    /* bar lines at frames 96000 k in the roll, where no note covers them */
    int xb = col_of(9 * 96000, now, window, w);
    assert_int_equal(px_at(img, xb, h - 1), RNN_DISPLAY_BAR_RGB);
    assert_int_equal(px_at(img, xb + 1, h - 1), RNN_DISPLAY_BG_RGB);

    /* the header: the mode, then the name, each in its colour */
    long mode_px = count_colour(img, 0, 0, w, top, RNN_DISPLAY_MODE_RGB);
    long name_px = count_colour(img, 0, 0, w, top, RNN_DISPLAY_NAME_RGB);
    assert_true(mode_px > 20 && name_px > 20);
    assert_int_equal(count_colour(img, 0, top, w, h, RNN_DISPLAY_MODE_RGB), 0);
    uint32_t *before = malloc((size_t)img->stride * (size_t)h);
    assert_non_null(before);
    memcpy(before, img->data, (size_t)img->stride * (size_t)h);

    /* another mode: the mode's pixels change, the name's do not move off
     * their colour count only by the mode's shift; another name: the name's */
    rnn_display_set(d, now, fpb, 4, 0, RNN_MODE_ACCOMPANY, "my model");
    img = rnn_display_render(d, w, 1000);
    long mode2 = count_colour(img, 0, 0, w, top, RNN_DISPLAY_MODE_RGB);
    assert_true(mode2 > 20 && mode2 != mode_px);
    assert_int_equal(count_colour(img, 0, 0, w, top, RNN_DISPLAY_NAME_RGB), name_px);
    rnn_display_set(d, now, fpb, 4, 0, RNN_MODE_CALL_RESPONSE, "another, longer model name");
    img = rnn_display_render(d, w, 1000);
    assert_int_equal(count_colour(img, 0, 0, w, top, RNN_DISPLAY_MODE_RGB), mode_px);
    assert_true(count_colour(img, 0, 0, w, top, RNN_DISPLAY_NAME_RGB) > name_px);
    /* back as it was: the very same pixels */
    rnn_display_set(d, now, fpb, 4, 0, RNN_MODE_CALL_RESPONSE, "my model");
    img = rnn_display_render(d, w, 1000);
    assert_memory_equal(img->data, before, (size_t)img->stride * (size_t)h);
    free(before);

    /* small: no header below 8 rows of roll, the notes still there */
    img = rnn_display_render(d, 40, 12);
    assert_int_equal(img->height, 12);
    assert_int_equal(count_colour(img, 0, 0, 40, 12, RNN_DISPLAY_MODE_RGB), 0);
    assert_true(count_colour(img, 0, 0, 40, 12, RNN_DISPLAY_NET_RGB) > 0);
    rnn_display_free(d);
}

static void test_render_sizes(void **state)
{
    (void)state;
    rnn_display *d = rnn_display_create(44100);
    assert_non_null(d);
    assert_null(rnn_display_render(d, 0, 100));
    assert_null(rnn_display_render(d, 100, 0));
    assert_null(rnn_display_render(NULL, 100, 100));
    for (int i = 0; i < 200; i++)
        on_off(d, i & 1, (uint64_t)i * 1000, i % 128, 1);
    rnn_display_set(d, 300000, 1.0, 64, -5, 7, "x"); /* a bar of 1 frame, an unknown mode */
    const uint32_t ws[] = {1, 2, 3, 7, 31, 64, 199, 1000, 2048, 2049, 100000, UINT32_MAX};
    const uint32_t hs[] = {1, 2, 3, 5, 8, 13, 21, 97, 1000, 5000, UINT32_MAX};
    for (size_t a = 0; a < sizeof ws / sizeof ws[0]; a++) {
        for (size_t b = 0; b < sizeof hs / sizeof hs[0]; b++) {
            const LV2_Inline_Display_Image_Surface *img = rnn_display_render(d, ws[a], hs[b]);
            assert_non_null(img);
            assert_true(img->width >= 1 && (uint32_t)img->width <= ws[a]);
            assert_true(img->width <= RNN_DISPLAY_MAX_W);
            assert_true(img->height >= 1 && (uint32_t)img->height <= hs[b]);
            assert_true(img->height <= RNN_DISPLAY_MAX_H);
            assert_true(img->height <= img->width / 2 || img->height == 1);
            assert_true(img->stride >= 4 * img->width);
            /* every pixel is there and opaque (ASan sees a short buffer) */
            long clear = 0;
            for (int y = 0; y < img->height; y++)
                for (int x = 0; x < img->width; x++)
                    clear += (px_at(img, x, y) >> 24) != 0xff;
            assert_int_equal(clear, 0);
        }
    }
    rnn_display_set(d, 300000, 1e300, 0, INT64_MIN, 0, NULL); /* absurd: replaced */
    assert_non_null(rnn_display_render(d, 77, 33));
    rnn_display_free(d);
    rnn_display_free(NULL);
}

/* Draw requests through rnn_display_follow with a real engine: at most
 * RNN_DISPLAY_DRAW_HZ a second while notes are in view, one for a change
 * of mode, none once everything has scrolled out. */
static void test_draw_requests(void **state)
{
    (void)state;
    const double rate = 48000;
    char err[256];
    rnn_engine *e = rnn_engine_create(rate, 256, err, sizeof err);
    assert_non_null(e);
    rnn_display *d = rnn_display_create(rate);
    assert_non_null(d);
    uint64_t now = 0;
    int asks = 0;
    asks += rnn_display_follow(d, now, e); /* the first publication */
    assert_int_equal(asks, 1);
    /* 20 s of 256-frame blocks, a note every second for the first 10 s */
    int during = 0, after = 0;
    for (int b = 0; b < (int)(20 * rate / 256); b++) {
        if (now < 10 * rate && now % 48000 < 256) {
            on_off(d, RNN_DISPLAY_PLAYER, now, 60, 1);
            on_off(d, RNN_DISPLAY_PLAYER, now + 100, 60, 0);
        }
        now += 256;
        int a = rnn_display_follow(d, now, e);
        if (now < 10 * rate)
            during += a;
        else if (now > 10 * rate + RNN_DISPLAY_BARS * 96000 + 256)
            after += a;
    }
    print_message("draw requests: %d in the first 10 s, %d once still\n", during, after);
    assert_true(during >= 10 * RNN_DISPLAY_DRAW_HZ - 2 && during <= 10 * RNN_DISPLAY_DRAW_HZ + 1);
    assert_int_equal(after, 0);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
    assert_int_equal(rnn_display_follow(d, now + 256, e), 1);
    assert_int_equal(rnn_display_follow(d, now + 512 + (uint64_t)rate, e), 0);
    /* the roll follows the engine's tempo when free-running */
    rnn_display_snapshot *s = malloc(sizeof *s);
    assert_non_null(s);
    rnn_engine_set_param(e, RNN_PARAM_TEMPO, 90);
    rnn_display_follow(d, now + 1024 + (uint64_t)rate, e);
    assert_int_equal(rnn_display_read(d, s), 1);
    assert_int_equal(s->frames_per_bar, 128000);
    assert_int_equal(s->mode, RNN_MODE_CONTINUE);
    assert_string_equal(s->name, "no model");
    free(s);
    rnn_display_free(d);
    rnn_engine_free(e);
}

/* Render time of a busy display, for the record. */
static void test_render_time(void **state)
{
    (void)state;
    rnn_display *d = rnn_display_create(48000);
    assert_non_null(d);
    for (int i = 0; i < 2 * RNN_DISPLAY_SPANS; i++) {
        on_off(d, i & 1, (uint64_t)i * 700, 40 + i % 40, 1);
        on_off(d, i & 1, (uint64_t)i * 700 + 500, 40 + i % 40, 0);
    }
    rnn_display_set(d, 2 * RNN_DISPLAY_SPANS * 700, 96000, 4, 0, 2, "melody lstm");
    const uint32_t sizes[][2] = {{160, 80}, {300, 150}, {1000, 500}};
    for (int k = 0; k < 3; k++) {
        struct timespec a, b;
        int reps = 200;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int r = 0; r < reps; r++)
            assert_non_null(rnn_display_render(d, sizes[k][0], sizes[k][1]));
        clock_gettime(CLOCK_MONOTONIC, &b);
        double us =
            ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / reps / 1e3;
        print_message("render %ux%u: %.1f us a frame\n", sizes[k][0], sizes[k][1], us);
    }
    rnn_display_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshots_are_whole),
        cmocka_unit_test(test_notes_where_the_layout_says),
        cmocka_unit_test(test_render_sizes),
        cmocka_unit_test(test_draw_requests),
        cmocka_unit_test(test_render_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
