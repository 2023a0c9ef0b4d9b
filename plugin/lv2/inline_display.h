/* SPDX-License-Identifier: MIT */
/* Ardour's inline display extension (the small view a host shows in its
 * mixer strip), as Ardour's libs/ardour/ardour/lv2_extensions.h defines it:
 * the URIs and the three structs, whose layout is the ABI a host expects.
 *
 * The host offers the queue_draw feature; the plugin calls it from run() to
 * ask for a redraw, and the host later calls render() from its GUI thread.
 * render() returns ARGB32 pixels (Cairo's format: one native-endian 32-bit
 * word per pixel, alpha in the top byte, colours premultiplied) that the
 * plugin owns and keeps valid until the next render() or cleanup. */
#ifndef RNNMIDI_LV2_INLINE_DISPLAY_H
#define RNNMIDI_LV2_INLINE_DISPLAY_H

#include <stdint.h>

#include <lv2/core/lv2.h>

#define LV2_INLINEDISPLAY_URI "http://harrisonconsoles.com/lv2/inlinedisplay"
#define LV2_INLINEDISPLAY_PREFIX LV2_INLINEDISPLAY_URI "#"
#define LV2_INLINEDISPLAY__interface LV2_INLINEDISPLAY_PREFIX "interface"
#define LV2_INLINEDISPLAY__queue_draw LV2_INLINEDISPLAY_PREFIX "queue_draw"

typedef void *LV2_Inline_Display_Handle;

/** The image render() hands back: data is width x height pixels, rows
 * stride bytes apart. */
typedef struct {
    unsigned char *data;
    int width;
    int height;
    int stride;
} LV2_Inline_Display_Image_Surface;

/** The host's feature: queue_draw(handle) asks for a render() later. Safe to
 * call from run(). */
typedef struct {
    LV2_Inline_Display_Handle handle;
    void (*queue_draw)(LV2_Inline_Display_Handle handle);
} LV2_Inline_Display;

/** The plugin's extension data: render(instance, w, max_h), called off the
 * audio thread, returns an image at most w wide and max_h high, or NULL. */
typedef struct {
    LV2_Inline_Display_Image_Surface *(*render)(LV2_Handle instance, uint32_t w, uint32_t max_h);
} LV2_Inline_Display_Interface;

#endif
