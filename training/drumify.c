/* SPDX-License-Identifier: MIT */
/* rnnmidi training: drumify's data (contract in drumify.h).
 *
 * The other parts' line is core/encoding's melody skyline run over every
 * note outside channel 10 as if they were one part (one track, one
 * channel), so the encoder reads what the melody models read; its sequences
 * (split at long gaps, short ones dropped) are put back on the file's grid
 * at their start steps, and the steps between them hold event 0. */
#include "drumify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/model.h"

uint32_t rnn_enc_code(int event, uint16_t pcs)
{
    const uint32_t e = event >= 0 && event < RNN_MELODY_VOCAB ? (uint32_t)event : 0;
    return e | (uint32_t)(pcs & 0xFFF) << 8;
}

void rnn_enc_code_row(uint32_t code, float *row)
{
    memset(row, 0, RNN_ENC_INPUT_COLUMNS * sizeof *row);
    const uint32_t e = code & 0xFF;
    row[e < RNN_MELODY_VOCAB ? e : 0] = 1.0f;
    for (int k = 0; k < 12; k++)
        row[RNN_MELODY_VOCAB + k] = (float)(code >> (8 + k) & 1);
}

/* The step a tick lies on (core/encoding.c's grid: halves round up). */
static int64_t step_of(int64_t tick, int ppq, int spq)
{
    return (2 * tick * spq + ppq) / (2 * (int64_t)ppq);
}

int rnn_enc_codes_file(const rnn_midi_file *mf, int spq, uint32_t **codes, size_t *n, size_t *other,
                       char *err, size_t errlen)
{
    *codes = NULL;
    *n = 0;
    if (spq < 1 || spq > RNN_MAX_STEPS_PER_QUARTER || mf->ppq < 1) {
        snprintf(err, errlen, "steps per quarter %d or ppq %d out of range", spq, mf->ppq);
        return -1;
    }
    int64_t last = 0;
    size_t n_other = 0;
    for (size_t i = 0; i < mf->n_notes; i++) {
        const int64_t s = step_of(mf->notes[i].off, mf->ppq, spq) + 1;
        if (s > last) last = s;
        n_other += mf->notes[i].channel != RNN_DRUMS_CHANNEL;
    }
    if (last > (int64_t)1 << 28) {
        snprintf(err, errlen, "the file spans %lld steps, too many", (long long)last);
        return -1;
    }
    uint32_t *c = calloc(last > 0 ? (size_t)last : 1, sizeof *c);
    rnn_note *line = calloc(n_other ? n_other : 1, sizeof *line);
    rnn_seq_list seqs = {0};
    if (!c || !line) {
        free(c), free(line);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t j = 0;
    for (size_t i = 0; i < mf->n_notes; i++) {
        const rnn_note *x = &mf->notes[i];
        if (x->channel == RNN_DRUMS_CHANNEL) continue;
        line[j] = *x;
        line[j].track = 1, line[j].channel = 0;
        j++;
        const int64_t s0 = step_of(x->on, mf->ppq, spq), s1 = step_of(x->off, mf->ppq, spq);
        for (int64_t s = s0; s < (s1 > s0 ? s1 : s0 + 1) && s < last; s++)
            c[s] |= (uint32_t)1 << (8 + x->pitch % 12);
    }
    if (n_other > 0 &&
        rnn_encode(RNN_KIND_MELODY, line, n_other, mf->ppq, spq, &seqs, err, errlen) != 0) {
        free(c), free(line);
        return -1;
    }
    for (size_t i = 0; i < seqs.count; i++) {
        const rnn_seq *s = &seqs.seqs[i];
        for (size_t t = 0; t < s->len; t++)
            if (s->start_step + (int64_t)t < last)
                c[s->start_step + (int64_t)t] |= (uint32_t)s->events[t] & 0xFF;
    }
    rnn_seq_list_free(&seqs);
    free(line);
    *codes = c;
    *n = (size_t)last;
    if (other) *other = n_other;
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

unsigned char *rnn_midi_add_track(const unsigned char *data, size_t used, int ppq,
                                  const rnn_note *notes, size_t n, size_t *size, char *err,
                                  size_t errlen)
{
    if (used < 14 || memcmp(data, "MThd", 4) != 0 || be32(data + 4) < 6 ||
        (size_t)be32(data + 4) + 8 > used) {
        snprintf(err, errlen, "not a Standard MIDI File (no MThd header)");
        return NULL;
    }
    const unsigned ntrks = (unsigned)data[10] << 8 | data[11];
    if (ntrks >= 0xFFFF) {
        snprintf(err, errlen, "the file has %u tracks, no room for one more", ntrks);
        return NULL;
    }
    /* the notes as the writer's format-1 file: its last track is theirs */
    rnn_note *one = malloc((n ? n : 1) * sizeof *one);
    if (!one) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        one[i] = notes[i];
        one[i].track = 1;
    }
    size_t wsize = 0;
    unsigned char *w = rnn_midi_write_mem(one, n, ppq, 120.0, &wsize, err, errlen);
    free(one);
    if (!w) return NULL;
    size_t at = 8 + be32(w + 4), last = 0;
    while (at + 8 <= wsize) { /* the writer's chunks: MThd, then MTrk ... */
        last = at;
        at += 8 + (size_t)be32(w + at + 4);
    }
    const size_t tlen = n > 0 && last ? 8 + (size_t)be32(w + last + 4) : 0;
    static const unsigned char empty[] = {'M', 'T', 'r', 'k', 0, 0, 0, 4, 0, 0xFF, 0x2F, 0};
    const unsigned char *track = tlen ? w + last : empty;
    const size_t track_len = tlen ? tlen : sizeof empty;
    unsigned char *out = malloc(used + track_len);
    if (!out) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(out, data, used);
    memcpy(out + used, track, track_len);
    free(w);
    if (out[8] == 0 && out[9] == 0) out[9] = 1; /* format 0 becomes 1 */
    out[10] = (unsigned char)((ntrks + 1) >> 8);
    out[11] = (unsigned char)(ntrks + 1);
    *size = used + track_len;
    return out;
}
