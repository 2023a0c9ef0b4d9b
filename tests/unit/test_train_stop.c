/* SPDX-License-Identifier: MIT */
/* How a training run ends: a run that stops between validations (--max-steps,
 * a signal) validates its last weights and writes the best validated ones,
 * saying which step they come from; the progress output counts the whole
 * run, up to 100% at its last step; SIGTERM, like Ctrl-C, leaves a
 * checkpoint that --resume continues from and a preset, promptly. The
 * command-line tools come from RNNMIDI_TOOLS, else build/test. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/model.h"
#include "../../core/midifile.h"
#include "../../training/train.h"
#include "../support/shell.h"

/* A folder of small melodies (scales in varied rhythms), some of which the
 * split puts in the valid set; dir receives the scratch folder, sub the MIDI
 * folder in it. */
static void make_corpus(char *dir, size_t dn, char *sub, size_t sn)
{
    snprintf(dir, dn, "/tmp/rnnmidi-train-stop-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sn, "%s/midi", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    char err[256];
    for (int f = 0; f < 12; f++) {
        rnn_note notes[64];
        int64_t t = 0;
        for (int i = 0; i < 64; i++) {
            int len = 120 * (1 + (i + f) % 3);
            notes[i] = (rnn_note){1, 0, 60 + (i * (f + 2)) % 12, 90, t, t + len};
            t += len;
        }
        char path[700];
        snprintf(path, sizeof path, "%s/f%d.mid", sub, f);
        assert_int_equal(rnn_midi_write_path(path, notes, 64, 480, 120, err, sizeof err), 0);
    }
}

static double eval_nll(const char *model, const char *sub)
{
    char out[8192];
    int rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s %s", test_tools_dir(), model, sub);
    if (rc != 0) fail_msg("rnnmidi-eval exited %d:\n%s", rc, out);
    const char *s = strstr(out, "nll_nats=");
    assert_non_null(s);
    return atof(s + strlen("nll_nats="));
}

#define TRAIN_ARGS                                                                                 \
    "--kind melody --hidden 16 --layers 1 --embed 8 --batch 4 --seq-len 16 --lr 0.01 "             \
    "--warmup 0 --dropout 0 --threads 1"

/* --max-steps below the first validation: the written weights are the
 * trained ones (validated at the end), not the initial ones, and the
 * message and the metadata name their step. */
static void test_max_steps_before_first_validation(void **state)
{
    (void)state;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/rnnmidi-train", test_tools_dir());
    if (access(bin, X_OK) != 0) fail_msg("%s is not built", bin);
    char dir[64], sub[128], model[256], out[16384], err[256];
    make_corpus(dir, sizeof dir, sub, sizeof sub);
    snprintf(model, sizeof model, "%s/m.rnnw", dir);
    int rc = test_shell(out, sizeof out,
                 "%s/rnnmidi-train --data %s --out %s " TRAIN_ARGS
                 " --epochs 2 --steps-per-epoch 50 --max-steps 12",
                 test_tools_dir(), sub, model);
    if (rc != 0) fail_msg("rnnmidi-train exited %d:\n%s", rc, out);
    if (strstr(out, ", 0 valid,")) fail_msg("the corpus has no valid file:\n%s", out);
    if (!strstr(out, "wrote ") || !strstr(out, "m.rnnw: weights of step 12 (valid NLL "))
        fail_msg("the message does not name the step:\n%s", out);
    assert_null(strstr(out, "best valid NLL none"));

    rnn_model *m = rnn_model_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_string_equal(rnn_model_meta(m, "steps"), "12");
    assert_string_equal(rnn_model_meta(m, "weights_step"), "12");
    const char *v = rnn_model_meta(m, "valid_nll");
    assert_non_null(v);
    assert_true(atof(v) > 0 && atof(v) < log(130.0));
    rnn_model_free(m);

    /* 12 steps at lr 0.01 learn the scales' statistics: well below the
     * NLL of a uniform guess (ln 130 = 4.87), which random weights give */
    double nll = eval_nll(model, sub);
    print_message("NLL after 12 steps: %.4f (ln 130 = %.4f)\n", nll, log(130.0));
    assert_true(nll < log(130.0) - 1.0);

    test_shell(out, sizeof out, "rm -rf %s", dir);
}

/* --dtype: the preset of a run stores its reducible matrices reduced, with
 * the dtype and its source in the metadata; they are the run's float32
 * weights (a run of the same seed without --dtype) rounded by the writer,
 * and every other tensor is those weights as they are. */
static void test_dtype_option(void **state)
{
    (void)state;
    char dir[64], sub[128], ref[256], model[256], out[16384], err[256];
    make_corpus(dir, sizeof dir, sub, sizeof sub);
    snprintf(ref, sizeof ref, "%s/f32.rnnw", dir);
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-train --data %s --out %s " TRAIN_ARGS
                        " --epochs 1 --steps-per-epoch 8 --seed 5",
                        test_tools_dir(), sub, ref);
    if (rc != 0) fail_msg("rnnmidi-train exited %d:\n%s", rc, out);
    rnn_model *f = rnn_model_load(ref, err, sizeof err);
    if (!f) fail_msg("%s", err);
    assert_null(rnn_model_meta(f, "dtype"));
    const rnn_model_config *cfg = rnn_model_get_config(f);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    static const char *const names[] = {"bf16", "int8"};
    for (int v = 0; v < 2; v++) {
        snprintf(model, sizeof model, "%s/%s.rnnw", dir, names[v]);
        rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-train --data %s --out %s " TRAIN_ARGS
                        " --epochs 1 --steps-per-epoch 8 --seed 5 --dtype %s",
                        test_tools_dir(), sub, model, names[v]);
        if (rc != 0) fail_msg("rnnmidi-train --dtype %s exited %d:\n%s", names[v], rc, out);
        rnn_model *m = rnn_model_load(model, err, sizeof err);
        if (!m) fail_msg("%s", err);
        assert_string_equal(rnn_model_meta(m, "dtype"), names[v]);
        char want[64];
        snprintf(want, sizeof want, "float32 weights of step %s",
                 rnn_model_meta(f, "weights_step"));
        assert_string_equal(rnn_model_meta(m, "dtype_source"), want);
        /* the float32 run's weights through the writer */
        const rnn_dtype dt = (rnn_dtype)rnn_dtype_find(names[v]);
        const float *t[RNN_MAX_TENSORS];
        rnn_dtype d[RNN_MAX_TENSORS];
        for (int i = 0; i < n; i++) t[i] = rnn_model_tensor(f, specs[i].name, NULL);
        assert_int_equal(rnn_model_reduced_dtypes(cfg, dt, d), 3); /* weight_ih_l0 (embedded), weight_hh_l0, head.weight */
        void *buf;
        size_t len;
        assert_int_equal(rnn_model_serialize_typed(cfg, NULL, 0, t, d, &buf, &len, err, sizeof err),
                         0);
        rnn_model *q = rnn_model_load_memory(buf, len, "q", err, sizeof err);
        free(buf);
        if (!q) fail_msg("%s", err);
        for (int i = 0; i < n; i++) {
            assert_int_equal(rnn_model_tensor_dtype(m, specs[i].name), d[i]);
            assert_memory_equal(rnn_model_tensor(m, specs[i].name, NULL),
                                rnn_model_tensor(q, specs[i].name, NULL),
                                specs[i].count * sizeof(float));
        }
        rnn_model_free(q);
        rnn_model_free(m);
    }
    rnn_model_free(f);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-train --data %s --out %s/x.rnnw --dtype fp16",
                    test_tools_dir(), sub, dir);
    assert_int_equal(rc, 2);
    if (!strstr(out, "--dtype 'fp16' is not one of fp32, bf16, int8")) fail_msg("%s", out);
    test_shell(out, sizeof out, "rm -rf %s", dir);
}

/* ------------------------------------------------------------------------ */
/* The progress output. */

static rnn_seq make_seq(size_t n, int seed)
{
    rnn_seq s = {0};
    s.events = calloc(n, sizeof(int32_t));
    assert_non_null(s.events);
    s.len = n;
    for (size_t i = 0; i < n; i++)
        s.events[i] = (i + (size_t)seed) % 3 ? RNN_MELODY_NO_EVENT
                                             : RNN_MELODY_NOTE_ON(60 + (int)((i / 3) % 7));
    return s;
}

static void tiny_options(rnn_train_options *o)
{
    rnn_train_options_default(o, RNN_KIND_MELODY);
    o->cfg.layers = 1;
    o->cfg.embed = 8;
    o->cfg.hidden = 16;
    o->batch = 2;
    o->seq_len = 8;
    o->warmup = 0;
    o->dropout = 0;
    o->transpose = 0;
    o->threads = 1;
    o->checkpoint_seconds = 0;
}

/* Train with the progress going to a file; returns its text (malloc'ed). */
static char *progress_of(int tty, int epochs, long spe, long max_steps)
{
    rnn_seq_list train = {calloc(2, sizeof(rnn_seq)), 2}, valid = {calloc(1, sizeof(rnn_seq)), 1};
    assert_true(train.seqs && valid.seqs);
    train.seqs[0] = make_seq(60, 0);
    train.seqs[1] = make_seq(45, 1);
    valid.seqs[0] = make_seq(30, 2);
    rnn_train_options o;
    tiny_options(&o);
    o.epochs = epochs;
    o.steps_per_epoch = spe;
    o.max_steps = max_steps;
    o.patience = 100;
    FILE *f = tmpfile();
    assert_non_null(f);
    o.progress = f;
    o.progress_tty = tty;
    rnn_train_result res;
    char err[256];
    assert_int_equal(rnn_train_run(&o, &train, &valid, &res, err, sizeof err), 0);
    free(res.best_params);
    long n = ftell(f);
    assert_true(n > 0);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = 0;
    fclose(f);
    for (int i = 0; i < 2; i++)
        free(train.seqs[i].events);
    free(valid.seqs[0].events);
    free(train.seqs);
    free(valid.seqs);
    return text;
}

/* Plain lines: "step S/N ... P% ...": P is 100 S / N, rising to 100. */
static void check_lines(const char *text, long stop)
{
    double last = -1;
    long last_step = 0;
    int lines = 0;
    for (const char *s = text; (s = strstr(s, "step ")) != NULL; s++) {
        long step, n;
        int epoch;
        double pct;
        if (sscanf(s, "step %ld/%ld epoch %d %lf%%", &step, &n, &epoch, &pct) != 4) continue;
        lines++;
        assert_int_equal(n, stop);
        if (fabs(pct - 100.0 * (double)step / (double)stop) > 0.051)
            fail_msg("step %ld of %ld shows %.1f%%:\n%s", step, stop, pct, text);
        assert_true(pct >= last);
        last = pct;
        last_step = step;
    }
    assert_true(lines >= 2);
    assert_int_equal(last_step, stop);
    assert_true(last == 100.0);
}

/* The redrawn bar: "\repoch E/N [###...] P%": P rises to 100 once, at the end. */
static void check_bar(const char *text)
{
    double last = -1;
    int draws = 0, full = 0;
    for (const char *s = text; (s = strchr(s, '\r')) != NULL; s++) {
        const char *b = strchr(s, ']');
        assert_non_null(b);
        double pct = atof(b + 1);
        draws++;
        full += pct == 100.0;
        if (pct < last) fail_msg("the bar went back from %.1f%% to %.1f%%:\n%s", last, pct, text);
        last = pct;
    }
    assert_true(draws >= 2);
    assert_true(last == 100.0);
    if (full != 1) fail_msg("the bar shows 100%% %d times:\n%s", full, text);
}

static void test_progress_counts_the_whole_run(void **state)
{
    (void)state;
    char *t = progress_of(0, 3, 4, 0); /* 12 steps, 3 epochs */
    check_lines(t, 12);
    free(t);
    t = progress_of(0, 3, 4, 6); /* stopped half way through epoch 2 */
    check_lines(t, 6);
    assert_non_null(strstr(t, "validating the weights of step 6"));
    free(t);
    t = progress_of(1, 3, 4, 0);
    check_bar(t);
    assert_non_null(strstr(t, "epoch 3/3 ["));
    free(t);
    t = progress_of(1, 3, 4, 6);
    check_bar(t);
    assert_non_null(strstr(t, "epoch 2/2 ["));
    free(t);
}

/* The closing validation of a run stopped mid-epoch chooses the weights it
 * returns but stays out of its checkpoint: resumed, the run ends exactly as
 * one never stopped. */
static void test_stop_mid_epoch_then_resume(void **state)
{
    (void)state;
    rnn_seq_list train = {calloc(2, sizeof(rnn_seq)), 2}, valid = {calloc(1, sizeof(rnn_seq)), 1};
    assert_true(train.seqs && valid.seqs);
    train.seqs[0] = make_seq(60, 0);
    train.seqs[1] = make_seq(45, 1);
    valid.seqs[0] = make_seq(30, 2);
    char dir[] = "/tmp/rnnmidi-train-stop-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ck_a[128], ck_b[128];
    snprintf(ck_a, sizeof ck_a, "%s/a.ckpt", dir);
    snprintf(ck_b, sizeof ck_b, "%s/b.ckpt", dir);
    rnn_train_options o;
    tiny_options(&o);
    o.lr = 0.02f;
    o.epochs = 3;
    o.steps_per_epoch = 4;
    o.patience = 100;
    char err[256];
    rnn_train_result ra, rb1, rb2;
    o.checkpoint_path = ck_a;
    assert_int_equal(rnn_train_run(&o, &train, &valid, &ra, err, sizeof err), 0);
    o.checkpoint_path = ck_b;
    o.max_steps = 6;
    assert_int_equal(rnn_train_run(&o, &train, &valid, &rb1, err, sizeof err), 0);
    /* validated at step 4 (the epoch) and at step 6 (the stop) */
    assert_int_equal(rb1.steps, 6);
    assert_true(rb1.last_valid > 0);
    assert_true(rb1.best_valid <= rb1.last_valid);
    assert_true(rb1.best_step == 6 ? rb1.best_valid == rb1.last_valid : rb1.best_step == 4);
    assert_int_equal(rnn_train_checkpoint_steps(ck_b), 6);
    o.max_steps = 0;
    o.resume_path = ck_b;
    assert_int_equal(rnn_train_run(&o, &train, &valid, &rb2, err, sizeof err), 0);
    assert_int_equal(ra.steps, 12);
    assert_int_equal(rb2.steps, 12);
    assert_true(ra.best_valid == rb2.best_valid);
    assert_int_equal(ra.best_step, rb2.best_step);
    assert_true(ra.best_step == 4 || ra.best_step == 8 || ra.best_step == 12);
    assert_memory_equal(ra.best_params, rb2.best_params, ra.n_params * sizeof(float));
    free(ra.best_params);
    free(rb1.best_params);
    free(rb2.best_params);
    remove(ck_a);
    remove(ck_b);
    rmdir(dir);
    for (int i = 0; i < 2; i++)
        free(train.seqs[i].events);
    free(valid.seqs[0].events);
    free(train.seqs);
    free(valid.seqs);
}

/* ------------------------------------------------------------------------ */
/* SIGTERM. */

static void test_sigterm_checkpoints_and_writes(void **state)
{
    (void)state;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/rnnmidi-train", test_tools_dir());
    if (access(bin, X_OK) != 0) fail_msg("%s is not built", bin);
    char dir[64], sub[128], model[256], ckpt[256], log_path[256], out[16384], err[256];
    make_corpus(dir, sizeof dir, sub, sizeof sub);
    snprintf(model, sizeof model, "%s/m.rnnw", dir);
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir);
    snprintf(log_path, sizeof log_path, "%s/stderr.txt", dir);
    char args[1024];
    snprintf(args, sizeof args,
             "--data %s --out %s " TRAIN_ARGS
             " --epochs 100 --steps-per-epoch 1000 --checkpoint-minutes 0",
             sub, model);

    /* a run far longer than the test, its progress lines to a file */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *e = freopen(log_path, "w", stderr);
        if (!e) _exit(127);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "exec %s %s", bin, args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* wait until it trains: the plain progress line of step 1 */
    struct timespec nap = {0, 20 * 1000 * 1000};
    int started = 0;
    for (int i = 0; i < 3000 && !started; i++) {
        FILE *f = fopen(log_path, "r");
        if (f) {
            size_t n = fread(out, 1, sizeof out - 1, f);
            out[n] = 0;
            fclose(f);
            started = strstr(out, "step 1/") != NULL;
        }
        int st;
        if (!started && waitpid(pid, &st, WNOHANG) == pid)
            fail_msg("rnnmidi-train ended before it was stopped:\n%s", out);
        if (!started) nanosleep(&nap, NULL);
    }
    if (!started) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("rnnmidi-train did not start training in 60 s:\n%s", out);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0, ended = 0;
    for (int i = 0; i < 1500 && !ended; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            ended = 1;
        else
            nanosleep(&nap, NULL);
    }
    if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("rnnmidi-train did not end within 30 s of SIGTERM");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    print_message("SIGTERM: ended in %.2f s\n", secs);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 130)
        fail_msg("rnnmidi-train did not exit with 130 (status %#x):\n%s", st, out);
    if (!strstr(out, "stopped by SIGTERM at step "))
        fail_msg("no message names the signal:\n%s", out);
    assert_non_null(strstr(out, ckpt));

    /* the checkpoint, and the preset of the weights it names */
    long steps = rnn_train_checkpoint_steps(ckpt);
    assert_true(steps >= 1);
    char expect[64];
    snprintf(expect, sizeof expect, "stopped by SIGTERM at step %ld;", steps);
    assert_non_null(strstr(out, expect));
    rnn_model *m = rnn_model_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    char steps_s[32];
    snprintf(steps_s, sizeof steps_s, "%ld", steps);
    assert_string_equal(rnn_model_meta(m, "steps"), steps_s);
    assert_string_equal(rnn_model_meta(m, "weights_step"), steps_s);
    rnn_model_free(m);

    /* --resume loads the checkpoint and goes on from its step */
    int rc = test_shell(out, sizeof out, "%s %s --resume --max-steps %ld", bin, args, steps + 2);
    if (rc != 0) fail_msg("rnnmidi-train --resume exited %d:\n%s", rc, out);
    m = rnn_model_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    snprintf(steps_s, sizeof steps_s, "%ld", steps + 2);
    assert_string_equal(rnn_model_meta(m, "steps"), steps_s);
    rnn_model_free(m);

    test_shell(out, sizeof out, "rm -rf %s", dir);
}

/* --attention N and --attention-size A train a model with attention: a
 * preset declaring them, whose NLL on the valid split by the plugin's
 * step-by-step code (rnnmidi-eval) is the trainer's own validation NLL. */
static void test_attention_option(void **state)
{
    (void)state;
    char dir[64], sub[128], model[256], out[16384], err[256];
    make_corpus(dir, sizeof dir, sub, sizeof sub);
    snprintf(model, sizeof model, "%s/attn.rnnw", dir);
    int rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-train --data %s --out %s " TRAIN_ARGS
                        " --epochs 1 --steps-per-epoch 10 --attention 16 --attention-size 8",
                        test_tools_dir(), sub, model);
    if (rc != 0) fail_msg("rnnmidi-train exited %d:\n%s", rc, out);
    rnn_model *m = rnn_model_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    const rnn_model_config *c = rnn_model_get_config(m);
    assert_int_equal(c->attn_window, 16);
    assert_int_equal(c->attn_size, 8);
    size_t n = 0;
    assert_non_null(rnn_model_tensor(m, "attn.W1", &n));
    assert_int_equal(n, 8 * 16);
    char valid[64];
    assert_non_null(rnn_model_meta(m, "valid_nll"));
    snprintf(valid, sizeof valid, "%s", rnn_model_meta(m, "valid_nll"));
    rnn_model_free(m);
    char split[160];
    snprintf(split, sizeof split, "--split valid %s", sub);
    const double nll = eval_nll(model, split);
    print_message("attention preset: valid_nll %s, rnnmidi-eval of the valid split %.6f\n", valid,
                  nll);
    /* windows of 16 steps carry their outputs into the next window's past:
     * the trainer's batched evaluation and the net's ring see the same
     * history (the metadata rounds to 4 decimals) */
    assert_true(fabs(nll - atof(valid)) <= 1e-4);
    test_shell(out, sizeof out, "rm -rf %s", dir);
}

/* --lookback trains a model with the lookback inputs: a version 2 preset
 * declaring them, whose NLL on the valid split by the plugin's step-by-step
 * code (rnnmidi-eval, the columns of whole sequences) is the trainer's own
 * validation NLL (windows of 16 steps, each looking back past its start);
 * rnnmidi-gen and rnnmidi-musicality play it. */
static void test_lookback_option(void **state)
{
    (void)state;
    char dir[64], sub[128], model[256], out[16384], err[256];
    make_corpus(dir, sizeof dir, sub, sizeof sub);
    for (int metric = 0; metric <= 1; metric++) {
        snprintf(model, sizeof model, "%s/look%d.rnnw", dir, metric);
        int rc = test_shell(out, sizeof out,
                            "%s/rnnmidi-train --data %s --out %s " TRAIN_ARGS
                            " --epochs 1 --steps-per-epoch 10 --lookback%s",
                            test_tools_dir(), sub, model, metric ? " --conditions metric" : "");
        if (rc != 0) fail_msg("rnnmidi-train exited %d:\n%s", rc, out);
        rnn_model *m = rnn_model_load(model, err, sizeof err);
        if (!m) fail_msg("%s", err);
        const rnn_model_config *c = rnn_model_get_config(m);
        assert_int_equal(c->lookback, 1);
        assert_int_equal(c->conditions, metric ? RNN_COND_METRIC | RNN_COND_NEXT : 0);
        size_t n = 0;
        assert_non_null(rnn_model_tensor(m, "rnn.weight_ih_l0", &n));
        assert_int_equal(n, 4 * 16 * (8 + (metric ? 34 : 0) + 262));
        char valid[64];
        assert_non_null(rnn_model_meta(m, "valid_nll"));
        snprintf(valid, sizeof valid, "%s", rnn_model_meta(m, "valid_nll"));
        rnn_model_free(m);
        char split[160];
        snprintf(split, sizeof split, "--split valid %s", sub);
        const double nll = eval_nll(model, split);
        print_message("lookback preset (metric %d): valid_nll %s, rnnmidi-eval of the valid "
                      "split %.6f\n",
                      metric, valid, nll);
        assert_true(fabs(nll - atof(valid)) <= 1e-4); /* the metadata rounds to 4 decimals */

        char mid[300];
        snprintf(mid, sizeof mid, "%s/look%d.mid", dir, metric);
        rc = test_shell(out, sizeof out, "%s/rnnmidi-gen --model %s --bars 4 --seed 3 --out %s",
                        test_tools_dir(), model, mid);
        if (rc != 0) fail_msg("rnnmidi-gen exited %d:\n%s", rc, out);
        rnn_midi_file f;
        assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &f, err, sizeof err), 0);
        assert_true(f.n_notes > 0);
        rnn_midi_free(&f);
        rc = test_shell(out, sizeof out,
                        "%s/rnnmidi-musicality --model %s --seeds 2 --bars 8 --quiet %s",
                        test_tools_dir(), model, sub);
        if (rc != 0) fail_msg("rnnmidi-musicality exited %d:\n%s", rc, out);
        assert_non_null(strstr(out, "mean_overlap"));
        assert_non_null(strstr(out, "rnnmidi-musicality: lookback: "));
        assert_true((strstr(out, "conditions: metric\n") != NULL) == metric);
    }
    test_shell(out, sizeof out, "rm -rf %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_option),
        cmocka_unit_test(test_lookback_option),
        cmocka_unit_test(test_max_steps_before_first_validation),
        cmocka_unit_test(test_dtype_option),
        cmocka_unit_test(test_progress_counts_the_whole_run),
        cmocka_unit_test(test_stop_mid_epoch_then_resume),
        cmocka_unit_test(test_sigterm_checkpoints_and_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
