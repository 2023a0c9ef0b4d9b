/* SPDX-License-Identifier: MIT */
/* Drumify end to end, and the data it rests on (training/drumify.h):
 * - the encoder's inputs of a file written here: the other parts' skyline
 *   event and pitch classes at hand-picked steps, drums left out, the rows
 *   they make;
 * - a track added to a file's bytes: the original bytes unchanged but for
 *   the header's track count (and format 0 becoming 1), the new track read
 *   back with its notes, the file's own notes as they were;
 * - the data set: every drum sequence of a file with other parts gets their
 *   inputs step for step, a drums-only file is skipped and named; the
 *   batcher's encoder rows are the inputs of the steps its rows predict;
 * - the tools: rnnmidi-train --kind drums --encoder 1 trains a few steps on
 *   generated files and writes an encoder-decoder preset (its window in the
 *   metadata); rnnmidi-eval's NLL of it (the core, step by step) is the
 *   trainer's ordered evaluation's (batched); --with-parts drops the files
 *   of drums alone for a plain preset; rnnmidi-gen refuses the preset (it
 *   has no song for the encoder); rnnmidi-drumify adds a drum track to a
 *   file without drums (the same bytes for the same seed, other bytes for
 *   another), and refuses a preset without an encoder and a file with
 *   drums alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/midifile.h"
#include "../../core/model.h"
#include "../../training/dataset.h"
#include "../../training/drumify.h"
#include "../../training/train.h"
#include "../support/shell.h"

enum { PPQ = 96, STEP = PPQ / 4 }; /* ticks of a sixteenth */

static char dir[] = "/tmp/rnnmidi-drumify-XXXXXX";

/* A song of `bars` bars: a melody on channel 0 (track 2), chords on channel
 * 1 (track 3) and, with drums, a beat on channel 10 (track 4), varied by
 * `v`. Returns the note count written into notes (room for 64 per bar). */
static size_t song(rnn_note *notes, int bars, int v, int drums)
{
    size_t n = 0;
    static const int scale[8] = {60, 62, 64, 65, 67, 69, 71, 72};
    for (int b = 0; b < bars; b++) {
        const int64_t bar = (int64_t)b * 16 * STEP;
        for (int q = 0; q < 8; q++) /* eighths of melody */
            notes[n++] = (rnn_note){2,
                                    0,
                                    scale[(q * 3 + b + v) % 8] + 12,
                                    90,
                                    bar + q * 2 * STEP,
                                    bar + q * 2 * STEP + STEP};
        const int root = 48 + (b + v) % 4 * 2;
        for (int k = 0; k < 3; k++) /* a whole-bar chord */
            notes[n++] = (rnn_note){3, 1, root + k * 4 - (k == 2), 70, bar, bar + 16 * STEP};
        for (int s = 0; drums && s < 16; s++) {
            if (s % 2 == 0)
                notes[n++] = (rnn_note){4, 9, 42, 80, bar + s * STEP, bar + s * STEP + 1};
            if (s % 8 == 0)
                notes[n++] = (rnn_note){4, 9, 36, 100, bar + s * STEP, bar + s * STEP + 1};
            if (s % 8 == 4)
                notes[n++] = (rnn_note){4, 9, 38, 100, bar + s * STEP, bar + s * STEP + 1};
        }
    }
    qsort(notes, n, sizeof *notes, rnn_note_cmp);
    return n;
}

static void write_song(const char *path, int bars, int v, int drums)
{
    rnn_note *notes = malloc((size_t)bars * 64 * sizeof *notes);
    assert_non_null(notes);
    const size_t n = song(notes, bars, v, drums);
    char err[256];
    if (rnn_midi_write_path(path, notes, n, PPQ, 120, err, sizeof err)) fail_msg("%s", err);
    free(notes);
}

static void read_file(const char *path, unsigned char **data, size_t *size, rnn_midi_file *mf)
{
    char err[512];
    *data = rnn_midi_slurp(path, size, err, sizeof err);
    if (!*data) fail_msg("%s", err);
    if (mf && rnn_midi_read(*data, *size, path, mf, err, sizeof err)) fail_msg("%s", err);
}

static void test_codes(void **state)
{
    (void)state;
    rnn_note notes[8 * 64];
    const size_t n = song(notes, 2, 0, 1);
    rnn_midi_file mf = {.format = 1, .ppq = PPQ, .notes = notes, .n_notes = n};
    uint32_t *codes;
    size_t steps, other;
    char err[256];
    assert_int_equal(rnn_enc_codes_file(&mf, 4, &codes, &steps, &other, err, sizeof err), 0);
    assert_int_equal(steps, 2 * 16 + 1); /* the last chord's release lies on step 32 */
    assert_int_equal(other, 2 * (8 + 3));
    const uint32_t C = 1u << 0, D = 1u << 2, E = 1u << 4, F = 1u << 5, Fs = 1u << 6, G = 1u << 7,
                   A = 1u << 9;
    /* step 0: the melody's 72 over the chord C E G (48 52 55) */
    assert_int_equal(codes[0] & 0xFF, RNN_MELODY_NOTE_ON(72));
    assert_int_equal(codes[0] >> 8, C | E | G);
    /* step 1: the melody note has ended over the held chord, whose top note
     * the skyline emits again (DESIGN.md's rule) */
    assert_int_equal(codes[1] & 0xFF, RNN_MELODY_NOTE_ON(55));
    assert_int_equal(codes[1] >> 8, C | E | G);
    /* step 2: the second eighth, 77 (F) */
    assert_int_equal(codes[2] & 0xFF, RNN_MELODY_NOTE_ON(77));
    assert_int_equal(codes[2] >> 8, C | E | F | G);
    /* bar 2 (step 16): 74 over D F# A; the drums are nowhere */
    assert_int_equal(codes[16] & 0xFF, RNN_MELODY_NOTE_ON(74));
    assert_int_equal(codes[16] >> 8, D | Fs | A);
    assert_int_equal(codes[32], RNN_MELODY_NOTE_OFF); /* the line ends, nothing sounds */
    float row[RNN_ENC_INPUT_COLUMNS];
    rnn_enc_code_row(codes[2], row);
    int ones = 0;
    for (int i = 0; i < RNN_ENC_INPUT_COLUMNS; i++)
        ones += row[i] == 1.0f;
    assert_int_equal(ones, 1 + 4);
    assert_true(row[RNN_MELODY_NOTE_ON(77)] == 1.0f && row[RNN_MELODY_VOCAB + 5] == 1.0f);
    assert_int_equal(rnn_enc_code(200, 0xFFFF), 0xFFF00u); /* out of range: event 0 */
    free(codes);
    /* a file of drums alone has no other notes; a bad grid is refused */
    mf.n_notes = 0;
    assert_int_equal(rnn_enc_codes_file(&mf, 4, &codes, &steps, &other, err, sizeof err), 0);
    assert_int_equal(other, 0);
    free(codes);
    assert_int_equal(rnn_enc_codes_file(&mf, 0, &codes, &steps, &other, err, sizeof err), -1);
}

/* The drums of a file added to another file's bytes as one more track. */
static void test_add_track(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/plain.mid", dir);
    rnn_note notes[4 * 64];
    size_t n = song(notes, 4, 1, 0);
    char err[512];
    /* format 1 from the writer, and a format 0 file (the fixture) */
    const char *inputs[2] = {path, "tests/fixtures/midi/fmt0_running_status.mid"};
    if (rnn_midi_write_path(path, notes, n, PPQ, 120, err, sizeof err)) fail_msg("%s", err);
    for (int f = 0; f < 2; f++) {
        unsigned char *data;
        size_t size;
        rnn_midi_file mf;
        read_file(inputs[f], &data, &size, &mf);
        const rnn_note hits[3] = {{1, 9, 36, 100, 0, 1},
                                  {1, 9, 38, 90, mf.ppq, mf.ppq + 1},
                                  {1, 9, 42, 80, 2 * mf.ppq, 2 * mf.ppq + 1}};
        size_t osize;
        unsigned char *out =
            rnn_midi_add_track(data, mf.bytes_read, mf.ppq, hits, 3, &osize, err, sizeof err);
        if (!out) fail_msg("%s", err);
        assert_true(osize > mf.bytes_read);
        assert_memory_equal(out, data, 8);
        assert_int_equal(out[9], 1); /* format 1 */
        assert_int_equal(out[10] << 8 | out[11], mf.n_tracks + 1);
        assert_memory_equal(out + 12, data + 12, mf.bytes_read - 12);
        rnn_midi_file back;
        if (rnn_midi_read(out, osize, "added", &back, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(back.n_tracks, mf.n_tracks + 1);
        assert_int_equal(back.n_notes, mf.n_notes + 3);
        size_t found = 0;
        for (size_t i = 0; i < back.n_notes; i++) {
            const rnn_note *x = &back.notes[i];
            if (x->track != mf.n_tracks + 1) continue;
            assert_int_equal(x->channel, 9);
            for (int h = 0; h < 3; h++)
                found += x->pitch == hits[h].pitch && x->on == hits[h].on &&
                         x->off == hits[h].off && x->velocity == hits[h].velocity;
        }
        assert_int_equal(found, 3);
        rnn_midi_free(&back);
        free(out);
        rnn_midi_free(&mf);
        free(data);
    }
    static const unsigned char junk[20] = "RIFF0000MThd";
    size_t osize;
    assert_null(rnn_midi_add_track(junk, sizeof junk, 96, NULL, 0, &osize, err, sizeof err));
    assert_non_null(strstr(err, "not a Standard MIDI File"));
    unlink(path);
}

/* The data set of drumify: the drum sequences of the files with other
 * parts, each step with the inputs of its file's step; the batcher's rows. */
static void test_dataset(void **state)
{
    (void)state;
    char data_dir[300], path[400];
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    assert_int_equal(mkdir(data_dir, 0700), 0);
    for (int v = 0; v < 4; v++) {
        snprintf(path, sizeof path, "%s/song%d.mid", data_dir, v);
        write_song(path, 12, v, 1);
    }
    /* drums alone: no part for the encoder */
    snprintf(path, sizeof path, "%s/beat.mid", data_dir);
    rnn_note beat[12 * 64];
    size_t nb = song(beat, 12, 0, 1), kept = 0;
    for (size_t i = 0; i < nb; i++)
        if (beat[i].channel == 9) beat[kept++] = beat[i];
    char err[512];
    if (rnn_midi_write_path(path, beat, kept, PPQ, 120, err, sizeof err)) fail_msg("%s", err);

    const char *paths[1] = {data_dir};
    rnn_dataset ds = {0};
    assert_int_equal(
        rnn_dataset_load_encoder(&ds, paths, 1, RNN_KIND_DRUMS, 4, 1, NULL, err, sizeof err), 0);
    assert_int_equal(ds.n_failed, 1);
    assert_non_null(strstr(ds.failed[0].path, "beat.mid"));
    assert_non_null(strstr(ds.failed[0].reason, "no part outside channel 10"));
    size_t seqs = 0, files = 0;
    for (int s = 0; s < RNN_SPLITS; s++) {
        files += ds.files[s];
        for (size_t i = 0; i < ds.split[s].count; i++) {
            const rnn_seq *q = &ds.split[s].seqs[i];
            assert_non_null(q->enc);
            seqs++;
            for (size_t t = 0; t < q->len; t++)
                assert_true((q->enc[t] >> 8) != 0); /* the chords always sound */
        }
    }
    assert_int_equal(files, 4);
    assert_true(seqs >= 4);
    /* the same load without the encoder keeps the drums-only file and no inputs */
    rnn_dataset plain = {0};
    assert_int_equal(rnn_dataset_load(&plain, paths, 1, RNN_KIND_DRUMS, 4, NULL, err, sizeof err),
                     0);
    assert_int_equal(plain.n_failed, 0);
    for (int s = 0; s < RNN_SPLITS; s++)
        for (size_t i = 0; i < plain.split[s].count; i++)
            assert_null(plain.split[s].seqs[i].enc);
    rnn_dataset_free(&plain);

    /* the codes of one file, against its sequence's */
    snprintf(path, sizeof path, "%s/song0.mid", data_dir);
    unsigned char *data;
    size_t size, steps, other;
    rnn_midi_file mf;
    read_file(path, &data, &size, &mf);
    uint32_t *codes;
    assert_int_equal(rnn_enc_codes_file(&mf, 4, &codes, &steps, &other, err, sizeof err), 0);
    const rnn_split sp = rnn_split_of_bytes(data, size);
    int checked = 0;
    for (size_t i = 0; i < ds.split[sp].count; i++) {
        const rnn_seq *q = &ds.split[sp].seqs[i];
        if (memcmp(q->enc, codes + q->start_step, q->len * sizeof *codes) == 0) checked++;
    }
    assert_true(checked >= 1);

    /* an ordered batcher's encoder rows: row t is the input of the step
     * that row t's target is, zeros past the sequence */
    const rnn_seq_list *list = &ds.split[sp];
    const int T = 16, B = 2;
    const rnn_model_config cfg = {.kind = RNN_KIND_DRUMS,
                                  .steps_per_quarter = 4,
                                  .cell = RNN_CELL_GRU,
                                  .layers = 1,
                                  .hidden = 4,
                                  .vocab = 512,
                                  .enc_layers = 1,
                                  .enc_hidden = 3,
                                  .enc_inputs = RNN_ENC_INPUT_COLUMNS};
    rnn_batcher *bt = rnn_batcher_create(list, RNN_KIND_DRUMS, B, T, 0, 0, 1);
    assert_non_null(bt);
    assert_int_equal(rnn_batcher_set_conditions(bt, &cfg, 0), 0);
    int32_t in[16 * 2], tg[16 * 2];
    assert_true(rnn_batcher_next(bt, NULL, in, tg) > 0);
    const float *rows = rnn_batcher_enc(bt);
    assert_non_null(rows);
    float want[RNN_ENC_INPUT_COLUMNS];
    const rnn_seq *q0 = &list->seqs[0];
    for (int t = 0; t < T; t++) {
        if ((size_t)t + 1 < q0->len)
            rnn_enc_code_row(q0->enc[t + 1], want);
        else
            memset(want, 0, sizeof want);
        assert_memory_equal(rows + (size_t)t * B * RNN_ENC_INPUT_COLUMNS, want, sizeof want);
    }
    rnn_batcher_free(bt);
    free(codes);
    rnn_midi_free(&mf);
    free(data);
    rnn_dataset_free(&ds);
}

/* A drums preset without an encoder (random weights), for the refusal. */
static void write_plain_preset(const char *path)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_DRUMS,
                                  .steps_per_quarter = 4,
                                  .cell = RNN_CELL_GRU,
                                  .layers = 1,
                                  .hidden = 4,
                                  .vocab = 512};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        data[i] = calloc(specs[i].count, sizeof(float));
        assert_non_null(data[i]);
    }
    char err[256];
    if (rnn_model_write(path, &cfg, NULL, 0, (const float *const *)data, err, sizeof err))
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        free(data[i]);
}

static void test_tools(void **state)
{
    (void)state;
    static char out[1 << 16];
    char data_dir[300], preset[300], in[300], o1[300], o2[300], o3[300], plain[300], beat[300];
    snprintf(data_dir, sizeof data_dir, "%s/tools", dir);
    assert_int_equal(mkdir(data_dir, 0700), 0);
    for (int v = 0; v < 6; v++) {
        char path[400];
        snprintf(path, sizeof path, "%s/song%d.mid", data_dir, v);
        write_song(path, 10, v, 1);
    }
    snprintf(preset, sizeof preset, "%s/drumify.rnnw", dir);
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-train --data %s --kind drums --encoder 1 --encoder-hidden 8 "
                        "--cell gru --layers 1 --hidden 16 --embed 8 --batch 4 --seq-len 16 "
                        "--max-steps 4 --threads 1 --quiet --out %s",
                        test_tools_dir(), data_dir, preset);
    if (rc != 0) fail_msg("rnnmidi-train exited %d:\n%s", rc, out);
    char err[512];
    rnn_model *m = rnn_model_load(preset, err, sizeof err);
    if (!m) fail_msg("%s", err);
    const rnn_model_config *c = rnn_model_get_config(m);
    assert_int_equal(c->kind, RNN_KIND_DRUMS);
    assert_int_equal(c->enc_layers, 1);
    assert_int_equal(c->enc_hidden, 8);
    assert_int_equal(c->enc_inputs, RNN_ENC_INPUT_COLUMNS);
    assert_non_null(rnn_model_meta(m, "encoder_window"));
    assert_string_equal(rnn_model_meta(m, "encoder_window"), "16");
    /* rnnmidi-eval (the core, step by step, the encoder over windows from
     * each sequence's start) and the trainer's ordered evaluation (batched,
     * windows of --seq-len) give the same NLL on the same files */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s --quiet %s", test_tools_dir(),
                    preset, data_dir);
    if (rc != 0) fail_msg("rnnmidi-eval exited %d:\n%s", rc, out);
    const char *at = strstr(out, "nll_nats=");
    assert_non_null(at);
    const double core_nll = strtod(at + 9, NULL);
    rnn_trainer *tr = rnn_trainer_create(c, 3, 16, err, sizeof err);
    if (!tr) fail_msg("%s", err);
    assert_int_equal(rnn_trainer_load_model(tr, m, err, sizeof err), 0);
    const char *paths[1] = {data_dir};
    rnn_dataset ds = {0};
    assert_int_equal(
        rnn_dataset_load_encoder(&ds, paths, 1, RNN_KIND_DRUMS, 4, 1, NULL, err, sizeof err), 0);
    double sum = 0;
    long steps = 0;
    for (int s = 0; s < RNN_SPLITS; s++) {
        long k = 0;
        const double nll = rnn_trainer_evaluate(tr, &ds.split[s], RNN_KIND_DRUMS, NULL, &k);
        if (k > 0) sum += nll * (double)k, steps += k;
    }
    assert_true(steps > 0);
    print_message("drumify preset: rnnmidi-eval %.4f, trainer %.6f nats a step\n", core_nll,
                  sum / (double)steps);
    assert_true(fabs(core_nll - sum / (double)steps) <= 1e-4 + 1e-4 * core_nll);
    rnn_dataset_free(&ds);
    rnn_trainer_free(tr);
    rnn_model_free(m);

    /* rnnmidi-gen has no song to give the encoder: it refuses the preset */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-gen --model %s --bars 2 --out %s/gen.mid",
                    test_tools_dir(), preset, dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "rnnmidi-drumify"));

    /* a file without drums, drumified twice with one seed, once with another */
    snprintf(in, sizeof in, "%s/tune.mid", dir);
    snprintf(o1, sizeof o1, "%s/tune-1.mid", dir);
    snprintf(o2, sizeof o2, "%s/tune-2.mid", dir);
    snprintf(o3, sizeof o3, "%s/tune-3.mid", dir);
    write_song(in, 5, 7, 0);
    const char *outs[3] = {o1, o2, o3};
    const int seeds[3] = {5, 5, 6};
    for (int k = 0; k < 3; k++) {
        rc = test_shell(out, sizeof out, "%s/rnnmidi-drumify %s --model %s --out %s --seed %d",
                        test_tools_dir(), in, preset, outs[k], seeds[k]);
        if (rc != 0) fail_msg("rnnmidi-drumify exited %d:\n%s", rc, out);
    }
    unsigned char *a, *b, *d, *src;
    size_t na, nb, nd, nsrc;
    rnn_midi_file mi, mo;
    read_file(in, &src, &nsrc, &mi);
    read_file(o1, &a, &na, &mo);
    read_file(o2, &b, &nb, NULL);
    read_file(o3, &d, &nd, NULL);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    assert_true(nd != na || memcmp(a, d, na) != 0);
    /* the input's bytes, then the new track */
    assert_true(na > nsrc);
    assert_memory_equal(a, src, 10);
    assert_memory_equal(a + 12, src + 12, nsrc - 12);
    assert_int_equal(mo.n_tracks, mi.n_tracks + 1);
    size_t own = 0, hits = 0;
    const int64_t end = (int64_t)5 * 16 * STEP;
    for (size_t i = 0; i < mo.n_notes; i++) {
        const rnn_note *x = &mo.notes[i];
        if (x->track == mi.n_tracks + 1) {
            assert_int_equal(x->channel, 9);
            assert_true(rnn_drum_class_of_pitch(x->pitch) >= 0);
            assert_true(x->on >= 0 && x->on <= end && x->on % STEP == 0);
            hits++;
        } else {
            own++;
        }
    }
    assert_int_equal(own, mi.n_notes);
    for (size_t i = 0, j = 0; i < mo.n_notes; i++) /* the input's notes, as they were */
        if (mo.notes[i].track != mi.n_tracks + 1)
            assert_memory_equal(&mo.notes[i], &mi.notes[j++], sizeof(rnn_note));
    assert_true(hits > 0);
    print_message("drumify: %zu drum hits over %zu notes\n", hits, mi.n_notes);
    rnn_midi_free(&mi);
    rnn_midi_free(&mo);
    free(a), free(b), free(d), free(src);

    /* refusals: a preset without an encoder, a file with drums alone */
    snprintf(plain, sizeof plain, "%s/plain.rnnw", dir);
    write_plain_preset(plain);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-drumify %s --model %s --out %s/x.mid",
                    test_tools_dir(), in, plain, dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "without an encoder"));
    snprintf(beat, sizeof beat, "%s/beat.mid", dir);
    const rnn_note kick[2] = {{1, 9, 36, 100, 0, 1}, {1, 9, 36, 100, 4 * STEP, 4 * STEP + 1}};
    if (rnn_midi_write_path(beat, kick, 2, PPQ, 120, err, sizeof err)) fail_msg("%s", err);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-drumify %s --model %s --out %s/x.mid",
                    test_tools_dir(), beat, preset, dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "no notes outside channel 10"));
    /* a plain preset on the files a drumify preset reads: --with-parts
     * leaves out the drums alone */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s --quiet %s %s", test_tools_dir(),
                    plain, data_dir, beat);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "files=7"));
    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s --quiet --with-parts %s %s",
                    test_tools_dir(), plain, data_dir, beat);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "files=6"));
    char x[400];
    snprintf(x, sizeof x, "%s/x.mid", dir);
    struct stat st;
    assert_int_not_equal(stat(x, &st), 0); /* nothing written */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-drumify --model %s --out %s/x.mid",
                    test_tools_dir(), preset, dir);
    assert_int_equal(rc, 2);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char out[256];
    return test_shell(out, sizeof out, "rm -rf %s", dir) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_add_track),
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_tools),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
