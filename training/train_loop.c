/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the whole training run (contract in train.h): the
 * default options, the loop of optimiser steps with its validations, early
 * stopping, checkpoints, log and progress bar, and OpenBLAS's settings.
 *
 * rnn_train_run reads as its steps: check the options, set up the trainer
 * (and resume), then step after step run_step (forward, backward, the
 * group's sum, clipping, AdamW) and run_after_step (validation at an
 * epoch's end, the log, the progress, a timed checkpoint), and run_finish. */
#include "train_impl.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* OpenBLAS. */

const char *rnn_blas_corename(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

int rnn_blas_is_fallback(void)
{
    const char *s = rnn_blas_corename();
    return strcasecmp(s, "Prescott") == 0 || strcasecmp(s, "Core2") == 0 ||
           strcasecmp(s, "Katmai") == 0;
}

void rnn_blas_set_threads(int n)
{
    openblas_set_num_threads(n > 0 ? n : 1);
}

/* ------------------------------------------------------------------------ */
/* Options and helpers of a run. */

void rnn_train_options_default(rnn_train_options *o, rnn_kind kind)
{
    memset(o, 0, sizeof *o);
    o->cfg.kind = kind;
    o->cfg.steps_per_quarter = RNN_DEFAULT_STEPS_PER_QUARTER;
    o->cfg.cell = RNN_CELL_LSTM;
    o->cfg.layers = 2;
    o->cfg.embed = 64;
    o->cfg.hidden = 256;
    o->cfg.vocab = rnn_kind_vocab(kind);
    o->batch = 64;
    o->seq_len = 64;
    o->lr = 2e-3f;
    o->lr_min_ratio = 0.05f;
    o->warmup = 200;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->clip = 1.0f;
    o->dropout = 0.25f;
    o->weight_decay = 0.01f;
    o->transpose = kind == RNN_KIND_MELODY ? 5 : 0;
    o->harmony_drop = 0.3f;
    o->epochs = 12;
    o->patience = 3;
    o->seed = 1;
    o->checkpoint_seconds = 300;
    o->threads = 2;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void format_hms(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e7) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The valid NLL of the trainer's weights, computed by rank 0 and sent to the
 * other ranks, which wait for it with an allowance of `allow` seconds. The
 * carried state is kept. 0, or -1 with a message. */
static int validate(rnn_trainer *tr, const rnn_train_options *o, const rnn_seq_list *valid,
                    double allow, double *vnll, char *err, size_t errlen)
{
    rnn_train_comm *cm = o->comm;
    *vnll = -1;
    if (!cm || cm->rank == 0) {
        float *state = malloc(rnn_trainer_state_size(tr) * sizeof(float));
        if (!state) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rnn_trainer_state_get(tr, state);
        *vnll = rnn_trainer_evaluate(tr, valid, o->cfg.kind, NULL, NULL);
        rnn_trainer_state_set(tr, state);
        free(state);
    }
    if (cm && cm->bcast(cm, vnll, sizeof *vnll, allow, err, errlen) != 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The training run: the state of one run, then its steps in order. */

typedef struct {
    const rnn_train_options *o;
    const rnn_seq_list *valid;
    rnn_train_comm *cm;
    int rank, nb, have_valid;
    rnn_trainer *tr;
    rnn_batcher *bt;
    float *best;      /* the best validated weights */
    int32_t *in, *tg; /* (T, batch) a window of the global batch */
    size_t P;         /* parameters */
    long spe, total;  /* steps per epoch, of the whole schedule */
    long stop;        /* the last step of this run */
    rnn_run_progress pr;
    double t0, last_ckpt, last_line, t_start;
    double rate_t, rate; /* steps per second, measured over 2 s or more */
    long rate_step, first_step;
    double loss;                /* train loss of the last step */
    double step_time;           /* mean seconds per step, for the wait on rank 0's evaluation */
    double valid_windows;       /* rank 0's windows of an evaluation */
    double last_vnll;           /* the valid NLL of the last step, when it was validated */
    int stopped;                /* by patience */
    int group_stop, group_ckpt; /* the group's agreed interrupt and checkpoint */
} run;

/* Tokens of the training split, whether valid has anything to count, and
 * options that cannot train. */
static int run_check(const rnn_train_options *o, const rnn_seq_list *train,
                     const rnn_seq_list *valid, size_t *tokens, int *have_valid, char *err,
                     size_t errlen)
{
    *tokens = 0;
    for (size_t i = 0; i < train->count; i++)
        if (train->seqs[i].len >= 2) *tokens += train->seqs[i].len - 1;
    if (*tokens == 0) {
        snprintf(err, errlen, "no training sequence of two steps or more");
        return -1;
    }
    *have_valid = 0;
    for (size_t i = 0; valid && i < valid->count; i++)
        *have_valid |= valid->seqs[i].len >= 2;
    if (o->epochs < 1 || o->lr <= 0 || o->clip < 0 || o->dropout < 0 || o->dropout >= 1 ||
        o->weight_decay < 0 || o->patience < 1) {
        snprintf(err, errlen,
                 "impossible options: epochs %d, lr %g, clip %g, dropout %g, weight decay %g, "
                 "patience %d",
                 o->epochs, o->lr, o->clip, o->dropout, o->weight_decay, o->patience);
        return -1;
    }
    return 0;
}

/* The trainer of this rank's lanes b0 .. b0 + nb - 1 of the batch (data
 * parallelism), the batcher, the buffers, the first weights (a preset, or
 * PyTorch's initialisation) and a checkpoint to resume from. */
static int run_setup(run *r, const rnn_seq_list *train, size_t tokens, char *err, size_t errlen)
{
    const rnn_train_options *o = r->o;
    const int size = r->cm ? r->cm->size : 1;
    if (size < 1 || r->rank < 0 || r->rank >= size || o->batch < size) {
        snprintf(err, errlen, "a batch of %d lanes cannot be shared by %d ranks (--batch >= ranks)",
                 o->batch, size);
        return -1;
    }
    const int b0 = (int)((long)o->batch * r->rank / size);
    r->nb = (int)((long)o->batch * (r->rank + 1) / size) - b0;
    if (!(r->tr = rnn_trainer_create(&o->cfg, r->nb, o->seq_len, err, errlen))) return -1;
    if (rnn_trainer_set_lane_slice(r->tr, o->batch, b0) != 0) {
        snprintf(err, errlen, "bad lane slice");
        return -1;
    }
    const size_t TB = (size_t)o->batch * o->seq_len;
    r->P = rnn_trainer_num_params(r->tr);
    r->bt = rnn_batcher_create(train, o->cfg.kind, o->batch, o->seq_len, 1, o->transpose, o->seed);
    r->best = malloc(r->P * sizeof(float));
    r->in = malloc(TB * sizeof(int32_t));
    r->tg = malloc(TB * sizeof(int32_t));
    if (!r->bt || !r->best || !r->in || !r->tg ||
        rnn_batcher_set_conditions(r->bt, &o->cfg, o->harmony_drop) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->init) {
        if (rnn_trainer_load_model(r->tr, o->init, err, errlen) != 0) return -1;
    } else {
        rnn_trainer_init_params(r->tr, o->seed);
    }
    rnn_trainer_set_dropout(r->tr, o->dropout, o->seed ^ 0xD80F0Full);
    if (o->threads > 1 && rnn_trainer_set_threads(r->tr, o->threads) != 0) {
        snprintf(err, errlen, "cannot start %d threads", o->threads);
        return -1;
    }
    memcpy(r->best, rnn_trainer_params(r->tr), r->P * sizeof(float));

    r->pr = (rnn_run_progress){0, 0, 0, -1, 0, 0};
    r->spe = o->steps_per_epoch > 0 ? o->steps_per_epoch : (long)((tokens + TB - 1) / TB);
    if (o->resume_path) {
        if (rnn_checkpoint_load(o->resume_path, o, r->tr, r->bt, r->best, &r->pr, err, errlen) != 0)
            return -1;
        /* the best weights are those of the last epoch that improved */
        if (r->pr.best_valid >= 0)
            r->pr.best_step = (long)(r->pr.epoch - r->pr.bad_epochs) * r->spe;
    }
    r->total = r->spe * o->epochs;
    r->stop = o->max_steps > 0 && o->max_steps < r->total ? o->max_steps : r->total;
    return 0;
}

/* Clocks and the estimate of rank 0's evaluation time, at the first step. */
static void run_start(run *r)
{
    r->t0 = r->last_ckpt = r->last_line = r->rate_t = r->t_start = now_seconds();
    r->rate_step = r->first_step = r->pr.step;
    r->rate = r->loss = r->step_time = 0;
    r->last_vnll = -1;
    r->stopped = r->pr.bad_epochs >= r->o->patience;
    size_t valid_tokens = 0;
    for (size_t i = 0; r->have_valid && i < r->valid->count; i++)
        valid_tokens += r->valid->seqs[i].len;
    /* the other ranks wait for rank 0's evaluation: its windows of nb lanes
     * at a generous guess of their time */
    r->valid_windows = r->have_valid ? (double)valid_tokens / ((double)r->nb * r->o->seq_len) +
                                           (double)r->valid->count
                                     : 0;
}

/* One optimiser step: a window forward and back, the group's sum of the
 * gradients (with the loss and the flags), clipping and AdamW. 0, or -1
 * with a message. */
static int run_step(run *r, double *norm, double *lr, char *err, size_t errlen)
{
    const rnn_train_options *o = r->o;
    rnn_train_comm *cm = r->cm;
    long gcount = rnn_batcher_next(r->bt, r->tr, r->in, r->tg);
    rnn_trainer_zero_grad(r->tr);
    long count = 0;
    double nll = rnn_trainer_forward_enc(r->tr, r->in, rnn_batcher_cond(r->bt),
                                         rnn_batcher_enc(r->bt), r->tg, 1, &count, NULL);
    if (cm) rnn_trainer_set_loss_count(r->tr, gcount);
    rnn_trainer_backward(r->tr);
    if (cm) {
        /* one fused sum of the gradients, with the loss and the flags */
        double d[3] = {nll, o->interrupt && *o->interrupt ? 1 : 0,
                       r->rank == 0 && o->checkpoint_path && o->checkpoint_seconds > 0 &&
                               now_seconds() - r->last_ckpt >= o->checkpoint_seconds
                           ? 1
                           : 0};
        if (cm->sum(cm, rnn_trainer_grads(r->tr), r->P, d, 3, 0, err, errlen) != 0) return -1;
        nll = d[0];
        count = gcount;
        r->group_stop = d[1] > 0;
        r->group_ckpt = d[2] > 0;
    }
    *norm = rnn_trainer_clip_grad(r->tr, o->clip);
    *lr = rnn_train_lr(o, r->pr.step, r->total);
    rnn_trainer_adamw(r->tr, (float)*lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                      r->pr.step + 1);
    r->pr.step++;
    r->loss = count ? nll / count : 0;
    if (!isfinite(r->loss) || !isfinite(*norm)) {
        snprintf(err, errlen,
                 "the loss diverged at step %ld (loss %g, gradient norm %g): lower --lr",
                 r->pr.step, r->loss, *norm);
        return -1;
    }
    return 0;
}

/* The end of an epoch: validate, keep the best weights, count the epochs
 * without improvement. *vnll is -1 without a valid split. */
static int run_epoch_end(run *r, double *vnll, char *err, size_t errlen)
{
    r->pr.epoch++;
    if (!r->have_valid) return 0;
    if (validate(r->tr, r->o, r->valid, 60 + 10 * r->valid_windows * r->step_time, vnll, err,
                 errlen) != 0)
        return -1;
    r->last_vnll = *vnll;
    r->rate_t = now_seconds(); /* the rate counts training steps only */
    r->rate_step = r->pr.step;
    if (r->pr.best_valid < 0 || *vnll < r->pr.best_valid) {
        r->pr.best_valid = *vnll;
        r->pr.best_step = r->pr.step;
        r->pr.bad_epochs = 0;
        memcpy(r->best, rnn_trainer_params(r->tr), r->P * sizeof(float));
    } else if (++r->pr.bad_epochs >= r->o->patience) {
        r->stopped = 1;
    }
    return 0;
}

/* The progress after a step at time t: a redrawn bar on a terminal (every
 * 0.1 s), plain lines elsewhere (every 10 s), and the epochs' validations. */
static void show_progress(run *r, double t, double vnll, int epoch_end)
{
    FILE *f = r->o->progress;
    const rnn_run_progress *pr = &r->pr;
    char eta[32];
    format_hms(eta, sizeof eta, r->rate > 0 ? (r->stop - pr->step) / r->rate : 0);
    double pct = 100.0 * (double)pr->step / (double)r->stop; /* of the whole run */
    int last = pr->step == r->stop;
    if (r->o->progress_tty && (epoch_end || last || t - r->last_line >= 0.1 || pr->step == 1)) {
        r->last_line = t;
        int w = 30, fill = (int)(pct / 100 * w);
        char bar[64];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(f, "\repoch %d/%ld [%s] %5.1f%%  %.2f steps/s  ETA %s  loss %.4f   ",
                pr->epoch + (epoch_end ? 0 : 1), (r->stop + r->spe - 1) / r->spe, bar, pct, r->rate,
                eta, r->loss);
        if (epoch_end && vnll >= 0)
            fprintf(f, "\nepoch %d: valid NLL %.4f%s\n", pr->epoch, vnll,
                    vnll == pr->best_valid ? " (best)" : "");
        else if (epoch_end)
            fputc('\n', f);
        fflush(f);
    } else if (!r->o->progress_tty &&
               (epoch_end || last || t - r->last_line >= 10.0 || pr->step == 1)) {
        fprintf(f, "step %ld/%ld epoch %d %.1f%% %.2f steps/s ETA %s loss %.4f", pr->step, r->stop,
                pr->epoch + (epoch_end ? 0 : 1), pct, r->rate, eta, r->loss);
        if (epoch_end && vnll >= 0)
            fprintf(f, " valid_nll %.4f%s", vnll, vnll == pr->best_valid ? " (best)" : "");
        fputc('\n', f);
        fflush(f);
        r->last_line = t;
    }
}

/* After a step at time t: the rate, the epoch's end, the log line, the
 * progress and a timed checkpoint. */
static int run_after_step(run *r, double norm, double lr, char *err, size_t errlen)
{
    const rnn_train_options *o = r->o;
    double t = now_seconds();
    if (t - r->rate_t >= 2.0 || r->rate == 0) {
        if (r->pr.step > r->rate_step && t > r->rate_t)
            r->rate = (r->pr.step - r->rate_step) / (t - r->rate_t);
        r->rate_t = t;
        r->rate_step = r->pr.step;
    }
    double vnll = -1;
    int epoch_end = r->pr.step % r->spe == 0;
    if (epoch_end && run_epoch_end(r, &vnll, err, errlen) != 0) return -1;
    if (o->log_csv) {
        fprintf(o->log_csv, "%ld,%d,%.6f,", r->pr.step, r->pr.epoch, r->loss);
        if (vnll >= 0) fprintf(o->log_csv, "%.6f", vnll);
        fprintf(o->log_csv, ",%.6g,%.6g,%.3f\n", lr, norm, r->rate);
        if (epoch_end) fflush(o->log_csv);
    }
    if (o->progress) show_progress(r, t, vnll, epoch_end);
    if (r->cm ? r->group_ckpt
              : o->checkpoint_path && o->checkpoint_seconds > 0 &&
                    t - r->last_ckpt >= o->checkpoint_seconds) {
        r->pr.seconds += t - r->t0;
        r->t0 = t;
        if (o->log_csv) fflush(o->log_csv); /* the log covers the checkpoint */
        if (rnn_checkpoint_save(o->checkpoint_path, o, r->tr, r->bt, r->best, &r->pr, err,
                                errlen) != 0)
            return -1;
        r->last_ckpt = t;
    }
    r->step_time = (now_seconds() - r->t_start) / (double)(r->pr.step - r->first_step);
    return 0;
}

/* The end of the run: the last checkpoint, and the choice of the weights to
 * return. A run that stopped between validations (max_steps, an interrupt)
 * has its last weights validated too, after the checkpoint, which keeps the
 * epochs' choice so that a resumed run goes on as if never stopped. */
static int run_finish(run *r, rnn_train_result *res, char *err, size_t errlen)
{
    const rnn_train_options *o = r->o;
    rnn_run_progress *pr = &r->pr;
    pr->seconds += now_seconds() - r->t0;
    if (o->progress && o->progress_tty) fputc('\n', o->progress);
    if (o->checkpoint_path &&
        rnn_checkpoint_save(o->checkpoint_path, o, r->tr, r->bt, r->best, pr, err, errlen) != 0)
        return -1;
    res->last_valid = pr->step == pr->best_step ? pr->best_valid : r->last_vnll;
    if (!r->have_valid) {
        memcpy(r->best, rnn_trainer_params(r->tr), r->P * sizeof(float));
        pr->best_step = pr->step;
    } else if (pr->step == 0 || pr->step % r->spe != 0) {
        if (o->progress) {
            fprintf(o->progress, "validating the weights of step %ld\n", pr->step);
            fflush(o->progress);
        }
        double vnll;
        if (validate(r->tr, o, r->valid, 60 + 10 * r->valid_windows * r->step_time, &vnll, err,
                     errlen) != 0)
            return -1;
        res->last_valid = vnll;
        int better = pr->best_valid < 0 || vnll < pr->best_valid;
        if (o->progress) {
            fprintf(o->progress, "step %ld: valid NLL %.4f%s\n", pr->step, vnll,
                    better ? " (best)" : "");
            fflush(o->progress);
        }
        if (better) {
            pr->best_valid = vnll;
            pr->best_step = pr->step;
            memcpy(r->best, rnn_trainer_params(r->tr), r->P * sizeof(float));
        }
    }
    res->steps = pr->step;
    res->epochs = pr->epoch;
    res->early_stopped = r->stopped;
    res->best_step = pr->best_step;
    res->best_valid = pr->best_valid;
    res->last_loss = r->loss;
    res->seconds = pr->seconds;
    res->best_params = r->best;
    res->n_params = r->P;
    r->best = NULL;
    return 0;
}

int rnn_train_run(const rnn_train_options *o, const rnn_seq_list *train, const rnn_seq_list *valid,
                  rnn_train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->best_valid = res->last_valid = -1;
    size_t tokens;
    run r = {.o = o, .valid = valid, .cm = o->comm, .rank = o->comm ? o->comm->rank : 0};
    if (run_check(o, train, valid, &tokens, &r.have_valid, err, errlen) != 0) return -1;
    int rc = -1;
    if (run_setup(&r, train, tokens, err, errlen) != 0) goto done;
    run_start(&r);
    while (r.pr.step < r.stop && !r.stopped) {
        if (r.cm ? r.group_stop : o->interrupt && *o->interrupt) {
            res->interrupted = 1;
            break;
        }
        double norm, lr;
        if (run_step(&r, &norm, &lr, err, errlen) != 0) goto done;
        if (run_after_step(&r, norm, lr, err, errlen) != 0) goto done;
    }
    rc = run_finish(&r, res, err, errlen);
done:
    rnn_trainer_free(r.tr);
    rnn_batcher_free(r.bt);
    free(r.best);
    free(r.in);
    free(r.tg);
    return rc;
}
