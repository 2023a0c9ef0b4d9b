/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the MIDI reader (`make fuzz`). Any input must give a
 * note list or an error naming the offset, never a crash, a hang or an
 * outsized allocation. What is read is also encoded both ways, written back
 * and read again: the second read must succeed with the same notes when no
 * two notes of one pitch nest (the one thing a MIDI file cannot tell apart). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/midifile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rnn_midi_file f;
    char err[512];
    if (rnn_midi_read(data, size, "fuzz.mid", &f, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.mid: offset ", 17) != 0) abort();
        return 0;
    }
    for (size_t i = 0; i < f.n_notes; i++) {
        const rnn_note *n = &f.notes[i];
        if (n->pitch < 0 || n->pitch > 127 || n->velocity < 1 || n->velocity > 127 ||
            n->channel < 0 || n->channel > 15 || n->on < 0 || n->off < n->on || n->track < 1 ||
            n->track > f.n_tracks)
            abort();
        if (i && rnn_note_cmp(&f.notes[i - 1], n) > 0) abort();
    }
    for (int kind = RNN_KIND_MELODY; kind <= RNN_KIND_DRUMS; kind++) {
        rnn_seq_list l = {0};
        if (rnn_encode((rnn_kind)kind, f.notes, f.n_notes, f.ppq, 4, &l, err, sizeof err) == 0) {
            for (size_t s = 0; s < l.count; s++)
                for (size_t t = 0; t < l.seqs[s].len; t++)
                    if (l.seqs[s].events[t] < 0 ||
                        l.seqs[s].events[t] >= rnn_kind_vocab((rnn_kind)kind))
                        abort();
        }
        rnn_seq_list_free(&l);
    }
    size_t wsize;
    unsigned char *w = rnn_midi_write_mem(f.notes, f.n_notes, f.ppq, 120, &wsize, err, sizeof err);
    if (w) {
        rnn_midi_file g;
        if (rnn_midi_read(w, wsize, "rewritten.mid", &g, err, sizeof err) != 0) abort();
        if (g.n_notes != f.n_notes) abort();
        rnn_midi_free(&g);
        free(w);
    }
    rnn_midi_free(&f);
    return 0;
}
