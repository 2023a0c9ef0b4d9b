/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the model slot (see slot.h for the contract).
 *
 * A model travels in a record allocated by the offer: the record waits in
 * `pending` (one atomic pointer), the audio thread exchanges it out, keeps it
 * while the model is being installed and puts the replaced model in it, then
 * pushes it on the `retired` stack; retire empties the stack in one exchange
 * and frees it. The audio thread so never allocates or frees, and a record
 * is only ever owned by one thread: whoever exchanged it out of an atomic.
 * Retire takes the whole stack at once, so the push never meets the ABA
 * problem of a stack popped one record at a time. */
#include "slot.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct record {
    rnn_engine_model *model; /* offered; after a take, the one it replaced */
    uint32_t gen;
    struct record *next; /* on the retired stack */
} record;

struct rnn_slot {
    _Atomic(record *) pending; /* offered, not yet taken */
    _Atomic(record *) retired; /* handed back, not yet freed: a stack */
    atomic_uint gen;           /* latest generation requested */
    record *held;              /* audio thread: taken, not yet given back */
};

static void free_record(record *r)
{
    if (!r) return;
    rnn_engine_model_free(r->model);
    free(r);
}

rnn_slot *rnn_slot_create(void)
{
    rnn_slot *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->pending, NULL);
    atomic_init(&s->retired, NULL);
    atomic_init(&s->gen, 0);
    return s;
}

void rnn_slot_free(rnn_slot *s)
{
    if (!s) return;
    free_record(atomic_load(&s->pending));
    rnn_slot_retire(s);
    free_record(s->held);
    free(s);
}

uint32_t rnn_slot_request(rnn_slot *s)
{
    return atomic_fetch_add(&s->gen, 1) + 1;
}

uint32_t rnn_slot_generation(const rnn_slot *s)
{
    return atomic_load(&((rnn_slot *)s)->gen);
}

int rnn_slot_offer(rnn_slot *s, rnn_engine_model *em, uint32_t gen)
{
    if (!em) return 0;
    record *r = gen == rnn_slot_generation(s) ? malloc(sizeof *r) : NULL;
    if (!r) {
        rnn_engine_model_free(em);
        return 0;
    }
    r->model = em;
    r->gen = gen;
    r->next = NULL;
    /* the one it replaces never reached the audio thread: ours to free */
    free_record(atomic_exchange_explicit(&s->pending, r, memory_order_acq_rel));
    return 1;
}

/* Audio thread: lock-free; the loop repeats only when a retire emptied the
 * stack between the load and the exchange. */
static void push_retired(rnn_slot *s, record *r)
{
    record *head = atomic_load_explicit(&s->retired, memory_order_relaxed);
    do {
        r->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&s->retired, &head, r, memory_order_release,
                                                    memory_order_relaxed));
}

rnn_engine_model *rnn_slot_take(rnn_slot *s)
{
    /* the plain load first: most blocks find nothing and write nothing */
    if (s->held || !atomic_load_explicit(&s->pending, memory_order_relaxed)) return NULL;
    record *r = atomic_exchange_explicit(&s->pending, NULL, memory_order_acq_rel);
    if (!r) return NULL;
    if (r->gen != rnn_slot_generation(s)) { /* a newer request is on its way */
        push_retired(s, r);
        return NULL;
    }
    rnn_engine_model *em = r->model;
    r->model = NULL;
    s->held = r;
    return em;
}

void rnn_slot_give_back(rnn_slot *s, rnn_engine_model *old)
{
    record *r = s->held;
    if (!r) return;
    s->held = NULL;
    r->model = old;
    push_retired(s, r);
}

const rnn_engine_model *rnn_slot_install(rnn_slot *s, rnn_engine *e)
{
    rnn_engine_model *em = rnn_slot_take(s);
    if (!em) return NULL;
    rnn_slot_give_back(s, rnn_engine_set_model(e, em));
    return em;
}

int rnn_slot_retire(rnn_slot *s)
{
    record *r = atomic_exchange_explicit(&s->retired, NULL, memory_order_acquire);
    int n = 0;
    while (r) {
        record *next = r->next;
        n += r->model != NULL;
        free_record(r);
        r = next;
    }
    return n;
}
