/* SPDX-License-Identifier: MIT */
/* The training run as a whole: a tiny model memorises a short phrase to
 * near-zero loss; a run stopped half way and resumed from its checkpoint
 * gives the same losses and weights as one never interrupted; the batcher
 * covers an evaluation set exactly once; the learning-rate schedule; and the
 * command-line tools (RNNMIDI_TOOLS, else build/test) end to end on generated
 * MIDI files, with their error messages for bad input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/model.h"
#include "../../core/midifile.h"
#include "../../training/train.h"
#include "../support/shell.h"

/* A melody of n steps: a phrase of 16 note-ons, note-offs and holds. */
static rnn_seq make_seq(size_t n, int seed)
{
    rnn_seq s = {0};
    s.events = calloc(n, sizeof(int32_t));
    assert_non_null(s.events);
    s.len = n;
    static const int phrase[16] = {60, -1, 62, 64, -2, 65, -1, 67, 69, -1, -2, 67, 65, 64, -1, 62};
    for (size_t i = 0; i < n; i++) {
        int p = phrase[(i + (size_t)seed) % 16];
        s.events[i] = p == -1   ? RNN_MELODY_NO_EVENT
                      : p == -2 ? RNN_MELODY_NOTE_OFF
                                : RNN_MELODY_NOTE_ON(p + seed % 5);
    }
    return s;
}

static void free_list(rnn_seq_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->seqs[i].events);
    free(l->seqs);
    l->seqs = NULL;
    l->count = 0;
}

static void tiny_options(rnn_train_options *o)
{
    rnn_train_options_default(o, RNN_KIND_MELODY);
    o->cfg.layers = 1;
    o->cfg.embed = 8;
    o->cfg.hidden = 32;
    o->batch = 4;
    o->seq_len = 16;
    o->lr = 1e-2f;
    o->warmup = 10;
    o->dropout = 0;
    o->weight_decay = 0;
    o->transpose = 0;
    o->threads = 1;
    o->checkpoint_seconds = 0;
}

static void test_memorise(void **state)
{
    (void)state;
    rnn_seq_list train = {calloc(1, sizeof(rnn_seq)), 1};
    assert_non_null(train.seqs);
    train.seqs[0] = make_seq(192, 0);
    rnn_train_options o;
    tiny_options(&o);
    o.epochs = 1;
    o.steps_per_epoch = 400;
    o.lr_min_ratio = 0.1f;
    rnn_train_result res;
    char err[256];
    assert_int_equal(rnn_train_run(&o, &train, NULL, &res, err, sizeof err), 0);
    print_message("memorise: loss %.5f after %ld steps\n", res.last_loss, res.steps);
    assert_int_equal(res.steps, 400);
    assert_true(res.last_loss < 0.05);
    free(res.best_params);
    free_list(&train);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

/* The CSV rows without the last column (steps per second, a timing). */
static char *strip_rate(const char *csv)
{
    char *out = malloc(strlen(csv) + 1), *o = out;
    assert_non_null(out);
    for (const char *line = csv; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *comma = end;
        while (comma > line && *comma != ',')
            comma--;
        memcpy(o, line, (size_t)(comma - line));
        o += comma - line;
        *o++ = '\n';
        line = *end ? end + 1 : end;
    }
    *o = 0;
    return out;
}

/* window, asize: the attention (0, 0 for none), whose carried past
 * outputs the checkpoint holds */
static void resume_identical(int window, int asize)
{
    rnn_seq_list train = {calloc(6, sizeof(rnn_seq)), 6}, valid = {calloc(2, sizeof(rnn_seq)), 2};
    assert_true(train.seqs && valid.seqs);
    for (int i = 0; i < 6; i++)
        train.seqs[i] = make_seq(40 + 17 * (size_t)i, i);
    for (int i = 0; i < 2; i++)
        valid.seqs[i] = make_seq(50, 7 + i);

    char dir[] = "/tmp/rnnmidi-train-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ck_a[128], ck_b[128], log_a[128], log_b[128];
    snprintf(ck_a, sizeof ck_a, "%s/a.ckpt", dir);
    snprintf(ck_b, sizeof ck_b, "%s/b.ckpt", dir);
    snprintf(log_a, sizeof log_a, "%s/a.csv", dir);
    snprintf(log_b, sizeof log_b, "%s/b.csv", dir);

    rnn_train_options o;
    tiny_options(&o);
    o.cfg.layers = 2;
    o.cfg.cell = RNN_CELL_GRU;
    o.dropout = 0.2f;
    o.transpose = 3;
    o.weight_decay = 0.01f;
    o.epochs = 4;
    o.steps_per_epoch = 10;
    o.threads = 2;
    o.cfg.attn_window = window;
    o.cfg.attn_size = asize;
    char err[256];

    /* A: 40 steps in one go */
    rnn_train_result ra, rb1, rb2;
    o.checkpoint_path = ck_a;
    o.log_csv = fopen(log_a, "w");
    assert_non_null(o.log_csv);
    assert_int_equal(rnn_train_run(&o, &train, &valid, &ra, err, sizeof err), 0);
    fclose(o.log_csv);

    /* B: 20 steps, then resumed to 40 */
    o.checkpoint_path = ck_b;
    o.max_steps = 20;
    o.log_csv = fopen(log_b, "w");
    assert_non_null(o.log_csv);
    assert_int_equal(rnn_train_run(&o, &train, &valid, &rb1, err, sizeof err), 0);
    assert_int_equal(rb1.steps, 20);
    assert_int_equal(rnn_train_checkpoint_steps(ck_b), 20);
    o.max_steps = 0;
    o.resume_path = ck_b;
    assert_int_equal(rnn_train_run(&o, &train, &valid, &rb2, err, sizeof err), 0);
    fclose(o.log_csv);

    assert_int_equal(ra.steps, 40);
    assert_int_equal(rb2.steps, 40);
    assert_int_equal(ra.epochs, rb2.epochs);
    assert_true(ra.best_valid == rb2.best_valid);
    assert_int_equal(ra.n_params, rb2.n_params);
    assert_memory_equal(ra.best_params, rb2.best_params, ra.n_params * sizeof(float));
    char *ta = read_text(log_a), *tb = read_text(log_b);
    assert_true(ta && tb);
    char *sa = strip_rate(ta), *sb = strip_rate(tb);
    assert_string_equal(sa, sb);
    assert_non_null(strstr(sa, "\n40,4,"));

    /* a checkpoint from another configuration is refused with a reason */
    o.cfg.hidden = 16;
    rnn_train_result rc;
    assert_int_equal(rnn_train_run(&o, &train, &valid, &rc, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot resume"));

    free(ta);
    free(tb);
    free(sa);
    free(sb);
    free(ra.best_params);
    free(rb1.best_params);
    free(rb2.best_params);
    remove(ck_a);
    remove(ck_b);
    remove(log_a);
    remove(log_b);
    rmdir(dir);
    free_list(&train);
    free_list(&valid);
}

static void test_resume_identical(void **state)
{
    (void)state;
    resume_identical(0, 0);
}

static void test_resume_identical_attention(void **state)
{
    (void)state;
    resume_identical(12, 6);
}

static void test_interrupt_checkpoints(void **state)
{
    (void)state;
    rnn_seq_list train = {calloc(1, sizeof(rnn_seq)), 1};
    assert_non_null(train.seqs);
    train.seqs[0] = make_seq(64, 1);
    char dir[] = "/tmp/rnnmidi-train-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ck[128];
    snprintf(ck, sizeof ck, "%s/i.ckpt", dir);
    rnn_train_options o;
    tiny_options(&o);
    o.steps_per_epoch = 5;
    o.checkpoint_path = ck;
    volatile sig_atomic_t stop = 1;
    o.interrupt = &stop;
    rnn_train_result res;
    char err[256];
    assert_int_equal(rnn_train_run(&o, &train, NULL, &res, err, sizeof err), 0);
    assert_true(res.interrupted);
    assert_int_equal(res.steps, 0);
    assert_int_equal(rnn_train_checkpoint_steps(ck), 0);
    free(res.best_params);
    remove(ck);
    rmdir(dir);
    free_list(&train);
}

static void test_batcher_covers_once(void **state)
{
    (void)state;
    rnn_seq_list l = {calloc(7, sizeof(rnn_seq)), 7};
    assert_non_null(l.seqs);
    long expect = 0;
    for (int i = 0; i < 7; i++) {
        l.seqs[i] = make_seq(1 + 23 * (size_t)i, i);
        expect += (long)l.seqs[i].len - 1;
    }
    rnn_batcher *bt = rnn_batcher_create(&l, RNN_KIND_MELODY, 3, 10, 0, 0, 0);
    assert_non_null(bt);
    int32_t in[30], tg[30];
    long total = 0, got;
    while ((got = rnn_batcher_next(bt, NULL, in, tg)) > 0)
        total += got;
    assert_int_equal(total, expect);
    rnn_batcher_free(bt);
    free_list(&l);
}

static void test_lr_schedule(void **state)
{
    (void)state;
    rnn_train_options o;
    rnn_train_options_default(&o, RNN_KIND_MELODY);
    o.lr = 1e-3f;
    o.warmup = 10;
    o.lr_min_ratio = 0.1f;
    assert_true(fabs(rnn_train_lr(&o, 0, 110) - 1e-4) < 1e-9);
    assert_true(fabs(rnn_train_lr(&o, 9, 110) - 1e-3) < 1e-9);
    assert_true(fabs(rnn_train_lr(&o, 60, 110) - 0.55e-3) < 1e-9);
    assert_true(fabs(rnn_train_lr(&o, 110, 110) - 1e-4) < 1e-9);
}

/* ------------------------------------------------------------------------ */
/* The tools. */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

static void test_tools_end_to_end(void **state)
{
    (void)state;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/rnnmidi-train", test_tools_dir());
    if (access(bin, X_OK) != 0) fail_msg("%s is not built", bin);
    char dir[] = "/tmp/rnnmidi-train-tools-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600], err[256], out[8192];
    snprintf(sub, sizeof sub, "%s/midi", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    /* ten files of a few bars: scales with varied rhythm */
    for (int f = 0; f < 10; f++) {
        rnn_note notes[64];
        int n = 0;
        int64_t t = 0;
        for (int i = 0; i < 64; i++) {
            int len = 120 * (1 + (i + f) % 3);
            notes[n++] = (rnn_note){1, 0, 60 + (i * (f + 2)) % 12, 90, t, t + len};
            t += len;
        }
        char path[700];
        snprintf(path, sizeof path, "%s/f%d.mid", sub, f);
        assert_int_equal(rnn_midi_write_path(path, notes, (size_t)n, 480, 120, err, sizeof err), 0);
    }
    char model[700];
    snprintf(model, sizeof model, "%s/m.rnnw", dir);
    int rc = test_shell(out, sizeof out,
                 "%s/rnnmidi-train --data %s --kind melody --out %s --hidden 16 --layers 1 "
                 "--embed 8 --batch 4 --seq-len 16 --epochs 2 --steps-per-epoch 6 --threads 2",
                 test_tools_dir(), sub, model);
    if (rc != 0) fail_msg("rnnmidi-train exited %d:\n%s", rc, out);
    char path[800];
    assert_true(exists(model));
    snprintf(path, sizeof path, "%s/m.csv", dir);
    assert_true(exists(path));
    char *csv = read_text(path);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "step,epoch,train_loss,valid_nll,lr,grad_norm,steps_per_s\n1,"));
    assert_non_null(strstr(csv, "\n12,2,"));
    free(csv);
    snprintf(path, sizeof path, "%s/m.svg", dir);
    assert_true(exists(path));
    rnn_model *m = rnn_model_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_string_equal(rnn_model_meta(m, "steps"), "12");
    assert_non_null(rnn_model_meta(m, "command"));
    assert_non_null(rnn_model_meta(m, "created"));
    rnn_model_free(m);

    /* eval prints its one line */
    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s %s", test_tools_dir(), model, sub);
    if (rc != 0) fail_msg("rnnmidi-eval exited %d:\n%s", rc, out);
    double nll, bits, acc, enll, eacc;
    long steps, files;
    assert_int_equal(sscanf(strstr(out, "nll_nats="),
                            "nll_nats=%lf bits=%lf accuracy=%lf event_nll_nats=%lf "
                            "event_accuracy=%lf steps=%ld files=%ld",
                            &nll, &bits, &acc, &enll, &eacc, &steps, &files),
                     7);
    assert_int_equal(files, 10);
    assert_true(nll > 0 && nll < log(130.0));
    assert_true(fabs(bits - nll / log(2.0)) < 1e-3);

    /* gen writes a MIDI file the reader takes back */
    char mid[800];
    snprintf(mid, sizeof mid, "%s/g.mid", dir);
    snprintf(path, sizeof path, "%s/f0.mid", sub);
    rc = test_shell(out, sizeof out,
             "%s/rnnmidi-gen --model %s --primer %s --bars 4 --temperature 0.9 --top-p 0.9 "
             "--seed 3 --tempo 100 --out %s",
             test_tools_dir(), model, path, mid);
    if (rc != 0) fail_msg("rnnmidi-gen exited %d:\n%s", rc, out);
    rnn_midi_file mf;
    assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &mf, err, sizeof err), 0);
    assert_true(mf.n_notes > 0);
    for (size_t i = 0; i < mf.n_notes; i++)
        assert_true(mf.notes[i].off <= 4 * 4 * 480);
    rnn_midi_free(&mf);

    /* bad input: a clear message and a non-zero exit, no preset left behind */
    char bad[800];
    snprintf(bad, sizeof bad, "%s/never.rnnw", dir);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-train --data %s/missing --kind melody --out %s", test_tools_dir(),
             dir, bad);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "missing"));
    assert_false(exists(bad));
    rc = test_shell(out, sizeof out, "%s/rnnmidi-train --data %s --kind melody --out %s --hidden 0",
             test_tools_dir(), sub, bad);
    assert_int_equal(rc, 2);
    assert_false(exists(bad));
    rc = test_shell(out, sizeof out, "%s/rnnmidi-train --data %s --kind drums --init %s --out %s", test_tools_dir(),
             sub, model, bad);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "melody preset, not drums"));
    assert_false(exists(bad));
    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s/none.rnnw %s", test_tools_dir(), dir, sub);
    assert_int_not_equal(rc, 0);

    /* fine-tuning starts from the preset's weights and keeps its shape */
    char tuned[800];
    snprintf(tuned, sizeof tuned, "%s/tuned.rnnw", dir);
    rc = test_shell(out, sizeof out,
             "%s/rnnmidi-train --data %s --init %s --out %s --batch 4 --seq-len 16 --epochs 1 "
             "--steps-per-epoch 3 --threads 1",
             test_tools_dir(), sub, model, tuned);
    if (rc != 0) fail_msg("rnnmidi-train --init exited %d:\n%s", rc, out);
    m = rnn_model_load(tuned, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(rnn_model_get_config(m)->hidden, 16);
    assert_int_equal(rnn_model_get_config(m)->embed, 8);
    assert_string_equal(rnn_model_meta(m, "steps"), "3");
    /* three warm-up steps move a weight by at most 3 x lr(3e-5): the weights are the
     * preset's, not a fresh initialisation */
    rnn_model *m0 = rnn_model_load(model, err, sizeof err);
    assert_non_null(m0);
    size_t nw = 0, nw0 = 0;
    const float *w = rnn_model_tensor(m, "rnn.weight_hh_l0", &nw),
                *w0 = rnn_model_tensor(m0, "rnn.weight_hh_l0", &nw0);
    assert_true(w && w0 && nw == nw0);
    for (size_t i = 0; i < nw; i++)
        assert_true(fabsf(w[i] - w0[i]) < 1e-3f);
    rnn_model_free(m0);
    rnn_model_free(m);

    /* a resumed CLI run continues to the same step count */
    rc = test_shell(out, sizeof out,
             "%s/rnnmidi-train --data %s --kind melody --out %s --hidden 16 --layers 1 "
             "--embed 8 --batch 4 --seq-len 16 --epochs 3 --steps-per-epoch 6 --threads 2 "
             "--resume",
             test_tools_dir(), sub, model);
    if (rc != 0) fail_msg("rnnmidi-train --resume exited %d:\n%s", rc, out);
    m = rnn_model_load(model, err, sizeof err);
    assert_non_null(m);
    assert_string_equal(rnn_model_meta(m, "steps"), "18");
    rnn_model_free(m);

    test_shell(out, sizeof out, "rm -rf %s", dir);
}

/* The conditions through the tools: rnnmidi-train --conditions writes a
 * version 2 preset; rnnmidi-eval computes the files' conditions (and
 * --no-harmony changes the figure of a harmony model only); rnnmidi-gen
 * plays over a --harmony file (its notes, meter and length kept, the new
 * line on a track of its own) or in a --meter. */
static void test_tools_conditions(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-train-cond-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600], err[256], out[8192], path[800];
    snprintf(sub, sizeof sub, "%s/midi", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    /* ten files in 3/4: a line on channel 0 over chords on channel 1 */
    const rnn_midi_meter three[] = {{0, 3, 4}};
    for (int f = 0; f < 10; f++) {
        rnn_note notes[128];
        int n = 0;
        int64_t t = 0;
        for (int i = 0; i < 64; i++) {
            int len = 120 * (1 + (i + f) % 3);
            notes[n++] = (rnn_note){1, 0, 72 + (i * (f + 2)) % 12, 90, t, t + len};
            t += len;
        }
        for (int64_t c = 0; c + 1440 <= t; c += 1440)
            for (int k = 0; k < 3; k++)
                notes[n++] =
                    (rnn_note){2, 1, 48 + (int)(c / 1440 % 5) + 4 * k - (k == 2), 70, c, c + 1440};
        snprintf(path, sizeof path, "%s/f%d.mid", sub, f);
        assert_int_equal(
            rnn_midi_write_path_meters(path, notes, (size_t)n, 480, 120, three, 1, err, sizeof err),
            0);
    }
    char model[700], plain[700];
    snprintf(model, sizeof model, "%s/c.rnnw", dir);
    snprintf(plain, sizeof plain, "%s/p.rnnw", dir);
    const char *shape = "--kind melody --hidden 16 --layers 1 --embed 8 --batch 4 --seq-len 16 "
                        "--epochs 1 --steps-per-epoch 30 --warmup 0 --lr 0.01 --threads 1";
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-train --data %s --out %s %s --conditions "
                        "harmony,metric --harmony-drop 0.5",
                        test_tools_dir(), sub, model, shape);
    if (rc != 0) fail_msg("rnnmidi-train --conditions exited %d:\n%s", rc, out);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-train --data %s --out %s %s --conditions none",
                    test_tools_dir(), sub, plain, shape);
    if (rc != 0) fail_msg("rnnmidi-train --conditions none exited %d:\n%s", rc, out);
    rnn_model *m = rnn_model_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(rnn_model_get_config(m)->conditions, RNN_COND_ALL | RNN_COND_NEXT);
    rnn_model_free(m);
    m = rnn_model_load(plain, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(rnn_model_get_config(m)->conditions, 0);
    rnn_model_free(m);
    FILE *fp = fopen(model, "rb");
    unsigned char head[16];
    assert_non_null(fp);
    assert_int_equal(fread(head, 1, 16, fp), 16);
    fclose(fp);
    assert_int_equal(head[8], 2);   /* version 2 */
    assert_int_equal(head[12], 96); /* its header */

    /* eval: with and without the harmony */
    double nll[4];
    const char *which[4] = {model, model, plain, plain};
    for (int k = 0; k < 4; k++) {
        rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s %s %s", test_tools_dir(),
                        which[k], k % 2 ? "--no-harmony" : "", sub);
        if (rc != 0) fail_msg("rnnmidi-eval exited %d:\n%s", rc, out);
        assert_non_null(strstr(out, "nll_nats="));
        assert_int_equal(sscanf(strstr(out, "nll_nats="), "nll_nats=%lf", &nll[k]), 1);
        assert_true(nll[k] > 0 && nll[k] < log(130.0));
    }
    assert_true(nll[0] != nll[1]); /* the harmony reaches the net */
    assert_true(nll[2] == nll[3]); /* a model without it does not care */

    /* gen over a file: its notes, meter and length, and a new line beside */
    char mid[800], src[800];
    snprintf(mid, sizeof mid, "%s/over.mid", dir);
    snprintf(src, sizeof src, "%s/f3.mid", sub);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-gen --model %s --harmony %s --seed 2 --out %s",
                    test_tools_dir(), model, src, mid);
    if (rc != 0) fail_msg("rnnmidi-gen --harmony exited %d:\n%s", rc, out);
    rnn_midi_file a, b;
    assert_int_equal(rnn_midi_read_path(src, NULL, NULL, &a, err, sizeof err), 0);
    assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.ppq, a.ppq);
    assert_int_equal(b.n_meters, 1);
    assert_int_equal(b.meters[0].num, 3);
    assert_int_equal(b.meters[0].den, 4);
    assert_true(b.n_notes > a.n_notes);
    size_t kept = 0, fresh = 0;
    int64_t end = 0;
    for (size_t i = 0; i < a.n_notes; i++)
        if (a.notes[i].off > end) end = a.notes[i].off;
    for (size_t i = 0; i < b.n_notes; i++) {
        if (b.notes[i].channel == 0 || b.notes[i].channel == 1) {
            kept++;
        } else {
            fresh++;
            assert_int_equal(b.notes[i].channel, 2); /* the first channel the file leaves free */
            assert_true(b.notes[i].off <= end);
        }
    }
    assert_int_equal(kept, a.n_notes);
    assert_true(fresh > 0);
    rnn_midi_free(&a);
    rnn_midi_free(&b);

    /* gen in a meter of its own */
    rc = test_shell(out, sizeof out,
                    "%s/rnnmidi-gen --model %s --meter 3/4 --bars 2 --seed 4 --out %s",
                    test_tools_dir(), model, mid);
    if (rc != 0) fail_msg("rnnmidi-gen --meter exited %d:\n%s", rc, out);
    assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.n_meters, 1);
    assert_int_equal(b.meters[0].num, 3);
    for (size_t i = 0; i < b.n_notes; i++)
        assert_true(b.notes[i].off <= 2 * 3 * 480);
    rnn_midi_free(&b);

    /* refused: bad lists, harmony for drums, other conditions when fine-tuning, bad meters */
    char bad[800];
    snprintf(bad, sizeof bad, "%s/never.rnnw", dir);
    rc = test_shell(out, sizeof out,
                    "%s/rnnmidi-train --data %s --out %s --kind melody "
                    "--conditions metric,chords",
                    test_tools_dir(), sub, bad);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--conditions 'metric,chords' is not"));
    rc = test_shell(out, sizeof out,
                    "%s/rnnmidi-train --data %s --out %s --kind drums "
                    "--conditions harmony",
                    test_tools_dir(), sub, bad);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "harmony condition is for melody models"));
    rc = test_shell(out, sizeof out,
                    "%s/rnnmidi-train --data %s --out %s --init %s "
                    "--conditions metric",
                    test_tools_dir(), sub, bad, model);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "drop --conditions when fine-tuning"));
    assert_false(exists(bad));
    rc = test_shell(out, sizeof out, "%s/rnnmidi-gen --model %s --meter 3/5 --out %s",
                    test_tools_dir(), model, mid);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--meter '3/5' is not N/D"));
    test_shell(out, sizeof out, "rm -rf %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memorise),
        cmocka_unit_test(test_resume_identical),
        cmocka_unit_test(test_resume_identical_attention),
        cmocka_unit_test(test_interrupt_checkpoints),
        cmocka_unit_test(test_batcher_covers_once),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_tools_end_to_end),
        cmocka_unit_test(test_tools_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
