/* SPDX-License-Identifier: MIT */
/* rnnmidi core: event vocabularies and note <-> event-sequence conversion.
 *
 * Melody (130 classes per grid step): 0 = no event (the previous note holds or
 * the rest goes on), 1 = note-off, 2 + p = note-on of MIDI pitch p.
 * Drums (512 classes per grid step): a 9-bit multi-hot set of Magenta
 * DrumsRNN's drum classes (bit c set = class c struck on this step).
 *
 * The offline functions here (encode, decode into a growing list) may
 * allocate and are for the main/worker thread. The per-step helpers that
 * say "audio" may run on the audio thread. */
#ifndef RNNMIDI_ENCODING_H
#define RNNMIDI_ENCODING_H

#include <stddef.h>
#include <stdint.h>

typedef enum { RNN_KIND_MELODY = 1, RNN_KIND_DRUMS = 2 } rnn_kind;

#define RNN_MELODY_VOCAB 130
#define RNN_MELODY_NO_EVENT 0
#define RNN_MELODY_NOTE_OFF 1
#define RNN_MELODY_NOTE_ON(p) (2 + (p))
#define RNN_DRUM_CLASSES 9
#define RNN_DRUMS_VOCAB 512
#define RNN_DRUMS_CHANNEL 9 /* MIDI channel 10 */

#define RNN_DEFAULT_STEPS_PER_QUARTER 4
#define RNN_SPLIT_GAP_STEPS 16 /* a silent gap this long splits a sequence */
#define RNN_MIN_SEQ_STEPS 32   /* shorter sequences are dropped */
#define RNN_MIN_SEQ_NOTES 8    /* sequences with fewer notes are dropped */

/* One note. Times are in ticks (or in grid steps where a function says so). */
typedef struct {
    int32_t track;    /* counted from 1 in file order; 0 for live input */
    int32_t channel;  /* 0..15 */
    int32_t pitch;    /* 0..127 */
    int32_t velocity; /* 1..127 */
    int64_t on;       /* onset */
    int64_t off;      /* release, off >= on */
} rnn_note;

/* One event sequence on the grid. */
typedef struct {
    int32_t *events;    /* len class ids */
    size_t len;         /* steps */
    int64_t start_step; /* grid position of events[0] in its source */
    int32_t track, channel;
    uint32_t *cond; /* NULL, or len per-step conditions the trainer packs
                       (training/dataset.h, rnn_cond_code); freed with the list */
    uint16_t *bar;  /* NULL, or len per-step bar lengths in steps for the lookback
                       inputs (rnn_lookback_bar_steps, at most 65535); freed with it */
    uint32_t *enc;  /* NULL, or len per-step inputs of a bidirectional encoder, packed
                       (training/dataset.h, rnn_enc_code): the other parts of the file
                       at each step; freed with the list */
} rnn_seq;

typedef struct {
    rnn_seq *seqs;
    size_t count;
} rnn_seq_list;

/** Vocabulary size of an encoding kind (130 or 512), 0 for an unknown kind. Any thread. */
int rnn_kind_vocab(rnn_kind kind);

/** "melody" / "drums", or NULL. Any thread. */
const char *rnn_kind_name(rnn_kind kind);

/** Drum class (0..8) of a GM drum pitch, -1 when the pitch is not mapped. Any thread. */
int rnn_drum_class_of_pitch(int pitch);

/** The canonical GM pitch played for drum class c (0..8), -1 when out of range. Any thread. */
int rnn_drum_pitch_of_class(int c);

/** Encode a note list (ticks, ppq ticks per quarter) into grid sequences, applying
 * the skyline (melody) and the drum map (drums), both heard through core/listen,
 * and the gap split and the drop rules.
 * Appends to *out (which must be zeroed or hold earlier results). Returns 0, or
 * -1 with a message in err. Main/worker thread; allocates. */
int rnn_encode(rnn_kind kind, const rnn_note *notes, size_t n, int ppq, int steps_per_quarter,
               rnn_seq_list *out, char *err, size_t errlen);

/** Free every sequence of a list and zero it; accepts NULL. */
void rnn_seq_list_free(rnn_seq_list *list);

/** Decode events back to notes with times in grid steps (on = step index,
 * off = release step), channel and velocity as given (drums: GM pitches of
 * the canonical map, one step long). Writes at most max notes to out and
 * returns how many notes the sequence holds (may exceed max). Any thread;
 * does not allocate. */
size_t rnn_decode(rnn_kind kind, const int32_t *events, size_t len, int channel, int velocity,
                  rnn_note *out, size_t max);

/** Transpose a melody sequence by k semitones in place. Returns 0, or -1 (and
 * leaves events unchanged) when a pitch would leave 0..127. Any thread. */
int rnn_transpose_melody(int32_t *events, size_t len, int k);

#endif
