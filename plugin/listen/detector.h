/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: mono audio in, monophonic notes out.
 *
 * One module shared by the LV2 plugin's audio input, the demo's microphone
 * and `rnnmidi-listen`. The signal analysis is in this folder and needs
 * only libm, one call each per hop: a spectral-flux onset detector (onset.h,
 * over the real FFT of fft.h) and the YIN pitch tracker (yin.h) on the
 * signal lowpassed and decimated by 2, both the methods of aubio 0.4.9's
 * "specflux" onset and "yin" pitch. On top of it a small segmenter turns
 * hops into notes: an onset followed by a stable, confident pitch (median of
 * the hops after the onset) starts a note; silence, a long unvoiced stretch,
 * a held change of pitch, or a new onset with a new pitch (or, on the same
 * pitch, with a level valley: a re-articulated note) ends it. Pitches are
 * quantised to MIDI with a little hysteresis against vibrato.
 *
 * Threads: create/free on the main or worker thread (they allocate the
 * analysis buffers; a new sample rate means a new detector, built off the
 * audio thread and swapped in). reset, process and the parameter setters are
 * audio-safe: no allocation, no lock, no I/O, bounded time per hop (reset
 * runs no hop: it clears a few kilobytes of buffers).
 *
 * Timing: input is buffered into hops (256 frames at 44.1/48 kHz), so any
 * block size works, including 0. An event is emitted in the block where the
 * hop that decided it ends, typically 20-30 ms after the sound began; `age`
 * says how many frames before `frame` the detector estimates the sound
 * itself began (note-on) or ended (note-off). */
#ifndef RNNMIDI_LISTEN_DETECTOR_H
#define RNNMIDI_LISTEN_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct rnn_detector rnn_detector;

/* The aubio methods reproduced (onset.h, yin.h), named for the tests that
 * compare them with aubio's. */
#define RNN_DETECTOR_ONSET_METHOD "specflux"
#define RNN_DETECTOR_PITCH_METHOD "yin"

#define RNN_DETECTOR_MIN_RATE 8000.0
#define RNN_DETECTOR_MAX_RATE 192000.0

typedef struct {
    uint32_t frame;   /* offset inside the block passed to process, < frames */
    uint32_t age;     /* frames from the estimated sound onset/release to frame */
    uint8_t on;       /* 1 = note-on, 0 = note-off */
    uint8_t pitch;    /* MIDI 0..127 */
    uint8_t velocity; /* note-on: 1..127 from the attack level; note-off: 0 */
} rnn_detected_note_event;

/* Thresholds. Out-of-range values are clamped by rnn_detector_set_params. */
typedef struct {
    float onset_threshold; /* onset peak-picking threshold, 0.01..2 */
    float gate_db;         /* level (dBFS RMS per hop) below which all is silence, -90..-10 */
    float min_confidence;  /* yin confidence (1 - dip) for a voiced hop, 0..1 */
    float min_note_ms;     /* pitch must hold this long after an onset, 0..100 */
    float release_ms;      /* unvoiced time that ends a note, 5..500 */
    float retrigger_db;    /* level valley (fall and rise) that makes an onset on the
                              sounding pitch a new note rather than a flutter, 0..40 */
    int median_hops;       /* median smoothing length, 1..9 (odd) */
    int min_pitch;         /* notes outside [min_pitch, max_pitch] are ignored */
    int max_pitch;
} rnn_detector_params;

/** The MIDI message of a detected event on channel 0..15 (note-on 0x9n
 * with its velocity, note-off 0x8n with velocity 0), for hosts that feed
 * detected notes to the engine as MIDI input. Any thread. */
void rnn_detected_to_midi(const rnn_detected_note_event *e, int channel, uint8_t msg[3]);

/** The default thresholds. Any thread. */
void rnn_detector_default_params(rnn_detector_params *p);

/** A detector for mono audio at sample_rate (8 kHz .. 192 kHz). max_block is
 * the largest block the host will pass (it sizes nothing: blocks of any size
 * are buffered; it only checks the argument and feeds rnn_detector_max_events).
 * Returns NULL with a message in err on a bad argument or failed allocation.
 * Main/worker thread; allocates. Free with rnn_detector_free. */
rnn_detector *rnn_detector_create(double sample_rate, int max_block, char *err, size_t errlen);

/** Release a detector; accepts NULL. Main/worker thread. */
void rnn_detector_free(rnn_detector *d);

/** Forget all state (no note sounding, analysis buffers cleared: the state
 * of a new detector) and emit nothing: a caller that had a note from this
 * detector sounding ends it itself. No allocation or lock and no analysis:
 * it clears the onset and pitch windows (under 40 kB at 192 kHz), which
 * costs less than one hop; a host may still reset a second detector off the
 * audio thread and swap (as the LV2 plugin does). Any thread, when not
 * running concurrently with another call on d. */
void rnn_detector_reset(rnn_detector *d);

/** Set the thresholds (clamped into range); takes effect at the next hop.
 * Audio thread, or any thread while process is not running. */
void rnn_detector_set_params(rnn_detector *d, const rnn_detector_params *p);

/** The thresholds in use. Any thread not racing a set. */
void rnn_detector_get_params(const rnn_detector *d, rnn_detector_params *p);

/** Analyse frames samples of in (NaN, Inf and values beyond +-2 are
 * sanitised; a NULL in is a no-op) and write at most max_out
 * events to out in time order. Returns the number written. An event that
 * does not fit is not lost when it is a note-off (it comes first in the next
 * call, at frame 0); a note-on that does not fit is dropped and counted.
 * Audio thread; no allocation, no locks. */
int rnn_detector_process(rnn_detector *d, const float *in, uint32_t frames,
                         rnn_detected_note_event *out, int max_out);

/** Events process can produce for a block of frames frames: size out with
 * it and nothing is ever dropped. Any thread. */
int rnn_detector_max_events(const rnn_detector *d, uint32_t frames);

/** The pitch whose note-on this detector has emitted and whose note-off it
 * has not (yet: a deferred one counts as not emitted), -1 when none: what a
 * host must end itself when it stops listening. Audio thread. */
int rnn_detector_current_pitch(const rnn_detector *d);

/** Hop, onset window and pitch window in input frames, the factor by which
 * the pitch tracker's input is decimated (after a lowpass at rate / 8), and
 * the sample rate. Any thread. */
uint32_t rnn_detector_hop_size(const rnn_detector *d);
uint32_t rnn_detector_onset_window(const rnn_detector *d);
uint32_t rnn_detector_pitch_window(const rnn_detector *d);
uint32_t rnn_detector_pitch_decimation(const rnn_detector *d);
double rnn_detector_sample_rate(const rnn_detector *d);

/** Counters since create or the last reset: non-finite input samples
 * replaced by 0, note-ons dropped for lack of room in out. Audio thread
 * writes them; read them from the thread that calls process. */
uint64_t rnn_detector_nonfinite_samples(const rnn_detector *d);
uint64_t rnn_detector_dropped_events(const rnn_detector *d);

#endif
