/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the attention picture of a generated passage, as PNG.
 *
 * Two panels share the time axis, one column of cell pixels a step: on
 * top the passage's piano roll (melody notes on their pitch rows, the
 * lowest note at the bottom, C rows marked; drums on one lane per class),
 * and under it what each step attended to: in column t, row L (L = 1..n
 * from the top) is the weight the net gave, when it drew step t, to its
 * output of L steps before (the one step t - L was drawn from), brighter
 * for more, scaled to the largest weight of the picture. Bar lines cross
 * both panels, beat lines are fainter, and a faint line marks the lags of
 * whole bars in the lower panel (a net that looks one bar back lights up
 * along it).
 *
 * Main thread: allocates and writes a file. */
#ifndef RNNMIDI_ATTNPLOT_H
#define RNNMIDI_ATTNPLOT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/encoding.h"

typedef struct {
    rnn_kind kind;
    const int32_t *events; /* (T) the passage's events, as the encoding has them */
    size_t T;
    const float *weights; /* (T, n): row t as rnn_net_attn_weights gave it before step t's
                             draw (entry n-1-j: lag j+1) */
    int n;                /* attention window, 1..1024 */
    int steps_per_beat;   /* >= 1 */
    int steps_per_bar;    /* >= 1; bar lines at every multiple from step 0 */
} rnn_attn_picture;

/* Where things are in the picture, in pixels. */
typedef struct {
    int w, h;     /* the image */
    int left;     /* x of step 0's column */
    int cell;     /* width of a step's column */
    int roll_top; /* first row of the piano roll */
    int roll_h;   /* its height */
    int heat_top; /* first row of the lower panel: lag 1's row */
    int row;      /* height of a lag's row */
} rnn_attn_geometry;

/** Draw the picture into a new malloc'd RGB image (3 bytes a pixel, rows
 * top to bottom) and fill *g. NULL for no memory or a description out of
 * range. */
unsigned char *rnn_attn_picture_raster(const rnn_attn_picture *p, rnn_attn_geometry *g);

/** Draw and write it to path as PNG (core/png). Returns 0, or -1 with a
 * message naming the file. */
int rnn_attn_picture_png(const char *path, const rnn_attn_picture *p, char *err, size_t errlen);

#endif
