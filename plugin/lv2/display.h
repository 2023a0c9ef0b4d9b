/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: the inline display, a small scrolling piano roll of the last
 * bars (the player's notes and the network's in two colours) under a line
 * naming the mode and the model.
 *
 * Threads. One writer, the audio thread (or instantiate/activate while no
 * run() can be going on), records notes and the clock; any number of
 * readers (the host's GUI thread calling render()) take snapshots. The two
 * share a fixed ring of note spans under a sequence count (a seqlock): the
 * writer makes the count odd, stores, makes it even; a reader copies
 * everything and keeps the copy only when the count was even and unchanged
 * around it, else tries again, a bounded number of times, and never waits
 * for the writer. Every shared word is an atomic, so a copy racing a write
 * is a stale or torn copy (thrown away), never undefined behaviour. The
 * writer never allocates, locks or blocks.
 *
 * Layout of a rendered image w x h (h = min(max_h, max(1, w / 2))):
 * - the header, the top RNN_DISPLAY_HEADER(scale) rows when h leaves at
 *   least 8 rows below it (scale = 1, 2 from h >= 96): the mode at the left
 *   in RNN_DISPLAY_MODE_RGB, the model's name after it in RNN_DISPLAY_NAME_RGB;
 * - the roll below, rows top..h-1: time (the plugin's count of frames run,
 *   which goes on while the host's transport stands) runs left to right over
 *   the last RNN_DISPLAY_BARS bars, the right edge being `now`: a frame t is at
 *   x = floor((t - (now - window)) * w / window). Pitches lo..hi (the lowest
 *   and highest pitch of the spans in view, widened about their middle to at
 *   least RNN_DISPLAY_MIN_PITCHES and kept inside 0..127; 48..71 when none),
 *   highest at the top: pitch p covers rows
 *   top + (hi - p) * (h - top) / n .. top + (hi - p + 1) * (h - top) / n - 1
 *   (at least one row), n = hi - lo + 1. A span covers its columns from
 *   its start to its end (now while it sounds), at least one. The player's
 *   spans are drawn first, the network's over them. */
#ifndef RNNMIDI_LV2_DISPLAY_H
#define RNNMIDI_LV2_DISPLAY_H

#include <stdint.h>

#include "../../core/engine.h"
#include "inline_display.h"

#define RNN_DISPLAY_SPANS 512 /* spans kept, the newest */
#define RNN_DISPLAY_NAME 48   /* bytes of the model's name kept, NUL included */
#define RNN_DISPLAY_BARS 4    /* bars in view */
#define RNN_DISPLAY_MIN_PITCHES 24
#define RNN_DISPLAY_MAX_W 2048 /* wider requests get an image this wide */
#define RNN_DISPLAY_MAX_H 1024
#define RNN_DISPLAY_HEADER(scale) (7 * (scale))
#define RNN_DISPLAY_DRAW_HZ 8 /* queue_draw requests per second, at most */

/* Colours, 0xAARRGGBB, all opaque. */
#define RNN_DISPLAY_BG_RGB 0xff16161cu
#define RNN_DISPLAY_BAR_RGB 0xff3c3c48u    /* bar lines */
#define RNN_DISPLAY_BEAT_RGB 0xff24242cu   /* beat lines */
#define RNN_DISPLAY_PLAYER_RGB 0xff4fc3f7u /* the player's notes */
#define RNN_DISPLAY_NET_RGB 0xffffa726u    /* the network's notes */
#define RNN_DISPLAY_MODE_RGB 0xff9e9eaau
#define RNN_DISPLAY_NAME_RGB 0xffe8e8e8u

enum { RNN_DISPLAY_PLAYER = 0, RNN_DISPLAY_NET = 1 };

#define RNN_DISPLAY_OPEN UINT64_MAX /* the end of a span still sounding */

typedef struct rnn_display rnn_display;

typedef struct {
    uint64_t start, end; /* frames since instantiate; end RNN_DISPLAY_OPEN while sounding */
    uint8_t pitch, who;
} rnn_display_span;

/** A consistent copy of what the writer published. */
typedef struct {
    uint64_t now;            /* frames since instantiate, at the end of the last block */
    uint64_t frames_per_bar; /* > 0 */
    uint64_t beats_per_bar;  /* > 0 */
    int64_t bar_origin;      /* a frame where a bar begins */
    uint32_t mode;           /* rnn_engine_mode */
    uint64_t total;          /* spans ever started; the newest min(total, SPANS) are kept */
    uint32_t n;              /* spans in span[], oldest first */
    rnn_display_span span[RNN_DISPLAY_SPANS];
    char name[RNN_DISPLAY_NAME];
} rnn_display_snapshot;

/** Create a display for a sample rate (the clock before any transport is
 * 120 BPM in 4/4). NULL when out of memory. Main thread. */
rnn_display *rnn_display_create(double rate);

/** Release it and render()'s image; accepts NULL. Main thread. */
void rnn_display_free(rnn_display *d);

/** One MIDI message heard or played at frame `at`: a note-on starts a span
 * of `who` (one per pitch: a second note-on ends the first), a note-off ends
 * it, an all-notes-off (CC 120, 123) ends all of who's. Writer. */
void rnn_display_midi(rnn_display *d, int who, uint64_t at, const uint8_t *msg, uint32_t size);

/** End every span still sounding, of both kinds, at `at`. Writer. */
void rnn_display_all_off(rnn_display *d, uint64_t at);

/** The host's transport at frame `at` (tempo, meter, bar and beat when it
 * says them). Writer. */
void rnn_display_transport(rnn_display *d, uint64_t at, const rnn_transport *t);

/** Publish the clock, the grid and the header: now, the bar length in frames
 * and beats, a frame where a bar begins, the mode, the name (copied, cut to
 * RNN_DISPLAY_NAME - 1 bytes; written only when it changed). Writer. */
void rnn_display_set(rnn_display *d, uint64_t now, double frames_per_bar, uint32_t beats_per_bar,
                     int64_t bar_origin, uint32_t mode, const char *name);

/** The plugin's end of a block: publish now, the engine's mode and model
 * name, and the grid (the host's when the engine follows it, else the
 * engine's free-run tempo in 4/4). Returns 1 when the host should be asked
 * to draw: something in view changed or scrolls, and the last request is at
 * least 1 / RNN_DISPLAY_DRAW_HZ s old. Writer; no allocation. */
int rnn_display_follow(rnn_display *d, uint64_t now, const rnn_engine *e);

/** Copy a consistent snapshot; 0 when every try met a write going on (out
 * then holds nothing usable). Any thread; never waits for the writer. */
int rnn_display_read(const rnn_display *d, rnn_display_snapshot *out);

/** Draw into pixels (w x h, stride bytes a row, ARGB32) from a snapshot, as
 * the layout above says. Any thread. */
void rnn_display_draw(const rnn_display_snapshot *s, uint32_t *pixels, int w, int h, int stride);

/** LV2 inline display render(): an image at most w x max_h (see the
 * layout; w beyond RNN_DISPLAY_MAX_W gets that width), owned by the display
 * and valid until the next call or rnn_display_free; NULL when w or max_h is
 * 0 or memory ran out. When no consistent snapshot could be taken it draws
 * the last one it took. The host's GUI thread; one caller at a time. */
LV2_Inline_Display_Image_Surface *rnn_display_render(rnn_display *d, uint32_t w, uint32_t max_h);

#endif
