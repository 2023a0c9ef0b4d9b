/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the trainer's threads (contract in train_impl.h).
 *
 * n - 1 threads wait on a condition variable for the next stage. A stage
 * has one part per thread, claimed one at a time from a shared counter by
 * whichever thread is free, the calling thread included, and the caller
 * returns when every part is done. On a machine other programs share, a
 * worker that is woken but not given a core for a while does not hold up
 * the stage: the caller takes its part, and the worker finds the work done.
 * (More parts than threads would let the threads even out further, but
 * each part of a product repacks its shared operand: measured, the extra
 * packing cost what the balance gained.) What a part computes depends on
 * its index and the part count alone, so the thread that runs it does not
 * change a result.
 *
 * The lanes of a batch are independent through the whole recurrence, so
 * one stage covers all T steps of a layer and a pass needs a handful of
 * stages, not one per step. */
#include "train_impl.h"

#include <pthread.h>
#include <stdatomic.h>

struct rnn_pool {
    pthread_t th[RNN_TRAIN_MAX_THREADS];
    int n, started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    /* under mu: the stage, its generation, the parts finished, quit */
    unsigned long gen;
    int nparts, finished, quit;
    rnn_stage_fn fn;
    rnn_trainer *tr;
    /* the next part to claim, with the low 32 bits of its stage's
     * generation above it, so a thread still on an older stage claims
     * nothing of a newer one */
    _Atomic uint64_t next;
};

/* Run parts of stage gen until none is left; returns how many ran. */
static int claim_parts(struct rnn_pool *p, uint64_t gen, rnn_stage_fn fn, rnn_trainer *tr,
                       int nparts)
{
    int ran = 0;
    uint64_t v = atomic_load(&p->next);
    for (;;) {
        if (v >> 32 != (gen & 0xFFFFFFFFu) || (int)(v & 0xFFFFFFFFu) >= nparts) return ran;
        if (!atomic_compare_exchange_weak(&p->next, &v, v + 1)) continue;
        fn(tr, (int)(v & 0xFFFFFFFFu), nparts);
        ran++;
        v = atomic_load(&p->next);
    }
}

static void parts_done(struct rnn_pool *p, int ran)
{
    if (ran == 0) return;
    pthread_mutex_lock(&p->mu);
    p->finished += ran;
    if (p->finished == p->nparts) pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
}

static void *pool_main(void *arg)
{
    struct rnn_pool *p = arg; /* a worker has no part of its own: it claims them */
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        rnn_stage_fn fn = p->fn;
        rnn_trainer *tr = p->tr;
        const int nparts = p->nparts;
        pthread_mutex_unlock(&p->mu);
        /* a part claimed under generation seen keeps its stage running
         * until it is reported, so fn, tr and nparts stay that stage's */
        parts_done(p, claim_parts(p, seen, fn, tr, nparts));
    }
}

void rnn_pool_free(struct rnn_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->started; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p);
}

static struct rnn_pool *pool_create(int n)
{
    struct rnn_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->started = 1;
    atomic_init(&p->next, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&p->th[i], NULL, pool_main, p) != 0) {
            rnn_pool_free(p);
            return NULL;
        }
        p->started = i + 1;
    }
    return p;
}

void rnn_run_stage(rnn_trainer *tr, rnn_stage_fn fn)
{
    struct rnn_pool *p = tr->pool;
    const int nparts = rnn_stage_parts(tr);
    if (nparts <= 1) {
        fn(tr, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->tr = tr;
    p->nparts = nparts;
    p->finished = 0;
    p->gen++;
    const uint64_t gen = p->gen;
    atomic_store(&p->next, (gen & 0xFFFFFFFFu) << 32);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    parts_done(p, claim_parts(p, gen, fn, tr, nparts));
    pthread_mutex_lock(&p->mu);
    while (p->finished < nparts)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int rnn_trainer_set_threads(rnn_trainer *tr, int n)
{
    if (n < 1) n = 1;
    if (n > RNN_TRAIN_MAX_THREADS) n = RNN_TRAIN_MAX_THREADS;
    if (n > tr->B) n = tr->B;
    rnn_pool_free(tr->pool);
    tr->pool = NULL;
    if (n > 1 && !(tr->pool = pool_create(n))) return -1;
    return 0;
}

int rnn_trainer_threads(const rnn_trainer *tr)
{
    return tr->pool ? tr->pool->n : 1;
}

int rnn_stage_parts(const rnn_trainer *tr)
{
    return tr->pool ? tr->pool->n : 1;
}
