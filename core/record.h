/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the recording of what the player played, for Learn.
 *
 * A ring of the last `capacity` grid steps of the player's line, each as
 * the engine hands it to the net: the input event and its input columns
 * (the conditions then the lookback, exactly as rnn_net_step_cond takes
 * them; a column is on when nonzero), plus a flag where the line breaks
 * (transport stopped or moved, a new model: a phrase must not run across
 * it). Columns are stored as the list of those on, at most
 * RNN_REC_MAX_ON of them per step (more are dropped and counted).
 *
 * One writer, one reader, no lock: the writer (the audio thread, in run())
 * never waits and never allocates: it overwrites the oldest step and
 * publishes the count of steps written with a release store. The reader
 * (the learning job) copies a range of steps and then checks, with the
 * count read again, that the writer has not come round over them while it
 * copied; a range already overwritten (or being overwritten) is refused,
 * and the reader asks for newer steps.
 *
 * Threads: create and free on the main/worker thread (they allocate);
 * push and break from the one writer thread; read, written and dropped
 * from the one reader thread (written and dropped from any). */
#ifndef RNNMIDI_RECORD_H
#define RNNMIDI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define RNN_REC_MAX_ON 32 /* columns on per step kept */

typedef struct rnn_rec rnn_rec;

/** A ring of capacity steps (1 .. 2^24) of `columns` input columns (0 ..
 * 65535). NULL with a message when out of range or out of memory. */
rnn_rec *rnn_rec_create(int capacity, int columns, char *err, size_t errlen);

/** Release; accepts NULL. No thread may still use it. */
void rnn_rec_free(rnn_rec *r);

/** Bytes allocated. Any thread. */
size_t rnn_rec_bytes(const rnn_rec *r);

/** Steps the ring holds, and input columns per step. Any thread. */
int rnn_rec_capacity(const rnn_rec *r);
int rnn_rec_columns(const rnn_rec *r);

/** Record one grid step: the input event and its columns (NULL: none on).
 * The step after rnn_rec_break starts a new phrase. Returns 0, or 1 when
 * more than RNN_REC_MAX_ON columns were on (the first ones are kept). The
 * writer thread (audio safe: no allocation, lock or system call). */
int rnn_rec_push(rnn_rec *r, int32_t event, const float *cols);

/** The line breaks here: the next step pushed starts a phrase. Writer. */
void rnn_rec_break(rnn_rec *r);

/** Steps pushed since create (monotonic). The last capacity - 1 of them
 * can be read: the slot of the oldest is the one the next push writes.
 * Any thread. */
uint64_t rnn_rec_written(const rnn_rec *r);

/** Steps whose columns were cut to RNN_REC_MAX_ON. Any thread. */
uint64_t rnn_rec_dropped(const rnn_rec *r);

/** Copy steps [first, first + n) (numbered from 0 at create): events (n),
 * cols (n x columns, 0 or 1; may be NULL), starts (n: 1 where a phrase
 * starts, the first step ever included; may be NULL). Returns n, or -1 when
 * a step of the range is not written yet or no longer (or no longer
 * certainly) in the ring; then the outputs hold nothing usable. Reader;
 * no allocation or lock. */
int rnn_rec_read(const rnn_rec *r, uint64_t first, int n, int32_t *events, float *cols,
                 uint8_t *starts);

#endif
