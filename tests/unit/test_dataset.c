/* SPDX-License-Identifier: MIT */
/* Tests of training/sha256 (FIPS 180-4 vectors, and sha256sum as a peer),
 * training/dataset (the split rule, the folder walk, failed files) and the
 * rnnmidi-data command line (exit statuses, and output equal to the library
 * calls behind it). The tool is $RNNMIDI_TOOLS/rnnmidi-data (build/test by
 * default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/midifile.h"
#include "../../training/dataset.h"
#include "../../training/sha256.h"
#include "../../training/train.h"
#include "../support/spawn_capture.h"

/* ------------------------------------------------------------------------ */

static void hex_of(const char *msg, size_t n, size_t chunk, char hex[65])
{
    rnn_sha256 s;
    unsigned char d[32];
    rnn_sha256_init(&s);
    for (size_t i = 0; i < n; i += chunk)
        rnn_sha256_update(&s, msg + i, n - i < chunk ? n - i : chunk);
    rnn_sha256_final(&s, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    rnn_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rnn_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rnn_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in pieces that straddle the 64-byte blocks */
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    static const size_t chunks[] = {1, 63, 64, 65, 997, 1000000};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        hex_of(a, 1000000, chunks[i], hex);
        assert_string_equal(hex,
                            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
    /* lengths around the padding boundary (55, 56, 63, 64 bytes) against
     * the incremental path */
    for (size_t n = 50; n < 70; n++) {
        char h2[65];
        rnn_sha256_hex(a, n, hex);
        hex_of(a, n, 7, h2);
        assert_string_equal(hex, h2);
    }
    free(a);
}

static void test_sha256_matches_sha256sum(void **state)
{
    (void)state;
    static const char *files[] = {"tests/fixtures/midi/fmt0_running_status.mid",
                                  "tests/fixtures/midi/fmt1_tracks.mid",
                                  "tests/fixtures/midi/glued.mid"};
    for (size_t i = 0; i < 3; i++) {
        char *out;
        char *argv[] = {"sha256sum", (char *)files[i], NULL};
        assert_int_equal(spawn_capture(argv, &out), 0);
        size_t size;
        char err[256];
        unsigned char *data = rnn_midi_slurp(files[i], &size, err, sizeof err);
        assert_non_null(data);
        char hex[65];
        rnn_sha256_hex(data, size, hex);
        assert_memory_equal(hex, out, 64);
        rnn_split want = out[0] == 'f'   ? RNN_SPLIT_TEST
                         : out[0] == 'e' ? RNN_SPLIT_VALID
                                         : RNN_SPLIT_TRAIN;
        assert_int_equal(rnn_split_of_bytes(data, size), want);
        free(data);
        free(out);
    }
}

static void test_split_names(void **state)
{
    (void)state;
    assert_string_equal(rnn_split_name(RNN_SPLIT_TRAIN), "train");
    assert_string_equal(rnn_split_name(RNN_SPLIT_VALID), "valid");
    assert_string_equal(rnn_split_name(RNN_SPLIT_TEST), "test");
    assert_null(rnn_split_name((rnn_split)3));
    assert_int_equal(rnn_split_parse("train"), RNN_SPLIT_TRAIN);
    assert_int_equal(rnn_split_parse("valid"), RNN_SPLIT_VALID);
    assert_int_equal(rnn_split_parse("test"), RNN_SPLIT_TEST);
    assert_int_equal(rnn_split_parse("Test"), -1);
    assert_int_equal(rnn_split_parse(NULL), -1);
}

/* ------------------------------------------------------------------------ */
/* A small tree of generated files, one per split at least. */

static char tree[64];
static char paths[8][160];

/* A melody of 10 notes over 41 steps on channel 0 and a drum groove of 17
 * hits over 33 steps on channel 10, at ppq 4 (one tick per step). variant changes one
 * velocity so that the bytes, and so the sha256, differ. */
static unsigned char *song(int variant, int spread, size_t *size)
{
    rnn_note x[64];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        x[n++] = (rnn_note){1, 0, 60 + i, 90, 4 * i, 4 * i + 3};
    x[n - 1].off = 40;
    for (int s = 0; s < 34; s += 2)
        x[n++] = (rnn_note){spread && s % 4 ? 3 : 2, 9, s % 8 ? 42 : 36, 100, s, s + 1};
    x[0].velocity = 1 + variant % 127;
    x[1].velocity = 1 + variant / 127;
    char err[256];
    unsigned char *d = rnn_midi_write_mem(x, n, 4, 120, size, err, sizeof err);
    assert_non_null(d);
    return d;
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(d, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static int make_tree(void **state)
{
    (void)state;
    snprintf(tree, sizeof tree, "/tmp/rnnmidi-ds-XXXXXX");
    if (!mkdtemp(tree)) return -1;
    char p[200];
    snprintf(p, sizeof p, "%s/a", tree);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/b", tree);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/b/c", tree);
    mkdir(p, 0755);
    /* find variants whose bytes fall in test, valid and train */
    int found[3] = {-1, -1, -1}, spread_train = -1;
    for (int v = 0; v < 127 * 127 && (found[0] < 0 || found[1] < 0 || found[2] < 0); v++) {
        size_t size;
        unsigned char *d = song(v, 0, &size);
        rnn_split s = rnn_split_of_bytes(d, size);
        if (found[s] < 0) found[s] = v;
        free(d);
    }
    for (int v = 0; v < 127 * 127 && spread_train < 0; v++) {
        size_t size;
        unsigned char *d = song(v, 1, &size);
        if (rnn_split_of_bytes(d, size) == RNN_SPLIT_TRAIN) spread_train = v;
        free(d);
    }
    if (found[0] < 0 || found[1] < 0 || found[2] < 0 || spread_train < 0) return -1;
    static const char *names[] = {"a/one.mid",  "b/two.MID",   "b/c/three.midi", "b/c/four.kar",
                                  "readme.txt", ".hidden.mid", "a/bad.mid",      "b/c/zero.mid"};
    const int variant[] = {found[RNN_SPLIT_TRAIN],
                           found[RNN_SPLIT_VALID],
                           found[RNN_SPLIT_TEST],
                           -2,
                           found[RNN_SPLIT_TRAIN],
                           found[RNN_SPLIT_TRAIN],
                           -1,
                           -3};
    for (int i = 0; i < 8; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", tree, names[i]);
        size_t size;
        if (variant[i] == -1) {
            write_file(paths[i], "MThd\x00\x00\x00\x06\x00\x02\x00\x01\x00\x60", 14);
        } else if (variant[i] == -3) {
            write_file(paths[i], "", 0);
        } else {
            /* four.kar: a train file whose drums are spread over two tracks */
            int v = variant[i] == -2 ? spread_train : variant[i];
            unsigned char *d = song(v, variant[i] == -2, &size);
            write_file(paths[i], d, size);
            free(d);
        }
    }
    return 0;
}

static int remove_tree(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++)
        unlink(paths[i]);
    char p[200];
    snprintf(p, sizeof p, "%s/b/c", tree);
    rmdir(p);
    snprintf(p, sizeof p, "%s/b", tree);
    rmdir(p);
    snprintf(p, sizeof p, "%s/a", tree);
    rmdir(p);
    rmdir(tree);
    return 0;
}

static void test_dataset_load(void **state)
{
    (void)state;
    for (int k = RNN_KIND_MELODY; k <= RNN_KIND_DRUMS; k++) {
        rnn_dataset ds;
        memset(&ds, 0, sizeof ds);
        char err[512];
        FILE *log = tmpfile();
        assert_non_null(log);
        const char *p[] = {tree};
        assert_int_equal(rnn_dataset_load(&ds, p, 1, (rnn_kind)k, 4, log, err, sizeof err), 0);
        assert_int_equal(ds.kind, k);
        assert_int_equal(ds.steps_per_quarter, 4);
        /* one.mid and four.kar train, two.MID valid, three.midi test; readme.txt
         * and .hidden.mid are not read; bad.mid and zero.mid fail */
        assert_int_equal(ds.files[RNN_SPLIT_TRAIN], 2);
        assert_int_equal(ds.files[RNN_SPLIT_VALID], 1);
        assert_int_equal(ds.files[RNN_SPLIT_TEST], 1);
        assert_int_equal(ds.notes[RNN_SPLIT_TRAIN], 2 * 27);
        assert_int_equal(ds.notes[RNN_SPLIT_TEST], 27);
        for (int s = 0; s < RNN_SPLITS; s++) {
            assert_int_equal(ds.split[s].count, ds.files[s]);
            for (size_t i = 0; i < ds.split[s].count; i++)
                assert_int_equal(ds.split[s].seqs[i].len, k == RNN_KIND_MELODY ? 41 : 33);
        }
        assert_int_equal(ds.n_failed, 2);
        /* sorted: a/bad.mid before b/c/zero.mid */
        assert_string_equal(ds.failed[0].path, paths[6]);
        assert_non_null(strstr(ds.failed[0].reason, "bad.mid: offset 8: format 2"));
        assert_string_equal(ds.failed[1].path, paths[7]);
        assert_non_null(
            strstr(ds.failed[1].reason, "zero.mid: offset 0: not a Standard MIDI File"));
        rewind(log);
        char line[600];
        int logged = 0;
        while (fgets(line, sizeof line, log))
            logged += strstr(line, "skipped ") == line;
        assert_int_equal(logged, 2);
        fclose(log);
        rnn_dataset_free(&ds);
        rnn_dataset_free(&ds);
    }
    rnn_dataset_free(NULL);
}

/* The conditions rnn_dataset_load packs for every step (and the bar length
 * of the lookback inputs), and the columns the batcher makes of them: a
 * melody (channel 0) over a held C major chord (channel 1) in 3/4, one tick
 * per step; then 4/4 from step 24. */
static void test_dataset_conditions(void **state)
{
    (void)state;
    rnn_note x[32];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        x[n++] = (rnn_note){1, 0, 72 + i, 90, 4 * i, 4 * i + 3};
    for (int p = 0; p < 3; p++)
        x[n++] = (rnn_note){2, 1, 48 + (int[]){0, 4, 7}[p], 80, 0, 40};
    const rnn_midi_meter meters[] = {{0, 3, 4}, {24, 4, 4}};
    char err[512], path[200];
    size_t size;
    unsigned char *d = rnn_midi_write_mem_meters(x, n, 4, 120, meters, 2, &size, err, sizeof err);
    assert_non_null(d);
    snprintf(path, sizeof path, "%s/cond.mid", tree);
    write_file(path, d, size);
    free(d);

    rnn_dataset ds;
    memset(&ds, 0, sizeof ds);
    const char *p[] = {path};
    assert_int_equal(rnn_dataset_load(&ds, p, 1, RNN_KIND_MELODY, 4, NULL, err, sizeof err), 0);
    unlink(path);
    const rnn_seq *mel = NULL;
    rnn_seq_list *list = NULL;
    for (int s = 0; s < RNN_SPLITS; s++)
        for (size_t i = 0; i < ds.split[s].count; i++)
            if (ds.split[s].seqs[i].channel == 0) {
                mel = &ds.split[s].seqs[i];
                list = &ds.split[s];
            }
    assert_non_null(mel);
    assert_non_null(mel->cond);
    assert_non_null(mel->bar);
    assert_int_equal(mel->start_step, 0);
    for (size_t t = 0; t < mel->len; t++) {
        const uint32_t c = mel->cond[t];
        /* 3/4 bars of 12 steps until step 24, then 4/4 bars of 16 */
        const int bar = t < 24 ? (int)t % 12 : (int)(t - 24) % 16;
        assert_int_equal(c >> 12 & 1, bar == 0);
        assert_int_equal(c >> 13 & 1, t % 4 == 0);
        assert_int_equal(c >> 14 & 511, t % 4);
        assert_int_equal(c >> 23 & 31, bar / 4);
        /* the chord sounds under the whole melody: C, E, G */
        assert_int_equal(c & 0xFFF, t < 40 ? 0x091 : 0);
        /* the lookback's bar: the meter's, 12 then 16 steps */
        assert_int_equal(mel->bar[t], t < 24 ? 12 : 16);
    }

    /* the batcher's columns: metric then harmony, transposed with the melody */
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, RNN_CELL_GRU, 1, 0, 4, 130, RNN_COND_ALL, 0, 0, 0, 0, 0, 0};
    const int C = rnn_model_cond_columns(&cfg), hm = rnn_model_cond_offset(&cfg, RNN_COND_HARMONY);
    assert_int_equal(C, 46);
    float cols[46];
    rnn_cond_code_columns(mel->cond[13], &cfg, 0, 1, cols);
    /* step 13: beat 0 of bar 1 of 3/4 plus one step */
    assert_true(cols[0] == 0 && cols[1] == 0 && cols[2 + 1] == 1 && cols[2 + 16 + 0] == 1);
    assert_true(cols[hm + 0] == 1 && cols[hm + 4] == 1 && cols[hm + 7] == 1);
    rnn_cond_code_columns(mel->cond[13], &cfg, 2, 1, cols);
    assert_true(cols[hm + 0] == 0 && cols[hm + 2] == 1 && cols[hm + 6] == 1 && cols[hm + 9] == 1);
    rnn_cond_code_columns(mel->cond[13], &cfg, -8, 1, cols); /* C E G down 8: E G# B */
    assert_true(cols[hm + 4] == 1 && cols[hm + 8] == 1 && cols[hm + 11] == 1);
    rnn_cond_code_columns(mel->cond[13], &cfg, 0, 0, cols);
    for (int k = 0; k < 12; k++)
        assert_true(cols[hm + k] == 0);

    enum { B = 2, T = 16 };
    int32_t in[T * B], tg[T * B];
    for (int drop = 0; drop <= 1; drop++) {
        rnn_batcher *bt = rnn_batcher_create(list, RNN_KIND_MELODY, B, T, 1, 0, 9);
        assert_non_null(bt);
        assert_null(rnn_batcher_cond(bt));
        assert_int_equal(rnn_batcher_set_conditions(bt, &cfg, (float)drop), 0);
        for (int w = 0; w < 6; w++) {
            rnn_batcher_next(bt, NULL, in, tg);
            const float *cd = rnn_batcher_cond(bt);
            assert_non_null(cd);
            for (int r = 0; r < T * B; r++) {
                float on = 0, beats = 0;
                for (int k = 0; k < 12; k++)
                    on += cd[(size_t)r * C + hm + k];
                for (int k = 0; k < 16; k++)
                    beats += cd[(size_t)r * C + 2 + 16 + k];
                assert_true(beats == 1 || (beats == 0 && tg[r] < 0)); /* one beat column */
                if (drop) assert_true(on == 0);
                if (!drop && in[r] != 0 && tg[r] >= 0) assert_true(on == 3);
            }
        }
        rnn_batcher_free(bt);
    }

    /* an ordered batcher over the melody alone: the input of step t hears
     * the conditions of step t, or of step t + 1 (the step its target is
     * of) for a model with RNN_COND_NEXT */
    rnn_seq_list one = {(rnn_seq *)mel, 1};
    for (int ahead = 0; ahead <= 1; ahead++) {
        rnn_model_config c2 = cfg;
        c2.conditions = RNN_COND_ALL | (ahead ? RNN_COND_NEXT : 0);
        rnn_batcher *bt = rnn_batcher_create(&one, RNN_KIND_MELODY, 1, T, 0, 0, 9);
        assert_non_null(bt);
        assert_int_equal(rnn_batcher_set_conditions(bt, &c2, 0.0f), 0);
        size_t checked = 0;
        for (size_t pos = 0; pos + 1 < mel->len; pos += T) {
            assert_true(rnn_batcher_next(bt, NULL, in, tg) > 0);
            const float *cd = rnn_batcher_cond(bt);
            for (int t = 0; t < T && tg[t] >= 0; t++, checked++) {
                assert_int_equal(in[t], mel->events[pos + (size_t)t]);
                assert_int_equal(tg[t], mel->events[pos + (size_t)t + 1]);
                rnn_cond_code_columns(mel->cond[pos + (size_t)t + (size_t)ahead], &c2, 0, 1, cols);
                assert_memory_equal(cd + (size_t)t * C, cols, sizeof cols);
            }
        }
        assert_int_equal(checked, mel->len - 1);
        rnn_batcher_free(bt);
    }
    rnn_dataset_free(&ds);
}

static void test_dataset_errors(void **state)
{
    (void)state;
    rnn_dataset ds;
    memset(&ds, 0, sizeof ds);
    char err[512];
    char missing[200];
    snprintf(missing, sizeof missing, "%s/no-such-folder", tree);
    const char *p1[] = {missing};
    assert_int_equal(rnn_dataset_load(&ds, p1, 1, RNN_KIND_MELODY, 4, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-folder"));
    rnn_dataset_free(&ds);
    const char *p2[] = {paths[4]}; /* a file named explicitly is read whatever its name */
    assert_int_equal(rnn_dataset_load(&ds, p2, 1, RNN_KIND_MELODY, 4, NULL, err, sizeof err), 0);
    assert_int_equal(ds.files[RNN_SPLIT_TRAIN], 1);
    rnn_dataset_free(&ds);
    char sub[200];
    snprintf(sub, sizeof sub, "%s/b/c/empty", tree);
    assert_int_equal(mkdir(sub, 0755), 0); /* a folder with no MIDI file in it */
    const char *p3[] = {sub};
    assert_int_equal(rnn_dataset_load(&ds, p3, 1, RNN_KIND_MELODY, 4, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "no MIDI file"));
    rnn_dataset_free(&ds);
    rmdir(sub);
    /* an unknown kind */
    assert_int_equal(rnn_dataset_load(&ds, p2, 1, (rnn_kind)5, 4, NULL, err, sizeof err), -1);
    rnn_dataset_free(&ds);
}

/* ------------------------------------------------------------------------ */
/* The command line */

static char tool[512];

static void test_cli_usage(void **state)
{
    (void)state;
    char *out;
    char *a0[] = {tool, NULL};
    assert_int_equal(spawn_capture(a0, NULL), 2);
    char *a1[] = {tool, "--help", NULL};
    assert_int_equal(spawn_capture(a1, &out), 0);
    assert_non_null(strstr(out, "notes"));
    assert_non_null(strstr(out, "encode"));
    assert_non_null(strstr(out, "stats"));
    free(out);
    static const char *cmds[] = {"notes", "encode", "stats"};
    for (int i = 0; i < 3; i++) {
        char *a[] = {tool, (char *)cmds[i], "--help", NULL};
        assert_int_equal(spawn_capture(a, &out), 0);
        char want[64];
        snprintf(want, sizeof want, "Usage: rnnmidi-data %s", cmds[i]);
        assert_non_null(strstr(out, want));
        free(out);
    }
    char *bad[][6] = {
        {tool, "frobnicate", NULL},
        {tool, "notes", NULL},
        {tool, "notes", "a.mid", "b.mid", NULL},
        {tool, "notes", "--kind", "melody", "a.mid", NULL},
        {tool, "encode", "tests/fixtures/midi/glued.mid", NULL},
        {tool, "encode", "--kind", "piano", "tests/fixtures/midi/glued.mid", NULL},
    };
    for (int i = 0; i < 6; i++)
        assert_int_equal(spawn_capture(bad[i], NULL), 2);
    char *bad2[] = {tool, "encode", "--kind", "melody", "--steps-per-quarter", "0", "x.mid", NULL};
    assert_int_equal(spawn_capture(bad2, NULL), 2);
    char *bad3[] = {tool, "stats", NULL};
    assert_int_equal(spawn_capture(bad3, NULL), 2);
    /* bad input: exit status 1 */
    char *in1[] = {tool, "notes", "tests/fixtures/midi/no-such.mid", NULL};
    assert_int_equal(spawn_capture(in1, NULL), 1);
    char *in2[] = {tool, "notes", paths[6], NULL};
    assert_int_equal(spawn_capture(in2, NULL), 1);
    char *in3[] = {tool, "encode", "--kind", "drums", paths[7], NULL};
    assert_int_equal(spawn_capture(in3, NULL), 1);
    char missing[200];
    snprintf(missing, sizeof missing, "%s/none", tree);
    char *in4[] = {tool, "stats", missing, NULL};
    assert_int_equal(spawn_capture(in4, NULL), 1);
}

/* Append printf output to a growing string. */
static void cat(char **s, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    *s = realloc(*s, *n + (size_t)k + 1);
    assert_non_null(*s);
    va_start(ap, fmt);
    vsnprintf(*s + *n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    *n += (size_t)k;
}

static void test_cli_notes_and_encode(void **state)
{
    (void)state;
    static const char *files[] = {"tests/fixtures/midi/fmt1_tracks.mid",
                                  "tests/fixtures/midi/fmt0_running_status.mid", NULL};
    files[2] = paths[3];
    for (int i = 0; i < 3; i++) {
        rnn_midi_file f;
        char err[512];
        assert_int_equal(rnn_midi_read_path(files[i], NULL, NULL, &f, err, sizeof err), 0);
        char *want = NULL;
        size_t n = 0;
        cat(&want, &n, "# ppq %d\n", f.ppq);
        for (size_t k = 0; k < f.n_notes; k++)
            cat(&want, &n, "%d %d %d %d %lld %lld\n", f.notes[k].track, f.notes[k].channel,
                f.notes[k].pitch, f.notes[k].velocity, (long long)f.notes[k].on,
                (long long)f.notes[k].off);
        char *out;
        char *a[] = {tool, "notes", (char *)files[i], NULL};
        assert_int_equal(spawn_capture(a, &out), 0);
        assert_string_equal(out, want);
        free(out);
        free(want);

        for (int kind = RNN_KIND_MELODY; kind <= RNN_KIND_DRUMS; kind++) {
            for (int spq = 1; spq <= 4; spq += 3) {
                rnn_seq_list l = {0};
                assert_int_equal(
                    rnn_encode((rnn_kind)kind, f.notes, f.n_notes, f.ppq, spq, &l, err, sizeof err),
                    0);
                want = NULL;
                n = 0;
                cat(&want, &n, "%s", "");
                for (size_t s = 0; s < l.count; s++)
                    for (size_t t = 0; t < l.seqs[s].len; t++)
                        cat(&want, &n, t + 1 < l.seqs[s].len ? "%d " : "%d\n", l.seqs[s].events[t]);
                char spqs[16];
                snprintf(spqs, sizeof spqs, "%d", spq);
                char *e[] = {tool,
                             "encode",
                             "--kind",
                             kind == RNN_KIND_MELODY ? "melody" : "drums",
                             "--steps-per-quarter",
                             spqs,
                             (char *)files[i],
                             NULL};
                assert_int_equal(spawn_capture(e, &out), 0);
                assert_string_equal(out, want);
                if (i == 2 && spq == 4) assert_int_equal(l.count, 1);
                free(out);
                free(want);
                rnn_seq_list_free(&l);
            }
        }
        rnn_midi_free(&f);
    }
}

static void test_cli_stats(void **state)
{
    (void)state;
    char *out;
    char *a[] = {tool, "stats", tree, NULL};
    assert_int_equal(spawn_capture(a, &out), 0);
    /* the figures the library gives, in the tool's layout */
    for (int k = RNN_KIND_MELODY; k <= RNN_KIND_DRUMS; k++) {
        rnn_dataset ds;
        memset(&ds, 0, sizeof ds);
        char err[256];
        const char *p[] = {tree};
        assert_int_equal(rnn_dataset_load(&ds, p, 1, (rnn_kind)k, 4, NULL, err, sizeof err), 0);
        for (int s = 0; s < RNN_SPLITS; s++) {
            size_t steps = 0, empty = 0;
            for (size_t i = 0; i < ds.split[s].count; i++) {
                steps += ds.split[s].seqs[i].len;
                for (size_t t = 0; t < ds.split[s].seqs[i].len; t++)
                    empty += ds.split[s].seqs[i].events[t] == 0;
            }
            char line[256];
            snprintf(line, sizeof line, "%-7s %-6s %6zu %10zu %10zu %10zu %9.4f\n",
                     k == 1 ? "melody" : "drums", rnn_split_name((rnn_split)s), ds.files[s],
                     ds.split[s].count, steps, ds.notes[s], (double)empty / (double)steps);
            if (!strstr(out, line)) fail_msg("missing line: %s in:\n%s", line, out);
        }
        rnn_dataset_free(&ds);
    }
    assert_non_null(strstr(out, "failed 2\n"));
    char line[400];
    snprintf(line, sizeof line, "failed %s: %s: offset 8: format 2", paths[6], paths[6]);
    assert_non_null(strstr(out, line));
    free(out);
}

int main(void)
{
    const char *dir = getenv("RNNMIDI_TOOLS");
    snprintf(tool, sizeof tool, "%s/rnnmidi-data", dir && *dir ? dir : "build/test");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_sha256_matches_sha256sum),
        cmocka_unit_test(test_split_names),    cmocka_unit_test(test_dataset_load),
        cmocka_unit_test(test_dataset_errors), cmocka_unit_test(test_dataset_conditions),
        cmocka_unit_test(test_cli_usage),      cmocka_unit_test(test_cli_notes_and_encode),
        cmocka_unit_test(test_cli_stats),
    };
    return cmocka_run_group_tests(tests, make_tree, remove_tree);
}
