/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the optimiser (contract in train.h): PyTorch's
 * clip_grad_norm_ and AdamW over the flat parameter block, whose gradients
 * and moments share its layout, so each is one loop split across the
 * threads; and the learning-rate schedule of a run. */
#include "train_impl.h"
#include "train_kernels.h"

#include <math.h>

static void st_sumsq(rnn_trainer *tr, int part, int nparts)
{
    size_t i0, i1;
    split(tr->n_params, part, nparts, &i0, &i1);
    double ss = 0;
    for (size_t i = i0; i < i1; i++)
        ss += (double)tr->grads[i] * tr->grads[i];
    tr->part_sum[part] = ss;
}

static void st_scale(rnn_trainer *tr, int part, int nparts)
{
    size_t i0, i1;
    split(tr->n_params, part, nparts, &i0, &i1);
    for (size_t i = i0; i < i1; i++)
        tr->grads[i] *= tr->opt.coef;
}

double rnn_trainer_clip_grad(rnn_trainer *tr, double max_norm)
{
    rnn_run_stage(tr, st_sumsq);
    double ss = 0;
    int nparts = rnn_stage_parts(tr);
    for (int p = 0; p < nparts; p++)
        ss += tr->part_sum[p];
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        /* PyTorch's clip_grad_norm_: coef = max_norm / (norm + 1e-6) */
        tr->opt.coef = (float)(max_norm / (norm + 1e-6));
        rnn_run_stage(tr, st_scale);
    }
    return norm;
}

static void st_adamw(rnn_trainer *tr, int part, int nparts)
{
    size_t i0, i1;
    split(tr->n_params, part, nparts, &i0, &i1);
    rnn_k_adamw(tr->params + i0, tr->grads + i0, tr->m + i0, tr->v + i0, i1 - i0, tr->opt.beta1,
                tr->opt.beta2, tr->opt.eps, tr->opt.decay, tr->opt.step_size, tr->opt.bc2s);
}

void rnn_trainer_adamw(rnn_trainer *tr, float lr, float beta1, float beta2, float eps,
                       float weight_decay, long step)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    tr->opt.step_size = (float)(lr / bc1);
    tr->opt.bc2s = (float)sqrt(bc2);
    tr->opt.decay = 1.0f - lr * weight_decay;
    tr->opt.beta1 = beta1;
    tr->opt.beta2 = beta2;
    tr->opt.eps = eps;
    rnn_run_stage(tr, st_adamw);
}

double rnn_train_lr(const rnn_train_options *o, long step, long total)
{
    if (o->warmup > 0 && step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
    if (total <= o->warmup) return o->lr;
    double x = (double)(step - o->warmup) / (double)(total - o->warmup);
    if (x > 1) x = 1;
    double lo = o->lr * o->lr_min_ratio;
    return lo + 0.5 * (o->lr - lo) * (1.0 + cos(3.141592653589793 * x));
}
