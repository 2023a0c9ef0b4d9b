/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: a sequence count (a seqlock) for data with one writer, which
 * must never wait (the audio thread), and readers on other threads (save()
 * reading the model path, the inline display's render()).
 *
 * The writer makes the count odd before it changes the data and even again
 * after; a reader notes the count, copies the data and keeps the copy only
 * when the count was even and has not moved meanwhile, else it tries again.
 * The writer is never held up; a reader may have to retry while writes go
 * on. Readers only load, so the count may be shared read-only. */
#ifndef RNNMIDI_LV2_SEQLOCK_H
#define RNNMIDI_LV2_SEQLOCK_H

#include <stdatomic.h>

/** Before the writer changes the data. Writer's thread (one at a time). */
static inline void rnn_seq_write_begin(atomic_uint *seq)
{
    unsigned s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

/** After the writer changed the data. Writer's thread. */
static inline void rnn_seq_write_end(atomic_uint *seq)
{
    unsigned s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_release);
}

/** Before a reader copies: the count to hand to rnn_seq_read_ok; when it is
 * odd a write is under way and the copy will not be kept. Any thread. */
static inline unsigned rnn_seq_read_begin(atomic_uint *seq)
{
    return atomic_load_explicit(seq, memory_order_acquire);
}

/** After a reader copied: 1 when the copy is whole (no write began or was
 * under way since rnn_seq_read_begin returned begun), 0 to try again. */
static inline int rnn_seq_read_ok(atomic_uint *seq, unsigned begun)
{
    atomic_thread_fence(memory_order_acquire);
    return !(begun & 1) && atomic_load_explicit(seq, memory_order_relaxed) == begun;
}

#endif
