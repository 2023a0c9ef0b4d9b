/* SPDX-License-Identifier: MIT */
/* rnnmidi core: reading and writing Standard MIDI Files.
 *
 * The reader takes formats 0 and 1 with any ticks-per-quarter division and
 * turns them into a note list (times in ticks) plus the tempo map, the
 * meter map (every time signature), the first time signature and the first
 * key signature. It never trusts the file:
 * every error names the file and the byte offset. It allocates little more
 * than what it returns (a first pass counts the notes, so the arrays have
 * their exact size; merging the tracks takes a sixteenth more), hence at most
 * 12 bytes per byte of file (3 bytes can hold a note of 32), and it takes
 * O(n log n) time for n notes and tempo changes.
 *
 * What it tolerates (each counted as a warning, the first one kept in text):
 * - running status carried across meta and SysEx events (the standard says
 *   they cancel it; real files rely on it);
 * - a data byte >= 0x80 where a data byte belongs: it is taken as data and
 *   clamped to 127 (files with velocity 0xCC exist);
 * - a missing end-of-track event, and bytes after it;
 * - a key-signature mode byte other than 0 or 1, meta events of odd length;
 * - note-offs with no sounding note (ignored), notes still sounding at the end
 *   of their track (ended at the track's last tick);
 * - more track chunks than the header claims (the extra ones are ignored),
 *   unknown chunk types (skipped);
 * - a second file glued after the first one (a second "MThd"): only the first
 *   file is read, as midicsv does.
 *
 * What it rejects: format 2, SMPTE divisions, division 0, fewer track chunks
 * than the header claims, a chunk or event running past its end, a
 * delta-time or length of more than 4 bytes, running status with no earlier
 * status, status bytes 0xF1..0xFE inside a track.
 *
 * Note pairing: a note-off (or note-on with velocity 0) ends the earliest
 * sounding note of the same pitch and channel in the same track (first in,
 * first out), so overlapping notes of one pitch keep both their onsets.
 *
 * Main or worker thread; nothing here prints. */
#ifndef RNNMIDI_MIDIFILE_H
#define RNNMIDI_MIDIFILE_H

#include <stddef.h>
#include <stdint.h>

#include "encoding.h"

#define RNN_MIDI_MAX_FILE_BYTES ((size_t)64 << 20) /* rnn_midi_read_path refuses larger files */
#define RNN_MIDI_DEFAULT_TEMPO 500000              /* microseconds per quarter (120 bpm) */

typedef struct {
    int64_t tick;
    int32_t usec_per_quarter;
} rnn_midi_tempo;

/* A time signature: num beats of 1/den notes from tick on. */
typedef struct {
    int64_t tick;
    int32_t num; /* 1..255 */
    int32_t den; /* a power of two, 1..128 */
} rnn_midi_meter;

typedef struct {
    int format;   /* 0 or 1 */
    int n_tracks; /* track chunks read; notes count tracks from 1 */
    int ppq;      /* ticks per quarter note */

    rnn_note *notes; /* sorted by on, track, channel, pitch, off, velocity */
    size_t n_notes;

    rnn_midi_tempo *tempos; /* sorted by tick; none = 120 bpm throughout */
    size_t n_tempos;

    /* Sorted by tick, one per tick (of several at one tick, in any tracks,
     * the last in file order holds); none = 4/4 throughout. A time
     * signature with numerator 0 or a denominator above 2^7 is no meter
     * and is left out. */
    rnn_midi_meter *meters;
    size_t n_meters;

    int ts_num, ts_den;        /* first time signature read; 4/4 when there is none */
    int key_sharps, key_minor; /* first key signature; key_minor -1 when none */
    int64_t end_tick;          /* the latest end-of-track tick */
    size_t bytes_read;         /* bytes of the buffer that belong to the file */
    size_t warnings;           /* tolerated problems */
    char warning[256];         /* the first of them, with file name and offset */
} rnn_midi_file;

/* Called once per warning, with a message naming the file and offset. */
typedef void (*rnn_midi_warn_fn)(void *user, const char *message);

/** Parse a Standard MIDI File held in memory. name is used in messages.
 * On success returns 0 and fills *out (release with rnn_midi_free). On
 * failure returns -1, leaves *out zeroed, and writes "name: offset N: what"
 * to err. Main/worker thread. */
int rnn_midi_read(const void *data, size_t size, const char *name, rnn_midi_file *out, char *err,
                  size_t errlen);

/** rnn_midi_read, calling warn(user, message) for each tolerated problem. */
int rnn_midi_read_cb(const void *data, size_t size, const char *name, rnn_midi_warn_fn warn,
                     void *user, rnn_midi_file *out, char *err, size_t errlen);

/** Read a whole regular file into memory (at most RNN_MIDI_MAX_FILE_BYTES):
 * a FIFO, device, folder or symlink loop is refused at once (core/file.h).
 * Returns a malloc'ed buffer (free it) and its size, or NULL with a message. */
unsigned char *rnn_midi_slurp(const char *path, size_t *size, char *err, size_t errlen);

/** rnn_midi_slurp then rnn_midi_read_cb (warn may be NULL). */
int rnn_midi_read_path(const char *path, rnn_midi_warn_fn warn, void *user, rnn_midi_file *out,
                       char *err, size_t errlen);

/** Release what a read allocated and zero *f; accepts NULL. */
void rnn_midi_free(rnn_midi_file *f);

/** Serialise notes (ticks at ppq) as a format-1 file into a malloc'ed buffer:
 * track 1 holds the tempo (bpm) and a 4/4 time signature (the meters given
 * instead by rnn_midi_write_mem_meters), then one track per
 * (track, channel) pair of the notes in ascending order. Note-offs are note-off
 * messages with velocity 64. At one tick, note-offs come before note-ons, except
 * for zero-length notes, so the reader pairs every note back as written (notes
 * of one pitch nested inside another of the same pitch cannot be represented
 * and come back first in, first out). Returns the buffer, or NULL with a
 * message (bad pitch, channel, velocity, times, ppq or bpm). */
unsigned char *rnn_midi_write_mem(const rnn_note *notes, size_t n, int ppq, double bpm,
                                  size_t *size, char *err, size_t errlen);

/** rnn_midi_write_mem writing the given meters (ticks strictly ascending,
 * numerators 1..255, denominators powers of two 1..128) into track 1; none
 * (meters NULL or n_meters 0) writes 4/4 at tick 0. Returns NULL with a
 * message for a meter it cannot write. */
unsigned char *rnn_midi_write_mem_meters(const rnn_note *notes, size_t n, int ppq, double bpm,
                                         const rnn_midi_meter *meters, size_t n_meters,
                                         size_t *size, char *err, size_t errlen);

/** rnn_midi_write_mem to path, through a temporary file in the same folder
 * renamed over path, so a reader never sees half a file. Returns 0 or -1. */
int rnn_midi_write_path(const char *path, const rnn_note *notes, size_t n, int ppq, double bpm,
                        char *err, size_t errlen);

/** rnn_midi_write_path with the meters of rnn_midi_write_mem_meters. */
int rnn_midi_write_path_meters(const char *path, const rnn_note *notes, size_t n, int ppq,
                               double bpm, const rnn_midi_meter *meters, size_t n_meters, char *err,
                               size_t errlen);

/** Order used for note lists: on, track, channel, pitch, off, velocity. */
int rnn_note_cmp(const void *a, const void *b);

#endif
