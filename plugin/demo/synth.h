/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: a small stereo synth so the engine's MIDI sounds like music.
 *
 * Three timbres, chosen per MIDI channel: a lead (two detuned band-limited
 * saws through an enveloped resonant low-pass, with a stereo echo), soft keys
 * (two-operator FM) and synthesised drums on channel 10 (GM drum pitches:
 * kick, snare, rim, clap, hi-hats, toms, crash, ride). The output passes a
 * peak limiter whose ceiling is DEMO_SYNTH_CEILING, so it never clips.
 *
 * demo_synth_create/free allocate (main thread). Everything else is audio
 * thread safe: no allocation, no locks, no I/O. Output is a pure function of
 * the sample rate, the seed and the MIDI fed in, so renders repeat exactly. */
#ifndef RNNMIDI_DEMO_SYNTH_H
#define RNNMIDI_DEMO_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#define DEMO_SYNTH_VOICES 24      /* melodic voices (lead + keys share them) */
#define DEMO_SYNTH_DRUM_VOICES 16 /* simultaneous drum hits */
#define DEMO_SYNTH_CEILING 0.85f  /* limiter ceiling: -1.41 dBFS */

typedef enum {
    DEMO_TIMBRE_LEAD = 0,
    DEMO_TIMBRE_KEYS = 1,
    DEMO_TIMBRE_DRUMS = 2,
    DEMO_TIMBRE_MUTE = 3
} demo_timbre;

typedef struct demo_synth demo_synth;

/** A synth at sample_rate (8000..384000 Hz); the seed drives the noise of
 * the drums. Channel 10 (index 9) plays drums, every other channel the lead.
 * NULL when out of memory or for a bad rate. Main thread. */
demo_synth *demo_synth_create(double sample_rate, uint64_t seed);

/** Release; accepts NULL. Main thread. */
void demo_synth_free(demo_synth *s);

/** Choose the timbre of a MIDI channel (0..15). Audio or main thread (not
 * both at once). */
void demo_synth_set_timbre(demo_synth *s, int channel, demo_timbre timbre);

/** Feed one MIDI message (note on/off, CC 120/123 all sound/notes off;
 * other messages are ignored). Audio thread. */
void demo_synth_midi(demo_synth *s, const uint8_t *msg, size_t len);

/** Release every note (CC 123 on all channels), letting tails ring. Audio thread. */
void demo_synth_all_notes_off(demo_synth *s);

/** Render frames of interleaved stereo float into out (2 * frames floats),
 * overwriting it. Audio thread. */
void demo_synth_render(demo_synth *s, float *out, size_t frames);

/** demo_synth_render with a mono signal in (frames samples, may be NULL)
 * mixed in at gain before the limiter. Audio thread. */
void demo_synth_render_mix(demo_synth *s, float *out, size_t frames, const float *in, float gain);

/** Number of voices (melodic + drum) sounding now. Any thread (a snapshot). */
int demo_synth_active_voices(const demo_synth *s);

#endif
