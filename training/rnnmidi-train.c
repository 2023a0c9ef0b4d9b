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

static void usage(FILE *f)
{
    rnn_train_options d;
    rnn_train_options_default(&d, RNN_KIND_MELODY);
    fprintf(f,
            "Usage: %s --data DIR --kind melody|drums --out FILE.rnnw [options]\n"
            "Train a recurrent net on the MIDI files under DIR (the train split; the valid\n"
            "split picks the best epoch) and write the preset FILE.rnnw, with FILE.csv (log),\n"
            "FILE.svg (loss curve) and FILE.ckpt (checkpoint) beside it.\n"
            "\n"
            "Model:\n"
            "  --cell lstm|gru|rnn     cell type (%s)\n"
            "  --layers N              stacked layers, 1..%d (%d)\n"
            "  --hidden N              hidden units per layer (%d)\n"
            "  --embed N               embedding size, 0 = one-hot input (%d)\n"
            "  --init PRESET           start from a preset's weights (fine-tuning); its\n"
            "                          kind, cell and sizes are used\n"
            "Training:\n"
            "  --seq-len T             steps per window of truncated BPTT (%d)\n"
            "  --batch B               windows per optimiser step (%d)\n"
            "  --lr X                  peak learning rate, warm-up then cosine decay (%g)\n"
            "  --warmup N              warm-up steps (%ld)\n"
            "  --clip X                gradient-norm clipping, 0 = off (%g)\n"
            "  --dropout X             dropout between layers and before the head (%g)\n"
            "  --weight-decay X        AdamW's decoupled weight decay (%g)\n"
            "  --transpose K           melody augmentation: random shift in -K..K (%d)\n"
            "  --epochs N              at most N epochs (%d)\n"
            "  --steps-per-epoch N     optimiser steps per epoch (train steps / (B x T))\n"
            "  --max-steps N           stop after N optimiser steps (the schedule still\n"
            "                          spans --epochs); the last step is validated too\n"
            "  --patience N            stop after N epochs without a better valid NLL (%d)\n"
            "  --seed N                random seed (%llu)\n"
            "  --threads N             threads (%d); a resumed run must use the same count\n"
            "  --checkpoint-minutes X  checkpoint interval (%g)\n"
            "  --resume                continue from FILE.ckpt (same options and seed: the\n"
            "                          same losses as a run never interrupted)\n"
            "  --name TEXT             the preset's name (FILE without folder and .rnnw)\n"
            "  --quiet                 no progress output\n"
            "  --help                  this text\n",
            prog, rnn_cell_name(d.cfg.cell), RNN_MAX_LAYERS, d.cfg.layers, d.cfg.hidden,
            d.cfg.embed, d.seq_len, d.batch, d.lr, d.warmup, d.clip, d.dropout, d.weight_decay,
            d.transpose, d.epochs, d.patience, (unsigned long long)d.seed, d.threads,
            d.checkpoint_seconds / 60);
#ifdef RNNMIDI_MPI
    fprintf(f,
            "MPI (mpirun -np N %s ...; training/CLUSTER.md):\n"
            "  --mpi-timeout SECONDS   end the job when a rank does not answer a collective\n"
            "                          within this time (%g); the wait for rank 0's\n"
            "                          evaluation adds an allowance for it\n"
            "The global batch (--batch, at least N) is shared by the N ranks; --threads\n"
            "counts threads per rank. Resume works with another N.\n",
            prog, 120.0);
#endif
}

static void free_paths(char *a, char *b, char *c)
{
    free(a);
    free(b);
    free(c);
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

static int train_main(int argc, char **argv)
{
    rnn_train_options o;
    rnn_train_options_default(&o, RNN_KIND_MELODY);
    int quiet_arg = 0;
    for (int i = 1; i < argc; i++) {
        if (rnn_cli_is_help(argv[i])) {
            if (mpi_rank == 0) usage(stdout);
            return EXIT_OK;
        }
        quiet_arg |= !strcmp(argv[i], "--quiet");
    }
#ifndef RNNMIDI_MPI
    choose_blas_core(argv, quiet_arg); /* the MPI build's main did it before MPI_Init */
#else
    (void)quiet_arg;
#endif
    static const char *data[64];
    size_t n_data = 0;
    const char *out = NULL, *init_path = NULL, *name = NULL;
    int kind_set = 0, resume = 0, quiet = 0, shape_set = 0;
    rnn_kind kind = RNN_KIND_MELODY;
    rnn_model_config shape = o.cfg;
    long lv;
    double dv;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                                     \
    do {                                                                                           \
        if (!v) return bad_usage("%s needs a value", a);                                           \
        i++;                                                                                       \
    } while (0)
        if (rnn_cli_is_help(a)) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--data")) {
            NEED();
            if (n_data == sizeof data / sizeof data[0]) return bad_usage("%s", "too many --data");
            data[n_data++] = v;
        } else if (!strcmp(a, "--out")) {
            NEED();
            out = v;
        } else if (!strcmp(a, "--kind")) {
            NEED();
            if (rnn_cli_kind(v, &kind)) return bad_usage("unknown kind '%s' (melody or drums)", v);
            kind_set = 1;
        } else if (!strcmp(a, "--cell")) {
            NEED();
            if (!strcmp(v, "lstm"))
                shape.cell = RNN_CELL_LSTM;
            else if (!strcmp(v, "gru"))
                shape.cell = RNN_CELL_GRU;
            else if (!strcmp(v, "rnn"))
                shape.cell = RNN_CELL_RNN;
            else
                return bad_usage("unknown cell '%s' (lstm, gru or rnn)", v);
            shape_set = 1;
        } else if (!strcmp(a, "--layers")) {
            NEED();
            if (rnn_cli_long(v, 1, RNN_MAX_LAYERS, &lv))
                return bad_usage("--layers '%s' is not a number in 1..4", v);
            shape.layers = (int)lv;
            shape_set = 1;
        } else if (!strcmp(a, "--hidden")) {
            NEED();
            if (rnn_cli_long(v, 1, RNN_MAX_HIDDEN, &lv))
                return bad_usage("--hidden '%s' is not a number in 1..4096", v);
            shape.hidden = (int)lv;
            shape_set = 1;
        } else if (!strcmp(a, "--embed")) {
            NEED();
            if (rnn_cli_long(v, 0, RNN_MAX_EMBED, &lv))
                return bad_usage("--embed '%s' is not a number in 0..4096", v);
            shape.embed = (int)lv;
            shape_set = 1;
        } else if (!strcmp(a, "--seq-len")) {
            NEED();
            if (rnn_cli_long(v, 2, 4096, &lv))
                return bad_usage("--seq-len '%s' is not a number in 2..4096", v);
            o.seq_len = (int)lv;
        } else if (!strcmp(a, "--batch")) {
            NEED();
            if (rnn_cli_long(v, 1, 4096, &lv))
                return bad_usage("--batch '%s' is not a number in 1..4096", v);
            o.batch = (int)lv;
        } else if (!strcmp(a, "--lr")) {
            NEED();
            if (rnn_cli_double(v, 1e-7, 1.0, &dv))
                return bad_usage("--lr '%s' is not a number in 1e-7..1", v);
            o.lr = (float)dv;
        } else if (!strcmp(a, "--warmup")) {
            NEED();
            if (rnn_cli_long(v, 0, 100000000, &lv))
                return bad_usage("--warmup '%s' is not a count", v);
            o.warmup = lv;
        } else if (!strcmp(a, "--clip")) {
            NEED();
            if (rnn_cli_double(v, 0, 1e6, &dv))
                return bad_usage("--clip '%s' is not a number >= 0", v);
            o.clip = (float)dv;
        } else if (!strcmp(a, "--dropout")) {
            NEED();
            if (rnn_cli_double(v, 0, 0.95, &dv))
                return bad_usage("--dropout '%s' is not a number in 0..0.95", v);
            o.dropout = (float)dv;
        } else if (!strcmp(a, "--weight-decay")) {
            NEED();
            if (rnn_cli_double(v, 0, 10, &dv))
                return bad_usage("--weight-decay '%s' is not a number in 0..10", v);
            o.weight_decay = (float)dv;
        } else if (!strcmp(a, "--transpose")) {
            NEED();
            if (rnn_cli_long(v, 0, 24, &lv))
                return bad_usage("--transpose '%s' is not in 0..24", v);
            o.transpose = (int)lv;
        } else if (!strcmp(a, "--epochs")) {
            NEED();
            if (rnn_cli_long(v, 1, 1000000, &lv))
                return bad_usage("--epochs '%s' is not a count", v);
            o.epochs = (int)lv;
        } else if (!strcmp(a, "--steps-per-epoch")) {
            NEED();
            if (rnn_cli_long(v, 1, 1000000000, &lv))
                return bad_usage("--steps-per-epoch '%s' is not a count", v);
            o.steps_per_epoch = lv;
        } else if (!strcmp(a, "--max-steps")) {
            NEED();
            if (rnn_cli_long(v, 1, 1000000000, &lv))
                return bad_usage("--max-steps '%s' is not a count", v);
            o.max_steps = lv;
        } else if (!strcmp(a, "--patience")) {
            NEED();
            if (rnn_cli_long(v, 1, 1000000, &lv))
                return bad_usage("--patience '%s' is not a count", v);
            o.patience = (int)lv;
        } else if (!strcmp(a, "--seed")) {
            NEED();
            if (rnn_cli_long(v, 0, 0x7fffffffL, &lv))
                return bad_usage("--seed '%s' is not a number", v);
            o.seed = (uint64_t)lv;
        } else if (!strcmp(a, "--threads")) {
            NEED();
            if (rnn_cli_long(v, 1, RNN_TRAIN_MAX_THREADS, &lv))
                return bad_usage("--threads '%s' is not a number in 1..16", v);
            o.threads = (int)lv;
        } else if (!strcmp(a, "--checkpoint-minutes")) {
            NEED();
            if (rnn_cli_double(v, 0, 1e6, &dv))
                return bad_usage("--checkpoint-minutes '%s' is not a number", v);
            o.checkpoint_seconds = dv * 60;
        } else if (!strcmp(a, "--init")) {
            NEED();
            init_path = v;
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--name")) {
            NEED();
            name = v;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
#ifdef RNNMIDI_MPI
        } else if (!strcmp(a, "--mpi-timeout")) {
            NEED();
            if (rnn_cli_double(v, 1, 1e6, &dv))
                return bad_usage("--mpi-timeout '%s' is not a number of seconds >= 1", v);
            group.timeout = dv;
#endif
        } else {
            return bad_usage("unknown option '%s'", a);
        }
#undef NEED
    }
    if (n_data == 0) return bad_usage("%s", "--data DIR is required");
    if (!out) return bad_usage("%s", "--out FILE.rnnw is required");
    if (!kind_set && !init_path) return bad_usage("%s", "--kind melody|drums is required");

    char err[512];
    rnn_model *init = NULL;
    shape.kind = kind;
    shape.vocab = rnn_kind_vocab(kind);
    shape.steps_per_quarter = RNN_DEFAULT_STEPS_PER_QUARTER;
    if (init_path) {
        init = rnn_model_load(init_path, err, sizeof err);
        if (!init) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return EXIT_INPUT;
        }
        const rnn_model_config *ic = rnn_model_get_config(init);
        if (kind_set && ic->kind != kind) {
            fprintf(stderr, "%s: %s is a %s preset, not %s\n", prog, init_path,
                    rnn_kind_name(ic->kind), rnn_kind_name(kind));
            rnn_model_free(init);
            return EXIT_INPUT;
        }
        if (shape_set && (ic->cell != shape.cell || ic->layers != shape.layers ||
                          ic->hidden != shape.hidden || ic->embed != shape.embed)) {
            fprintf(stderr,
                    "%s: %s is %s %d x %d (embed %d); drop --cell/--layers/--hidden/--embed "
                    "when fine-tuning\n",
                    prog, init_path, rnn_cell_name(ic->cell), ic->layers, ic->hidden, ic->embed);
            rnn_model_free(init);
            return EXIT_INPUT;
        }
        shape = *ic;
        kind = ic->kind;
        if (kind != RNN_KIND_MELODY) o.transpose = 0;
    }
    if (kind != RNN_KIND_MELODY) o.transpose = 0;
    o.cfg = shape;
    if (rnn_model_config_check(&o.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_model_free(init);
        return EXIT_USAGE;
    }
    o.init = init;

    char *csv_path = beside(out, ".csv"), *svg_path = beside(out, ".svg"),
         *ckpt_path = beside(out, ".ckpt");
    if (!csv_path || !svg_path || !ckpt_path) {
        fprintf(stderr, "%s: out of memory\n", prog);
        free_paths(csv_path, svg_path, ckpt_path);
        return EXIT_INPUT;
    }
    if (resume && mpi_rank == 0 && access(ckpt_path, R_OK) != 0) {
        fprintf(stderr, "%s: --resume: no checkpoint %s (%s)\n", prog, ckpt_path, strerror(errno));
        free_paths(csv_path, svg_path, ckpt_path);
        return EXIT_INPUT;
    }

    /* OpenBLAS runs one thread inside each of the trainer's own */
    rnn_blas_set_threads(1);
    FILE *msg = quiet || mpi_rank != 0 ? NULL : stderr;
    if (msg) fprintf(msg, "%s: OpenBLAS core %s\n", prog, rnn_blas_corename());
    if (rnn_blas_is_fallback() && mpi_rank == 0)
        fprintf(stderr,
                "%s: OpenBLAS runs its slow generic %s kernels; OPENBLAS_CORETYPE=Haswell (AVX2) "
                "or SkylakeX (AVX-512) selects faster ones\n",
                prog, rnn_blas_corename());

    rnn_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (rnn_dataset_load(&ds, data, n_data, kind, shape.steps_per_quarter, msg, err, sizeof err) !=
        0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_model_free(init);
        free_paths(csv_path, svg_path, ckpt_path);
        return EXIT_INPUT;
    }
    size_t tokens = 0;
    for (size_t i = 0; i < ds.split[RNN_SPLIT_TRAIN].count; i++)
        tokens += ds.split[RNN_SPLIT_TRAIN].seqs[i].len;
    if (msg)
        fprintf(msg,
                "%s: %zu train files (%zu sequences, %zu steps), %zu valid, %zu test, %zu "
                "unreadable\n",
                prog, ds.files[RNN_SPLIT_TRAIN], ds.split[RNN_SPLIT_TRAIN].count, tokens,
                ds.files[RNN_SPLIT_VALID], ds.files[RNN_SPLIT_TEST], ds.n_failed);
    if (tokens < 2) {
        fprintf(stderr, "%s: no usable %s sequence in the train split of the data\n", prog,
                rnn_kind_name(kind));
        rnn_dataset_free(&ds);
        rnn_model_free(init);
        free_paths(csv_path, svg_path, ckpt_path);
        return EXIT_INPUT;
    }

    FILE *log = NULL;
    if (mpi_rank != 0) {
        log = fopen("/dev/null", "w"); /* rank 0 alone logs */
    } else if (resume) {
        long done = rnn_train_checkpoint_steps(ckpt_path);
        if (done < 0 || trim_log(csv_path, done) != 0) {
            fprintf(stderr, "%s: %s: cannot read the checkpoint or rewrite %s\n", prog, ckpt_path,
                    csv_path);
            free_paths(csv_path, svg_path, ckpt_path);
            rnn_dataset_free(&ds);
            rnn_model_free(init);
            return EXIT_INPUT;
        }
        log = fopen(csv_path, "a");
    } else {
        log = fopen(csv_path, "w");
        if (log) fprintf(log, "step,epoch,train_loss,valid_nll,lr,grad_norm,steps_per_s\n");
    }
    if (!log) {
        fprintf(stderr, "%s: %s: %s\n", prog, csv_path, strerror(errno));
        free_paths(csv_path, svg_path, ckpt_path);
        rnn_dataset_free(&ds);
        rnn_model_free(init);
        return EXIT_INPUT;
    }

    o.log_csv = mpi_rank == 0 ? log : NULL;
    o.progress = msg;
    o.progress_tty = msg && isatty(fileno(msg));
    o.checkpoint_path = ckpt_path;
    o.resume_path = resume ? ckpt_path : NULL;
    o.interrupt = &interrupted;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (msg)
        fprintf(msg,
                "%s: %s %s %d x %d, embed %d, batch %d x %d steps, lr %g, dropout %g, %d "
                "threads\n",
                prog, rnn_kind_name(kind), rnn_cell_name(shape.cell), shape.layers, shape.hidden,
                shape.embed, o.batch, o.seq_len, o.lr, o.dropout, o.threads);

#ifdef RNNMIDI_MPI
    rnn_train_comm comm = {mpi_rank, mpi_size, mpi_sum, mpi_bcast, &group};
    o.comm = &comm;
    {
        rnn_tensor_spec sp[RNN_MAX_TENSORS];
        int n = rnn_model_tensor_specs(&o.cfg, sp);
        for (int i = 0; i < n; i++)
            group.grad_floats += sp[i].count;
    }
    int ready = 0;
    if (o.batch < mpi_size) {
        if (mpi_rank == 0)
            fprintf(stderr,
                    "%s: --batch %d cannot be shared by %d ranks (one lane each at least)\n", prog,
                    o.batch, mpi_size);
        ready = EXIT_USAGE;
    }
    int agreed = mpi_agree(ready);
    if (agreed != 0) {
        fclose(log);
        rnn_dataset_free(&ds);
        rnn_model_free(init);
        free_paths(csv_path, svg_path, ckpt_path);
        return agreed;
    }
    if (msg)
        fprintf(msg, "%s: %d MPI ranks share the batch of %d (%d threads each)\n", prog, mpi_size,
                o.batch, o.threads);
    group.busy_t0 = MPI_Wtime();
    group.cpu_t0 = cpu_seconds();
#endif

    rnn_train_result res;
    int rc = rnn_train_run(&o, &ds.split[RNN_SPLIT_TRAIN], &ds.split[RNN_SPLIT_VALID], &res, err,
                           sizeof err);
    int log_bad = fclose(log) != 0;
#ifdef RNNMIDI_MPI
    if (rc != 0) mpi_fail(err, EXIT_INPUT);
    if (msg && group.sums > 0)
        fprintf(msg,
                "%s: MPI: %d ranks, %zu gradient bytes per step, %.3f ms per step, %.3f ms of it "
                "in the gradient sum, %.3f ms CPU per step on rank 0\n",
                prog, mpi_size, group.grad_floats * sizeof(float),
                1e3 * (MPI_Wtime() - group.busy_t0) / (double)group.sums,
                1e3 * group.wait / (double)group.sums,
                1e3 * (cpu_seconds() - group.cpu_t0) / (double)group.sums);
    if (mpi_rank != 0) {
        free(res.best_params);
        free(csv_path);
        free(svg_path);
        free(ckpt_path);
        rnn_dataset_free(&ds);
        rnn_model_free(init);
        return res.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
    }
#endif
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_dataset_free(&ds);
        rnn_model_free(init);
        free_paths(csv_path, svg_path, ckpt_path);
        return EXIT_INPUT;
    }
    if (log_bad) fprintf(stderr, "%s: %s: write error\n", prog, csv_path);

    /* the preset */
    char steps_s[32], epochs_s[32], valid_s[32], files_s[96], date_s[64], secs_s[32], loss_s[32];
    char wsteps_s[32];
    snprintf(steps_s, sizeof steps_s, "%ld", res.steps);
    snprintf(wsteps_s, sizeof wsteps_s, "%ld", res.best_step);
    snprintf(epochs_s, sizeof epochs_s, "%d", res.epochs);
    if (res.best_valid >= 0)
        snprintf(valid_s, sizeof valid_s, "%.4f", res.best_valid);
    else
        snprintf(valid_s, sizeof valid_s, "none");
    snprintf(loss_s, sizeof loss_s, "%.4f", res.last_loss);
    snprintf(secs_s, sizeof secs_s, "%.0f", res.seconds);
    snprintf(files_s, sizeof files_s, "%zu train, %zu valid, %zu test", ds.files[RNN_SPLIT_TRAIN],
             ds.files[RNN_SPLIT_VALID], ds.files[RNN_SPLIT_TEST]);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(date_s, sizeof date_s, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    size_t clen = 1, dlen = 1;
    for (int i = 0; i < argc; i++)
        clen += strlen(argv[i]) + 1;
    for (size_t i = 0; i < n_data; i++)
        dlen += strlen(data[i]) + 1;
    char *command = malloc(clen), *data_s = malloc(dlen), *name_s = NULL;
    if (!command || !data_s) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_INPUT;
    }
    command[0] = data_s[0] = 0;
    for (int i = 0; i < argc; i++) {
        if (i) strcat(command, " ");
        strcat(command, argv[i]);
    }
    for (size_t i = 0; i < n_data; i++) {
        if (i) strcat(data_s, " ");
        strcat(data_s, data[i]);
    }
    sanitize(command);
    sanitize(data_s);
    if (!name) {
        const char *base = strrchr(out, '/');
        base = base ? base + 1 : out;
        name_s = beside(base, "");
        name = name_s ? name_s : "rnnmidi";
    }
    rnn_meta meta[] = {
        {"name", name},
        {"data", data_s},
        {"files", files_s},
        {"steps", steps_s},
        {"weights_step", wsteps_s},
        {"epochs", epochs_s},
        {"valid_nll", valid_s},
        {"train_loss", loss_s},
        {"train_seconds", secs_s},
        {"blas", rnn_blas_corename()},
        {"command", command},
        {"created", date_s},
    };
    const float *tensors[RNN_MAX_TENSORS];
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int nt = rnn_model_tensor_specs(&o.cfg, specs);
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        tensors[i] = res.best_params + off;
        off += specs[i].count;
    }
    int exit_code = res.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
    if (nt < 0 || off != res.n_params) {
        fprintf(stderr, "%s: the trainer's tensors do not match the preset format\n", prog);
        exit_code = EXIT_INPUT;
    } else if (rnn_model_write(out, &o.cfg, meta, sizeof meta / sizeof meta[0], tensors, err,
                               sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit_code = EXIT_INPUT;
    }
    char title[256];
    snprintf(title, sizeof title, "%s: %s %s %d x %d, best valid NLL %s", name, rnn_kind_name(kind),
             rnn_cell_name(shape.cell), shape.layers, shape.hidden, valid_s);
    if (rnn_plot_loss_svg(csv_path, svg_path, title, err, sizeof err) != 0)
        fprintf(stderr, "%s: warning: no loss curve: %s\n", prog, err);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (msg) {
        fprintf(msg,
                "%s: %s after %ld steps, %d epochs, %.0f s: best valid NLL %s nats/step, last "
                "train loss %s; peak memory %.1f MiB\n",
                prog,
                exit_code == EXIT_INPUT ? "failed"
                : res.interrupted       ? "interrupted"
                : res.early_stopped     ? "stopped early (no better valid NLL)"
                                        : "done",
                res.steps, res.epochs, res.seconds, valid_s, loss_s, ru.ru_maxrss / 1024.0);
        if (exit_code != EXIT_INPUT) {
            char which[160];
            describe_weights(which, sizeof which, &res);
            fprintf(msg, "%s: wrote %s: %s\n", prog, out, which);
            fprintf(msg, "%s: wrote %s, %s\n", prog, csv_path, svg_path);
        }
    }
    /* a stop by a signal is said even with --quiet */
    if (res.interrupted && mpi_rank == 0)
        fprintf(stderr,
                "%s: stopped by %s at step %ld; checkpoint %s; continue with the same command "
                "and --resume\n",
                prog,
                stop_signal == SIGTERM  ? "SIGTERM"
                : stop_signal == SIGINT ? "SIGINT (Ctrl-C)"
                                        : "a signal",
                res.steps, ckpt_path);
    free(res.best_params);
    free(command);
    free(data_s);
    free(name_s);
    free(csv_path);
    free(svg_path);
    free(ckpt_path);
    rnn_dataset_free(&ds);
    rnn_model_free(init);
    return exit_code;
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
