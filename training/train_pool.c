/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the trainer's threads (contract in train_impl.h).
 *
 * n - 1 threads wait on a condition variable for the next stage; the caller
 * runs part 0 itself and waits until every other part is done. The lanes of
 * a batch are independent through the whole recurrence, so one stage covers
 * all T steps of a layer and a pass needs a handful of stages, not one per
 * step. */
#include "train_impl.h"

#include <pthread.h>

typedef struct {
    struct rnn_pool *pool;
    int index;
} pool_slot;

struct rnn_pool {
    pthread_t th[RNN_TRAIN_MAX_THREADS];
    pool_slot slot[RNN_TRAIN_MAX_THREADS];
    int n, started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending, quit;
    rnn_stage_fn fn;
    rnn_trainer *tr;
};

static void *pool_main(void *arg)
{
    pool_slot *slot = arg;
    struct rnn_pool *p = slot->pool;
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
        pthread_mutex_unlock(&p->mu);
        fn(tr, slot->index, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < n; i++) {
        p->slot[i].pool = p;
        p->slot[i].index = i;
        if (pthread_create(&p->th[i], NULL, pool_main, &p->slot[i]) != 0) {
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
    if (!p || p->n <= 1) {
        fn(tr, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->tr = tr;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(tr, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
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
