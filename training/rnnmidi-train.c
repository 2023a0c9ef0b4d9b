/* SPDX-License-Identifier: MIT */
/* rnnmidi-train: MIDI files in, a preset (.rnnw) out.
 *
 *   rnnmidi-train --data DIR --kind melody|drums --out FILE.rnnw [options]
 *
 * Beside FILE.rnnw it writes FILE.csv (one row per optimiser step), FILE.svg
 * (the loss curve) and FILE.ckpt (the checkpoint `--resume` continues from).
 * Exit status: 0 success, 1 bad input or a failed run, 2 bad usage,
 * 130 stopped by Ctrl-C or SIGTERM (a checkpoint and the best preset so far
 * are written).
 *
 * The preset holds the best validated weights: the valid split is evaluated
 * after every epoch and on the last step of a run that stops anywhere else;
 * the closing message names their step.
 *
 * Built with -DRNNMIDI_MPI (`make mpi`: build/mpi/rnnmidi-train), the same
 * program trains data-parallel under `mpirun -np N` (training/CLUSTER.md):
 * every rank loads the data and computes its lanes of each global batch, the
 * gradients are summed with one MPI_Iallreduce per step, and rank 0 alone
 * evaluates, logs, shows progress and writes the checkpoint and the preset.
 * Every collective call is non-blocking and polled against a deadline
 * (--mpi-timeout); a rank that fails or stops answering ends the whole job
 * with a message (MPI_Abort). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../core/model.h"
#include "cli.h"
#include "dataset.h"
#include "plot.h"
#include "train.h"

#ifdef RNNMIDI_MPI
#include <mpi.h>
#endif

enum { EXIT_INTERRUPTED = 130 };

static const char *prog = "rnnmidi-train";
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t stop_signal; /* the signal that set interrupted */
static int mpi_rank = 0;                  /* this process's MPI rank (0 without MPI) */

#ifdef RNNMIDI_MPI
static int mpi_size = 1;

/* The group on MPI_COMM_WORLD, whose errors return instead of aborting.
 * Every collective is started non-blocking and polled with MPI_Testall until
 * it completes or its deadline passes; the deadline turns a dead or stuck
 * rank into a message instead of a hang. For tests, RNNMIDI_MPI_TEST_FAIL=
 * RANK:STEP[:hang] makes rank RANK exit (or hang) at its STEP-th gradient
 * sum. */
typedef struct {
    double timeout;       /* seconds a collective may wait */
    size_t grad_floats;   /* the gradient block (the model's parameters) */
    long sums;            /* gradient sums so far */
    double wait, busy_t0; /* seconds spent in gradient sums; start of the run */
    double cpu_t0;        /* this process's CPU seconds at the start of the run */
    long fail_step;       /* test hook */
    int fail_rank, fail_hang;
} mpi_group;

static double cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mpi_error(int rc, const char *what, char *err, size_t errlen)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", rc);
    snprintf(err, errlen, "rank %d: %s failed: %s", mpi_rank, what, s);
    return -1;
}

static int mpi_wait(mpi_group *g, MPI_Request *req, int nreq, double extra, const char *what,
                    char *err, size_t errlen)
{
    double start = MPI_Wtime(), limit = g->timeout + extra;
    for (long polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Testall(nreq, req, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_error(rc, what, err, errlen);
        if (done) return 0;
        if (MPI_Wtime() - start > limit) {
            snprintf(err, errlen,
                     "rank %d: %s: no answer from the other ranks for %.0f s; a rank has died or "
                     "hangs",
                     mpi_rank, what, limit);
            return -1;
        }
        if (polls > 1000) { /* after a short spin, leave the core to the others */
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
}

static int mpi_sum(rnn_train_comm *c, float *f, size_t n, double *d, int nd, double extra,
                   char *err, size_t errlen)
{
    mpi_group *g = c->ctx;
    /* a step's sum: the gradients with the loss and two flags */
    const int grad = f && n == g->grad_floats && nd == 3;
    if (grad) {
        g->sums++;
        if (mpi_rank == g->fail_rank && g->sums == g->fail_step) {
            fprintf(stderr, "%s: rank %d: test failure at step %ld (%s)\n", prog, mpi_rank, g->sums,
                    g->fail_hang ? "hanging" : "exiting");
            fflush(stderr);
            if (g->fail_hang)
                for (;;)
                    pause();
            _exit(1);
        }
    }
    if (n > (size_t)INT_MAX) {
        snprintf(err, errlen, "a sum of %zu floats is too large for MPI", n);
        return -1;
    }
    double t = MPI_Wtime();
    MPI_Request req[2];
    int nreq = 0, rc;
    if (f && n > 0) {
        rc = MPI_Iallreduce(MPI_IN_PLACE, f, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &req[nreq++]);
        if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Iallreduce", err, errlen);
    }
    if (d && nd > 0) {
        rc = MPI_Iallreduce(MPI_IN_PLACE, d, nd, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req[nreq++]);
        if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Iallreduce", err, errlen);
    }
    if (nreq == 0) return 0;
    int r = mpi_wait(g, req, nreq, extra, "summing the gradients", err, errlen);
    if (grad) g->wait += MPI_Wtime() - t;
    return r;
}

static int mpi_bcast(rnn_train_comm *c, void *buf, size_t n, double extra, char *err, size_t errlen)
{
    mpi_group *g = c->ctx;
    for (size_t off = 0; off < n || (n == 0 && off == 0);) {
        size_t part = n - off > (size_t)1 << 30 ? (size_t)1 << 30 : n - off;
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + off, (int)part, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Ibcast", err, errlen);
        if (mpi_wait(g, &req, 1, extra, "waiting for rank 0", err, errlen) != 0) return -1;
        off += part;
        if (n == 0) break;
    }
    return 0;
}

/* A fatal error on one rank: the message, then the whole job ends. */
static void mpi_fail(const char *msg, int code)
{
    fprintf(stderr, "%s: %s; ending the job on all %d ranks\n", prog, msg, mpi_size);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
}
#endif

/* SIGINT (Ctrl-C) and SIGTERM stop the run after the current step: the
 * trainer writes its checkpoint, validates the last weights and the preset
 * is written. A second signal ends the program at once. */
static void on_signal(int sig)
{
    interrupted = 1;
    stop_signal = sig;
    signal(sig, SIG_DFL);
}

/* OpenBLAS picks its kernels when it loads, from OPENBLAS_CORETYPE or the
 * CPU it recognises. A build that does not know the CPU (Debian's 0.3.21 on
 * some AMD Zen 4 hosts) falls back to its generic SSE3 Prescott kernels,
 * about 3x slower here than the AVX2 Haswell ones (tests/bench/bench_train;
 * Haswell, SkylakeX and Cooperlake measure the same on Zen 4). When that
 * happens, the CPU has AVX2 and FMA and the variable is unset, run again with
 * OPENBLAS_CORETYPE=Haswell; setting the variable yourself keeps your
 * choice. */
static void choose_blas_core(char **argv, int quiet)
{
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *core = rnn_blas_corename();
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    if (!rnn_blas_is_fallback()) return;
    if (!quiet)
        fprintf(stderr,
                "%s: OpenBLAS does not recognise this CPU and chose its generic %s kernels; "
                "running again with OPENBLAS_CORETYPE=Haswell (AVX2, about 3x faster; set "
                "OPENBLAS_CORETYPE yourself to choose, e.g. SkylakeX for AVX-512)\n",
                prog, core);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return;
    self[n] = 0;
    if (setenv("OPENBLAS_CORETYPE", "Haswell", 1) != 0) return;
    fflush(stderr);
    execv(self, argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: go on with the kernels we have */
#else
    (void)argv;
    (void)quiet;
#endif
}

static int bad_usage(const char *fmt, const char *arg)
{
    if (mpi_rank != 0) return EXIT_USAGE; /* rank 0 says it */
    return rnn_cli_usage_error(prog, NULL, fmt, arg);
}

/* path with its .rnnw extension (if any) replaced by ext */
static char *beside(const char *path, const char *ext)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".rnnw") == 0) n -= 5;
    char *s = malloc(n + strlen(ext) + 1);
    if (!s) return NULL;
    memcpy(s, path, n);
    strcpy(s + n, ext);
    return s;
}

/* Keep the rows of a CSV log up to a step (a resumed run rewrites what came
 * after its checkpoint). */
static int trim_log(const char *path, long steps)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap), line[512];
    if (!buf) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        long step;
        if (sscanf(line, "%ld,", &step) == 1 && step > steps) continue;
        size_t n = strlen(line);
        if (len + n + 1 > cap) {
            char *nb = realloc(buf, cap * 2 + n);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap = cap * 2 + n;
        }
        memcpy(buf + len, line, n);
        len += n;
    }
    fclose(f);
    f = fopen(path, "w");
    int rc = f && fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
    free(buf);
    return rc;
}

static void sanitize(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

/* Which weights a run's preset holds, for the closing message:
 * "weights of step 37 (valid NLL 3.1200, the last step)". */
static void describe_weights(char *buf, size_t n, const rnn_train_result *r)
{
    if (r->best_valid < 0)
        snprintf(buf, n, "weights of step %ld (the last step; no valid split to choose by)",
                 r->best_step);
    else if (r->best_step == r->steps)
        snprintf(buf, n, "weights of step %ld (valid NLL %.4f, the last step)", r->best_step,
                 r->best_valid);
    else if (r->last_valid >= 0)
        snprintf(buf, n,
                 "weights of step %ld (valid NLL %.4f, the best validated; the last step, %ld, "
                 "had %.4f)",
                 r->best_step, r->best_valid, r->steps, r->last_valid);
    else
        snprintf(buf, n, "weights of step %ld (valid NLL %.4f, the best validated)", r->best_step,
                 r->best_valid);
}

#ifdef RNNMIDI_MPI
static mpi_group group = {.timeout = 120, .fail_rank = -1};
static int group_ready;

/* The first collective: every rank says whether it got ready to train (0)
 * or failed (its exit code); returns the highest code, or -1 when the group
 * cannot agree. */
static int mpi_agree(int code)
{
    int v = code;
    MPI_Request req;
    char err[256];
    group_ready = 1;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) {
        mpi_error(rc, "MPI_Iallreduce", err, sizeof err);
        mpi_fail(err, EXIT_INPUT);
    }
    if (mpi_wait(&group, &req, 1, 60, "starting", err, sizeof err) != 0) mpi_fail(err, EXIT_INPUT);
    return v;
}
#endif

/* The command line. o starts from rnn_train_options_default; shape, kind
 * and the checkpoint interval go into o once the --init preset is known. */
typedef struct {
    rnn_train_options o;
    rnn_model_config shape;
    rnn_kind kind;
    const char *data[64];
    int n_data;
    const char *out, *init_path, *name;
    char *name_s; /* the default name, when --name is not given */
    int kind_set, shape_set, cond_set, resume, quiet;
    int attn_size, attn_set; /* --attention-size (used with --attention N > 0) */
    int lookback_set;
    int enc_hidden, enc_set; /* --encoder-hidden (used with --encoder N > 0) */
    double checkpoint_minutes;
    int dtype; /* rnn_dtype of the preset's reducible matrices (the checkpoint stays float32) */
} train_args;

static int set_dtype(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    const int d = rnn_dtype_find(value);
    if (d < 0) {
        snprintf(msg, msglen, "--dtype '%s' is not one of fp32, bf16, int8", value);
        return -1;
    }
    *(int *)row->target = d;
    return 0;
}

static int set_cell(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    static const rnn_cell cells[] = {RNN_CELL_LSTM, RNN_CELL_GRU, RNN_CELL_RNN};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
        if (!strcmp(value, rnn_cell_name(cells[i]))) {
            *(rnn_cell *)row->target = cells[i];
            return 0;
        }
    snprintf(msg, msglen, "unknown cell '%s' (lstm, gru or rnn)", value);
    return -1;
}

/* "none", or "metric", "harmony" or both, comma-separated, in any order */
static int set_conditions(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    unsigned bits = 0;
    if (strcmp(value, "none") != 0) {
        for (const char *p = value;;) {
            const size_t n = strcspn(p, ",");
            if (n == 6 && !strncmp(p, "metric", n))
                bits |= RNN_COND_METRIC;
            else if (n == 7 && !strncmp(p, "harmony", n))
                bits |= RNN_COND_HARMONY;
            else
                goto bad;
            if (!p[n]) break;
            p += n + 1;
        }
    }
    /* a new model hears the conditions of the step it predicts */
    *(unsigned *)row->target = bits ? bits | RNN_COND_NEXT : 0;
    return 0;
bad:
    snprintf(msg, msglen, "--conditions '%s' is not none, metric, harmony or metric,harmony",
             value);
    return -1;
}

static int parse_args(train_args *a, int argc, char **argv)
{
    rnn_train_options *o = &a->o;
    char cell_help[64], layers_help[64];
    snprintf(cell_help, sizeof cell_help, "cell type (%s)", rnn_cell_name(a->shape.cell));
    snprintf(layers_help, sizeof layers_help, "stacked layers, 1..%d", RNN_MAX_LAYERS);
    const rnn_cli_opt opts[] = {
        RNN_CLI_TEXT("Data:"),
        {RNN_CLI_OPT("data", 0, "DIR", "MIDI files and folders (may be given again)", RNN_OPT_LIST,
                     a->data),
         0, sizeof a->data / sizeof a->data[0], "too many --data", .count = &a->n_data},
        {RNN_CLI_OPT("kind", 0, "melody|drums", "what to learn (from the preset with --init)",
                     RNN_OPT_KIND, &a->kind),
         .bad = "unknown kind '%s' (melody or drums)", .seen = &a->kind_set},
        {RNN_CLI_OPT("out", 0, "FILE.rnnw", "the preset to write", RNN_OPT_STRING, &a->out)},
        {RNN_CLI_OPT("dtype", 0, "fp32|bf16|int8",
                     "how the preset stores its W_ih, W_hh and head.weight\n"
                     "(as rnnmidi-quantize; training and the checkpoint stay fp32)",
                     RNN_OPT_CALL, &a->dtype),
         .set = set_dtype},
        RNN_CLI_TEXT("Model:"),
        {RNN_CLI_OPT("cell", 0, "lstm|gru|rnn", cell_help, RNN_OPT_CALL, &a->shape.cell),
         .set = set_cell, .seen = &a->shape_set},
        {RNN_CLI_OPT("layers", 0, "N", layers_help, RNN_OPT_INT, &a->shape.layers), 1,
         RNN_MAX_LAYERS, "--layers '%s' is not a number in 1..4", .seen = &a->shape_set,
         .show_default = 1},
        {RNN_CLI_OPT("hidden", 0, "N", "hidden units per layer", RNN_OPT_INT, &a->shape.hidden), 1,
         RNN_MAX_HIDDEN, "--hidden '%s' is not a number in 1..4096", .seen = &a->shape_set,
         .show_default = 1},
        {RNN_CLI_OPT("embed", 0, "N", "embedding size, 0 = one-hot input", RNN_OPT_INT,
                     &a->shape.embed),
         0, RNN_MAX_EMBED, "--embed '%s' is not a number in 0..4096", .seen = &a->shape_set,
         .show_default = 1},
        {RNN_CLI_OPT("conditions", 0, "LIST",
                     "inputs beside the event: none, metric (the step's\n"
                     "place in beat and bar), harmony (the other voices'\n"
                     "pitch classes; melody) or metric,harmony (none)",
                     RNN_OPT_CALL, &a->shape.conditions),
         .set = set_conditions, .seen = &a->cond_set},
        {RNN_CLI_OPT("attention", 0, "N",
                     "attention over the top layer's last N outputs\n"
                     "(the head reads [h | context]); 0 = off",
                     RNN_OPT_INT, &a->shape.attn_window),
         0, RNN_MAX_ATTN_WINDOW, "--attention '%s' is not a number in 0..1024",
         .seen = &a->attn_set, .show_default = 1},
        {RNN_CLI_OPT("attention-size", 0, "A", "the attention's projection size, with --attention",
                     RNN_OPT_INT, &a->attn_size),
         1, RNN_MAX_ATTN_SIZE, "--attention-size '%s' is not a number in 1..4096",
         .seen = &a->attn_set, .show_default = 1},
        {RNN_CLI_OPT("lookback", 0, NULL,
                     "inputs of the events one and two bars back and\n"
                     "whether the last event repeats them (Lookback RNN)",
                     RNN_OPT_FLAG, &a->shape.lookback),
         1, .seen = &a->lookback_set},
        {RNN_CLI_OPT("encoder", 0, "N",
                     "a bidirectional encoder of N layers reads the\n"
                     "other parts of each file (drumify: drums only;\n"
                     "the files without other parts are skipped); 0 = off",
                     RNN_OPT_INT, &a->shape.enc_layers),
         0, RNN_MAX_ENC_LAYERS, "--encoder '%s' is not a number in 0..4", .seen = &a->enc_set,
         .show_default = 1},
        {RNN_CLI_OPT("encoder-hidden", 0, "N", "the encoder's units per direction, with --encoder",
                     RNN_OPT_INT, &a->enc_hidden),
         1, RNN_MAX_HIDDEN, "--encoder-hidden '%s' is not a number in 1..4096", .seen = &a->enc_set,
         .show_default = 1},
        {RNN_CLI_OPT("init", 0, "PRESET",
                     "start from a preset's weights (fine-tuning); its\n"
                     "kind, cell and sizes are used",
                     RNN_OPT_STRING, &a->init_path)},
        RNN_CLI_TEXT("Training:"),
        {RNN_CLI_OPT("seq-len", 0, "T", "steps per window of truncated BPTT", RNN_OPT_INT,
                     &o->seq_len),
         2, 4096, "--seq-len '%s' is not a number in 2..4096", .show_default = 1},
        {RNN_CLI_OPT("batch", 0, "B", "windows per optimiser step", RNN_OPT_INT, &o->batch), 1,
         4096, "--batch '%s' is not a number in 1..4096", .show_default = 1},
        {RNN_CLI_OPT("lr", 0, "X", "peak learning rate, warm-up then cosine decay", RNN_OPT_FLOAT,
                     &o->lr),
         1e-7, 1.0, "--lr '%s' is not a number in 1e-7..1", .show_default = 1},
        {RNN_CLI_OPT("warmup", 0, "N", "warm-up steps", RNN_OPT_LONG, &o->warmup), 0, 100000000,
         "--warmup '%s' is not a count", .show_default = 1},
        {RNN_CLI_OPT("clip", 0, "X", "gradient-norm clipping, 0 = off", RNN_OPT_FLOAT, &o->clip), 0,
         1e6, "--clip '%s' is not a number >= 0", .show_default = 1},
        {RNN_CLI_OPT("dropout", 0, "X", "dropout between layers and before the head", RNN_OPT_FLOAT,
                     &o->dropout),
         0, 0.95, "--dropout '%s' is not a number in 0..0.95", .show_default = 1},
        {RNN_CLI_OPT("weight-decay", 0, "X", "AdamW's decoupled weight decay", RNN_OPT_FLOAT,
                     &o->weight_decay),
         0, 10, "--weight-decay '%s' is not a number in 0..10", .show_default = 1},
        {RNN_CLI_OPT("transpose", 0, "K", "melody augmentation: random shift in -K..K", RNN_OPT_INT,
                     &o->transpose),
         0, 24, "--transpose '%s' is not in 0..24", .show_default = 1},
        {RNN_CLI_OPT("harmony-drop", 0, "X",
                     "share of windows trained with the harmony zeroed,\n"
                     "so the model plays with and without a player",
                     RNN_OPT_FLOAT, &o->harmony_drop),
         0, 1, "--harmony-drop '%s' is not a number in 0..1", .show_default = 1},
        {RNN_CLI_OPT("epochs", 0, "N", "at most N epochs", RNN_OPT_INT, &o->epochs), 1, 1000000,
         "--epochs '%s' is not a count", .show_default = 1},
        {RNN_CLI_OPT("steps-per-epoch", 0, "N", "optimiser steps per epoch (train steps / (B x T))",
                     RNN_OPT_LONG, &o->steps_per_epoch),
         1, 1000000000, "--steps-per-epoch '%s' is not a count"},
        {RNN_CLI_OPT("max-steps", 0, "N",
                     "stop after N optimiser steps (the schedule still\n"
                     "spans --epochs); the last step is validated too",
                     RNN_OPT_LONG, &o->max_steps),
         1, 1000000000, "--max-steps '%s' is not a count"},
        {RNN_CLI_OPT("patience", 0, "N", "stop after N epochs without a better valid NLL",
                     RNN_OPT_INT, &o->patience),
         1, 1000000, "--patience '%s' is not a count", .show_default = 1},
        {RNN_CLI_OPT("seed", 0, "N", "random seed", RNN_OPT_U64, &o->seed), 0, 0x7fffffffL,
         "--seed '%s' is not a number", .show_default = 1},
        {RNN_CLI_OPT("threads", 0, "N", "threads; a resumed run must use the same count",
                     RNN_OPT_INT, &o->threads),
         1, RNN_TRAIN_MAX_THREADS, "--threads '%s' is not a number in 1..16", .show_default = 1},
        {RNN_CLI_OPT("checkpoint-minutes", 0, "X", "checkpoint interval", RNN_OPT_DOUBLE,
                     &a->checkpoint_minutes),
         0, 1e6, "--checkpoint-minutes '%s' is not a number", .show_default = 1},
        {RNN_CLI_OPT("resume", 0, NULL,
                     "continue from FILE.ckpt (same options and seed: the\n"
                     "same losses as a run never interrupted)",
                     RNN_OPT_FLAG, &a->resume),
         1},
        {RNN_CLI_OPT("name", 0, "TEXT", "the preset's name (FILE without folder and .rnnw)",
                     RNN_OPT_STRING, &a->name)},
        {RNN_CLI_OPT("quiet", 0, NULL, "no progress output", RNN_OPT_FLAG, &a->quiet), 1},
        RNN_CLI_HELP_OPT(0),
#ifdef RNNMIDI_MPI
        RNN_CLI_TEXT("MPI (mpirun -np N rnnmidi-train ...; training/CLUSTER.md):"),
        {RNN_CLI_OPT("mpi-timeout", 0, "SECONDS",
                     "end the job when a rank does not answer a collective\n"
                     "within this time; the wait for rank 0's\n"
                     "evaluation adds an allowance for it",
                     RNN_OPT_DOUBLE, &group.timeout),
         1, 1e6, "--mpi-timeout '%s' is not a number of seconds >= 1", .show_default = 1},
        RNN_CLI_TEXT("The global batch (--batch, at least N) is shared by the N ranks; --threads\n"
                     "counts threads per rank. Resume works with another N."),
#endif
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-train --data DIR --kind melody|drums --out FILE.rnnw [options]\n"
        "Train a recurrent net on the MIDI files under DIR (the train split; the valid\n"
        "split picks the best epoch) and write the preset FILE.rnnw, with FILE.csv (log),\n"
        "FILE.svg (loss curve) and FILE.ckpt (checkpoint) beside it.\n"
        "\n",
        opts, sizeof opts / sizeof opts[0], NULL, 0};
    char msg[512];
    size_t npos;
    switch (rnn_cli_parse(&spec, argc, argv, NULL, 0, &npos, msg, sizeof msg)) {
    case RNN_CLI_HELP:
        if (mpi_rank == 0) rnn_cli_print_help(&spec, stdout);
        return EXIT_OK;
    case RNN_CLI_ERROR:
        return bad_usage("%s", msg);
    }
    if (a->n_data == 0) return bad_usage("%s", "--data DIR is required");
    if (!a->out) return bad_usage("%s", "--out FILE.rnnw is required");
    if (!a->kind_set && !a->init_path) return bad_usage("%s", "--kind melody|drums is required");
    o->checkpoint_seconds = a->checkpoint_minutes * 60;
    if (!a->name) {
        const char *base = strrchr(a->out, '/');
        a->name_s = beside(base ? base + 1 : a->out, "");
        a->name = a->name_s ? a->name_s : "rnnmidi";
    }
    return RNN_CLI_GO_ON;
}

/* What a run holds, released by run_free. */
typedef struct {
    rnn_model *init;
    char *csv_path, *svg_path, *ckpt_path;
    rnn_dataset ds;
    FILE *log;
    rnn_train_result res;
} train_run;

static void run_free(train_run *r)
{
    if (r->log) fclose(r->log);
    free(r->res.best_params);
    rnn_dataset_free(&r->ds);
    rnn_model_free(r->init);
    free(r->csv_path);
    free(r->svg_path);
    free(r->ckpt_path);
}

/* The model's shape: the options', or the --init preset's (which must agree
 * with any --kind, --cell, --layers, --hidden, --embed given). */
static int choose_model(train_args *a, train_run *r)
{
    char err[512];
    rnn_model_config shape = a->shape;
    shape.kind = a->kind;
    shape.vocab = rnn_kind_vocab(a->kind);
    shape.steps_per_quarter = RNN_DEFAULT_STEPS_PER_QUARTER;
    shape.attn_size = shape.attn_window > 0 ? a->attn_size : 0;
    shape.enc_hidden = shape.enc_layers > 0 ? a->enc_hidden : 0;
    shape.enc_inputs = shape.enc_layers > 0 ? RNN_ENC_INPUT_COLUMNS : 0;
    if (shape.enc_layers > 0 && a->kind != RNN_KIND_DRUMS && !a->init_path) {
        fprintf(stderr, "%s: --encoder reads the other parts for a drums model: add --kind drums\n",
                prog);
        return EXIT_USAGE;
    }
    if (a->init_path) {
        r->init = rnn_model_load(a->init_path, err, sizeof err);
        if (!r->init) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return EXIT_INPUT;
        }
        const rnn_model_config *ic = rnn_model_get_config(r->init);
        if (a->kind_set && ic->kind != a->kind) {
            fprintf(stderr, "%s: %s is a %s preset, not %s\n", prog, a->init_path,
                    rnn_kind_name(ic->kind), rnn_kind_name(a->kind));
            return EXIT_INPUT;
        }
        if (a->shape_set && (ic->cell != shape.cell || ic->layers != shape.layers ||
                             ic->hidden != shape.hidden || ic->embed != shape.embed)) {
            fprintf(stderr,
                    "%s: %s is %s %d x %d (embed %d); drop --cell/--layers/--hidden/--embed "
                    "when fine-tuning\n",
                    prog, a->init_path, rnn_cell_name(ic->cell), ic->layers, ic->hidden, ic->embed);
            return EXIT_INPUT;
        }
        if (a->cond_set && (ic->conditions & RNN_COND_ALL) != (shape.conditions & RNN_COND_ALL)) {
            fprintf(stderr,
                    "%s: %s takes other conditions (0x%x); drop --conditions when "
                    "fine-tuning\n",
                    prog, a->init_path, ic->conditions);
            return EXIT_INPUT;
        }
        if (a->attn_set &&
            (ic->attn_window != shape.attn_window || ic->attn_size != shape.attn_size)) {
            fprintf(stderr,
                    "%s: %s has attention %d x %d; drop --attention/--attention-size when "
                    "fine-tuning\n",
                    prog, a->init_path, ic->attn_window, ic->attn_size);
            return EXIT_INPUT;
        }
        if (a->lookback_set && ic->lookback != shape.lookback) {
            fprintf(stderr, "%s: %s has no lookback inputs; drop --lookback when fine-tuning\n",
                    prog, a->init_path);
            return EXIT_INPUT;
        }
        if (a->enc_set &&
            (ic->enc_layers != shape.enc_layers || ic->enc_hidden != shape.enc_hidden)) {
            fprintf(stderr,
                    "%s: %s has an encoder of %d x %d; drop --encoder/--encoder-hidden when "
                    "fine-tuning\n",
                    prog, a->init_path, ic->enc_layers, ic->enc_hidden);
            return EXIT_INPUT;
        }
        shape = *ic;
        a->kind = ic->kind;
    }
    if (a->kind != RNN_KIND_MELODY) a->o.transpose = 0;
    a->o.cfg = shape;
    if (rnn_model_config_check(&a->o.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_USAGE;
    }
    a->o.init = r->init;
    return EXIT_OK;
}

/* FILE.csv, FILE.svg and FILE.ckpt beside FILE.rnnw; with --resume the
 * checkpoint must be there. */
static int name_outputs(const train_args *a, train_run *r)
{
    r->csv_path = beside(a->out, ".csv");
    r->svg_path = beside(a->out, ".svg");
    r->ckpt_path = beside(a->out, ".ckpt");
    if (!r->csv_path || !r->svg_path || !r->ckpt_path) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_INPUT;
    }
    if (a->resume && mpi_rank == 0 && access(r->ckpt_path, R_OK) != 0) {
        fprintf(stderr, "%s: --resume: no checkpoint %s (%s)\n", prog, r->ckpt_path,
                strerror(errno));
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

/* The data set, with a line about its splits on msg. */
static int load_data(const train_args *a, train_run *r, FILE *msg)
{
    char err[512];
    memset(&r->ds, 0, sizeof r->ds);
    if (rnn_dataset_load_encoder(&r->ds, a->data, (size_t)a->n_data, a->kind,
                                 a->o.cfg.steps_per_quarter, a->o.cfg.enc_layers > 0, msg, err,
                                 sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    const rnn_dataset *ds = &r->ds;
    size_t tokens = 0;
    for (size_t i = 0; i < ds->split[RNN_SPLIT_TRAIN].count; i++)
        tokens += ds->split[RNN_SPLIT_TRAIN].seqs[i].len;
    if (msg)
        fprintf(msg,
                "%s: %zu train files (%zu sequences, %zu steps), %zu valid, %zu test, %zu "
                "unreadable\n",
                prog, ds->files[RNN_SPLIT_TRAIN], ds->split[RNN_SPLIT_TRAIN].count, tokens,
                ds->files[RNN_SPLIT_VALID], ds->files[RNN_SPLIT_TEST], ds->n_failed);
    if (tokens < 2) {
        fprintf(stderr, "%s: no usable %s sequence in the train split of the data\n", prog,
                rnn_kind_name(a->kind));
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

/* The CSV log: new, or (--resume) cut back to the checkpoint's step and
 * appended to; ranks other than 0 log nothing. */
static int open_log(const train_args *a, train_run *r)
{
    if (mpi_rank != 0) {
        r->log = fopen("/dev/null", "w");
    } else if (a->resume) {
        long done = rnn_train_checkpoint_steps(r->ckpt_path);
        if (done < 0 || trim_log(r->csv_path, done) != 0) {
            fprintf(stderr, "%s: %s: cannot read the checkpoint or rewrite %s\n", prog,
                    r->ckpt_path, r->csv_path);
            return EXIT_INPUT;
        }
        r->log = fopen(r->csv_path, "a");
    } else {
        r->log = fopen(r->csv_path, "w");
        if (r->log) fprintf(r->log, "step,epoch,train_loss,valid_nll,lr,grad_norm,steps_per_s\n");
    }
    if (!r->log) {
        fprintf(stderr, "%s: %s: %s\n", prog, r->csv_path, strerror(errno));
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

#ifdef RNNMIDI_MPI
/* The ranks agree to start (every one ready, the batch shareable); returns
 * EXIT_OK or the status to end with. */
static int mpi_start(rnn_train_options *o, FILE *msg)
{
    static rnn_train_comm comm;
    comm = (rnn_train_comm){mpi_rank, mpi_size, mpi_sum, mpi_bcast, &group};
    o->comm = &comm;
    rnn_tensor_spec sp[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(&o->cfg, sp);
    for (int i = 0; i < n; i++)
        group.grad_floats += sp[i].count;
    int ready = 0;
    if (o->batch < mpi_size) {
        if (mpi_rank == 0)
            fprintf(stderr,
                    "%s: --batch %d cannot be shared by %d ranks (one lane each at least)\n", prog,
                    o->batch, mpi_size);
        ready = EXIT_USAGE;
    }
    int agreed = mpi_agree(ready);
    if (agreed != 0) return agreed;
    if (msg)
        fprintf(msg, "%s: %d MPI ranks share the batch of %d (%d threads each)\n", prog, mpi_size,
                o->batch, o->threads);
    group.busy_t0 = MPI_Wtime();
    group.cpu_t0 = cpu_seconds();
    return EXIT_OK;
}

/* After the run: a failure ends the job; rank 0 reports the time the
 * gradient sums took. */
static void mpi_finish(int rc, const char *err, FILE *msg)
{
    if (rc != 0) mpi_fail(err, EXIT_INPUT);
    if (msg && group.sums > 0)
        fprintf(msg,
                "%s: MPI: %d ranks, %zu gradient bytes per step, %.3f ms per step, %.3f ms of it "
                "in the gradient sum, %.3f ms CPU per step on rank 0\n",
                prog, mpi_size, group.grad_floats * sizeof(float),
                1e3 * (MPI_Wtime() - group.busy_t0) / (double)group.sums,
                1e3 * group.wait / (double)group.sums,
                1e3 * (cpu_seconds() - group.cpu_t0) / (double)group.sums);
}
#endif

/* " "-joined strings, newlines made spaces (a metadata value is one line). */
static char *join(const char *const *s, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(s[i]) + 1;
    char *j = malloc(len);
    if (!j) return NULL;
    j[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(j, " ");
        strcat(j, s[i]);
    }
    sanitize(j);
    return j;
}

/* The preset: the best weights with the run's metadata. *valid_s gets the
 * best valid NLL as written ("none" without a valid split). */
static int write_preset(const train_args *a, const train_run *r, int argc, char **argv,
                        char *valid_s, size_t valid_len)
{
    const rnn_train_result *res = &r->res;
    const rnn_dataset *ds = &r->ds;
    char steps_s[32], epochs_s[32], files_s[96], date_s[64], secs_s[32], loss_s[32];
    char wsteps_s[32], err[512];
    snprintf(steps_s, sizeof steps_s, "%ld", res->steps);
    snprintf(wsteps_s, sizeof wsteps_s, "%ld", res->best_step);
    snprintf(epochs_s, sizeof epochs_s, "%d", res->epochs);
    if (res->best_valid >= 0)
        snprintf(valid_s, valid_len, "%.4f", res->best_valid);
    else
        snprintf(valid_s, valid_len, "none");
    snprintf(loss_s, sizeof loss_s, "%.4f", res->last_loss);
    snprintf(secs_s, sizeof secs_s, "%.0f", res->seconds);
    snprintf(files_s, sizeof files_s, "%zu train, %zu valid, %zu test", ds->files[RNN_SPLIT_TRAIN],
             ds->files[RNN_SPLIT_VALID], ds->files[RNN_SPLIT_TEST]);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(date_s, sizeof date_s, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    char *command = join((const char *const *)argv, (size_t)argc);
    char *data_s = join(a->data, (size_t)a->n_data);
    if (!command || !data_s) {
        fprintf(stderr, "%s: out of memory\n", prog);
        free(command);
        free(data_s);
        return EXIT_INPUT;
    }
    rnn_meta meta[] = {
        {"name", a->name},          {"data", data_s},
        {"files", files_s},         {"steps", steps_s},
        {"weights_step", wsteps_s}, {"epochs", epochs_s},
        {"valid_nll", valid_s},     {"train_loss", loss_s},
        {"train_seconds", secs_s},  {"blas", rnn_blas_corename()},
        {"command", command},       {"created", date_s},
    };
    /* a reduced preset says so, and from what; a float32 one is written as
     * it always was */
    char source_s[64];
    snprintf(source_s, sizeof source_s, "float32 weights of step %ld", res->best_step);
    rnn_meta meta_all[sizeof meta / sizeof meta[0] + 3];
    size_t n_meta = sizeof meta / sizeof meta[0];
    memcpy(meta_all, meta, sizeof meta);
    /* the encoder read windows of --seq-len steps: rnnmidi-drumify reads a
     * file in windows of the same length */
    char window_s[32];
    snprintf(window_s, sizeof window_s, "%d", a->o.seq_len);
    if (a->o.cfg.enc_layers > 0) meta_all[n_meta++] = (rnn_meta){"encoder_window", window_s};
    if (a->dtype != RNN_DTYPE_F32) {
        meta_all[n_meta++] = (rnn_meta){"dtype", rnn_dtype_name((rnn_dtype)a->dtype)};
        meta_all[n_meta++] = (rnn_meta){"dtype_source", source_s};
    }
    const float *tensors[RNN_MAX_TENSORS];
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    rnn_dtype dtypes[RNN_MAX_TENSORS];
    int nt = rnn_model_tensor_specs(&a->o.cfg, specs);
    rnn_model_reduced_dtypes(&a->o.cfg, (rnn_dtype)a->dtype, dtypes);
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        tensors[i] = res->best_params + off;
        off += specs[i].count;
    }
    int rc = EXIT_OK;
    if (nt < 0 || off != res->n_params) {
        fprintf(stderr, "%s: the trainer's tensors do not match the preset format\n", prog);
        rc = EXIT_INPUT;
    } else if (rnn_model_write_typed(a->out, &a->o.cfg, meta_all, n_meta, tensors, dtypes, err,
                                     sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = EXIT_INPUT;
    }
    free(command);
    free(data_s);
    return rc;
}

/* The closing lines: how the run ended and what was written; a stop by a
 * signal is said even with --quiet. */
static void report(const train_args *a, const train_run *r, int exit_code, const char *valid_s,
                   FILE *msg)
{
    const rnn_train_result *res = &r->res;
    char loss_s[32];
    snprintf(loss_s, sizeof loss_s, "%.4f", res->last_loss);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (msg) {
        fprintf(msg,
                "%s: %s after %ld steps, %d epochs, %.0f s: best valid NLL %s nats/step, last "
                "train loss %s; peak memory %.1f MiB\n",
                prog,
                exit_code == EXIT_INPUT ? "failed"
                : res->interrupted      ? "interrupted"
                : res->early_stopped    ? "stopped early (no better valid NLL)"
                                        : "done",
                res->steps, res->epochs, res->seconds, valid_s, loss_s, ru.ru_maxrss / 1024.0);
        if (exit_code != EXIT_INPUT) {
            char which[160];
            describe_weights(which, sizeof which, res);
            fprintf(msg, "%s: wrote %s: %s\n", prog, a->out, which);
            fprintf(msg, "%s: wrote %s, %s\n", prog, r->csv_path, r->svg_path);
        }
    }
    if (res->interrupted && mpi_rank == 0)
        fprintf(stderr,
                "%s: stopped by %s at step %ld; checkpoint %s; continue with the same command "
                "and --resume\n",
                prog,
                stop_signal == SIGTERM  ? "SIGTERM"
                : stop_signal == SIGINT ? "SIGINT (Ctrl-C)"
                                        : "a signal",
                res->steps, r->ckpt_path);
}

/* Parse, choose the model, load the data, train, write the preset, the
 * loss curve and the closing lines. */
static int train_main(int argc, char **argv)
{
    train_args a = {.kind = RNN_KIND_MELODY, .attn_size = 64, .enc_hidden = 64};
    rnn_train_options_default(&a.o, RNN_KIND_MELODY);
    a.shape = a.o.cfg;
    a.checkpoint_minutes = a.o.checkpoint_seconds / 60;
    int rc = parse_args(&a, argc, argv);
    if (rc != RNN_CLI_GO_ON) return rc;
#ifndef RNNMIDI_MPI
    choose_blas_core(argv, a.quiet); /* the MPI build's main did it before MPI_Init */
#endif
    train_run r;
    memset(&r, 0, sizeof r);
    FILE *msg = a.quiet || mpi_rank != 0 ? NULL : stderr;
    if ((rc = choose_model(&a, &r)) || (rc = name_outputs(&a, &r))) goto done;
    /* OpenBLAS runs one thread inside each of the trainer's own */
    rnn_blas_set_threads(1);
    if (msg) fprintf(msg, "%s: OpenBLAS core %s\n", prog, rnn_blas_corename());
    if (rnn_blas_is_fallback() && mpi_rank == 0)
        fprintf(stderr,
                "%s: OpenBLAS runs its slow generic %s kernels; OPENBLAS_CORETYPE=Haswell (AVX2) "
                "or SkylakeX (AVX-512) selects faster ones\n",
                prog, rnn_blas_corename());
    if ((rc = load_data(&a, &r, msg)) || (rc = open_log(&a, &r))) goto done;

    rnn_train_options *o = &a.o;
    o->log_csv = mpi_rank == 0 ? r.log : NULL;
    o->progress = msg;
    o->progress_tty = msg && isatty(fileno(msg));
    o->checkpoint_path = r.ckpt_path;
    o->resume_path = a.resume ? r.ckpt_path : NULL;
    o->interrupt = &interrupted;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (msg)
        fprintf(msg,
                "%s: %s %s %d x %d, embed %d, batch %d x %d steps, lr %g, dropout %g, %d "
                "threads\n",
                prog, rnn_kind_name(a.kind), rnn_cell_name(o->cfg.cell), o->cfg.layers,
                o->cfg.hidden, o->cfg.embed, o->batch, o->seq_len, o->lr, o->dropout, o->threads);
#ifdef RNNMIDI_MPI
    if ((rc = mpi_start(o, msg))) goto done;
#endif

    char err[512];
    int train_rc = rnn_train_run(o, &r.ds.split[RNN_SPLIT_TRAIN], &r.ds.split[RNN_SPLIT_VALID],
                                 &r.res, err, sizeof err);
    int log_bad = fclose(r.log) != 0;
    r.log = NULL;
#ifdef RNNMIDI_MPI
    mpi_finish(train_rc, err, msg);
    if (mpi_rank != 0) {
        rc = r.res.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
        goto done;
    }
#endif
    if (train_rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = EXIT_INPUT;
        goto done;
    }
    if (log_bad) fprintf(stderr, "%s: %s: write error\n", prog, r.csv_path);

    char valid_s[32];
    rc = write_preset(&a, &r, argc, argv, valid_s, sizeof valid_s);
    char title[256];
    snprintf(title, sizeof title, "%s: %s %s %d x %d, best valid NLL %s", a.name,
             rnn_kind_name(a.kind), rnn_cell_name(o->cfg.cell), o->cfg.layers, o->cfg.hidden,
             valid_s);
    if (rnn_plot_loss_svg(r.csv_path, r.svg_path, title, err, sizeof err) != 0)
        fprintf(stderr, "%s: warning: no loss curve: %s\n", prog, err);
    if (rc == EXIT_OK && r.res.interrupted) rc = EXIT_INTERRUPTED;
    report(&a, &r, rc, valid_s, msg);
done:
    run_free(&r);
    free(a.name_s);
    return rc;
}

#ifdef RNNMIDI_MPI
int main(int argc, char **argv)
{
    /* the OpenBLAS re-execution comes before MPI starts; mpirun tells each
     * process its rank in the environment */
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("PMI_RANK");
    int quiet = r && strcmp(r, "0") != 0;
    for (int i = 1; i < argc; i++)
        quiet |= !strcmp(argv[i], "--quiet") || !strcmp(argv[i], "--help");
    choose_blas_core(argv, quiet);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", prog);
        return EXIT_INPUT;
    }
    if (MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &mpi_size) != MPI_SUCCESS)
        mpi_fail("cannot set up MPI_COMM_WORLD", EXIT_INPUT);
    const char *fail = getenv("RNNMIDI_MPI_TEST_FAIL");
    if (fail) {
        char how[16] = "";
        if (sscanf(fail, "%d:%ld:%15s", &group.fail_rank, &group.fail_step, how) >= 2)
            group.fail_hang = !strcmp(how, "hang");
    }
    int code = train_main(argc, argv);
    /* a rank that stopped before training tells the others, who stop too */
    if (!group_ready) code = mpi_agree(code);
    MPI_Finalize();
    return code;
}
#else
int main(int argc, char **argv)
{
    return train_main(argc, argv);
}
#endif
