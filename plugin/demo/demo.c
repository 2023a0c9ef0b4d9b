/* SPDX-License-Identifier: MIT */
/* rnnmidi demo session: engines + synth + detector behind one process call.
 * See demo.h for the contract. Everything the audio thread touches is
 * allocated in demo_session_create. */
#include "demo.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/slot.h"
#include "../listen/detector.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

#define OUT_CAP 256     /* engine output events per block and part */
#define PLAYER_CAP 512  /* player events per block */
#define POSITION_CAP 16 /* positions per block; later ones wait for the next block */
#define LIVE_QUEUE 1024 /* live MIDI messages in flight */
#define CMD_QUEUE 256
#define LOG_QUEUE 65536 /* played events in flight to the main thread */

/* ---- single-producer single-consumer queue ------------------------------ */

typedef struct {
    _Atomic size_t head; /* next slot the producer writes */
    _Atomic size_t tail; /* next slot the consumer reads */
    size_t mask, elem;
    unsigned char *buf;
} spsc;

static int spsc_init(spsc *q, size_t cap, size_t elem)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    q->mask = cap - 1;
    q->elem = elem;
    q->buf = malloc(cap * elem);
    return q->buf ? 0 : -1;
}

static int spsc_push(spsc *q, const void *item)
{
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (h - t > q->mask) return -1;
    memcpy(q->buf + (h & q->mask) * q->elem, item, q->elem);
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return 0;
}

static int spsc_pop(spsc *q, void *item)
{
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    if (t == h) return -1;
    memcpy(item, q->buf + (t & q->mask) * q->elem, q->elem);
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return 0;
}

/* ---- session ---------------------------------------------------------------- */

typedef enum { CMD_PARAM, CMD_RESEED } cmd_kind;

typedef struct {
    cmd_kind kind;
    int part;
    int id;
    float value;
    uint32_t seed;
} command;

typedef struct {
    uint8_t size;
    uint8_t data[3];
} live_msg;

/* An event inside the block being processed. */
typedef struct {
    uint32_t frame;
    uint8_t source;
    uint8_t sound; /* 1: the synth plays it */
    uint8_t size;
    uint8_t data[3];
} block_event;

struct demo_session {
    double sample_rate;
    uint32_t max_block;
    int n_parts;
    rnn_engine *engines[DEMO_MAX_PARTS];
    rnn_slot *slots[DEMO_MAX_PARTS]; /* each engine's next model */
    rnn_kind kinds[DEMO_MAX_PARTS];
    demo_synth *synth;
    rnn_detector *detector;
    float input_monitor;

    demo_event *primer;
    size_t n_primer, primer_next;
    demo_position *positions;
    size_t n_positions, positions_next;
    rnn_transport block_positions[POSITION_CAP];

    spsc live, cmds, log;
    _Atomic uint64_t position;
    _Atomic uint64_t lost;

    /* scratch, sized at create */
    rnn_engine_event *player;                   /* PLAYER_CAP */
    uint8_t *player_sound;                      /* PLAYER_CAP */
    rnn_engine_event *part_out[DEMO_MAX_PARTS]; /* OUT_CAP each */
    block_event *events;                        /* PLAYER_CAP + parts * OUT_CAP */
    rnn_detected_note_event *detected;
    int detected_cap;
    float *zeros; /* max_block */
};

static void apply_param(demo_session *s, int part, int id, float value)
{
    for (int k = 0; k < s->n_parts; k++) {
        if (part >= 0 && part != k) continue;
        /* the parts keep their own channels and never echo the player */
        if (id == RNN_PARAM_CHANNEL || id == RNN_PARAM_THRU) continue;
        rnn_engine_set_param(s->engines[k], (rnn_engine_param)id, value);
    }
}

static uint32_t part_seed(uint32_t seed, int k)
{
    uint32_t v = (seed + 7919u * (uint32_t)k) & 0xFFFFFFu;
    return v ? v : 1;
}

demo_session *demo_session_create(const demo_config *cfg, char *err, size_t errlen)
{
    int n_parts = cfg->n_parts;
    demo_session *s = NULL;
    if (n_parts < 0 || n_parts > DEMO_MAX_PARTS) {
        snprintf(err, errlen, "at most %d models can play together", DEMO_MAX_PARTS);
        goto fail_models;
    }
    if (cfg->max_block < 1 || cfg->max_block > 65536) {
        snprintf(err, errlen, "buffer size %u out of range 1..65536", (unsigned)cfg->max_block);
        goto fail_models;
    }
    s = calloc(1, sizeof *s);
    if (!s) goto oom_models;
    s->sample_rate = cfg->sample_rate;
    s->max_block = cfg->max_block;
    s->input_monitor = cfg->input_monitor;
    atomic_init(&s->position, 0);
    atomic_init(&s->lost, 0);
    s->synth = demo_synth_create(cfg->sample_rate, cfg->seed);
    if (!s->synth) {
        snprintf(err, errlen, "cannot create the synth at %.0f Hz", cfg->sample_rate);
        goto fail_models;
    }
    demo_synth_set_timbre(s->synth, DEMO_PLAYER_CHANNEL, DEMO_TIMBRE_KEYS);

    int melodies = 0;
    for (int k = 0; k < n_parts; k++) {
        rnn_engine *e = rnn_engine_create(cfg->sample_rate, cfg->max_block, err, errlen);
        if (!e) goto fail_models;
        s->engines[k] = e;
        s->n_parts = k + 1;
        s->kinds[k] = rnn_model_get_config(rnn_engine_model_get(cfg->models[k]))->kind;
        s->slots[k] = rnn_slot_create();
        /* the slot has the model now, and no stream runs yet: this thread
         * installs it in the audio thread's place */
        if (!s->slots[k] ||
            !rnn_slot_offer(s->slots[k], cfg->models[k], rnn_slot_request(s->slots[k])))
            goto oom_part;
        rnn_slot_install(s->slots[k], e);
        for (int i = 0; i < RNN_PARAM_COUNT; i++)
            if (cfg->param_set[i]) rnn_engine_set_param(e, (rnn_engine_param)i, cfg->params[i]);
        rnn_engine_set_param(e, RNN_PARAM_THRU, 0.0f);
        rnn_engine_set_param(e, RNN_PARAM_SEED, (float)part_seed(cfg->seed, k));
        if (s->kinds[k] == RNN_KIND_MELODY) {
            /* channels 1, 3, 4: channel 2 is the player's, 10 the drums' */
            int ch = melodies == 0 ? 1 : melodies + 2;
            rnn_engine_set_param(e, RNN_PARAM_CHANNEL, (float)ch);
            melodies++;
        }
        rnn_engine_reset(e);
    }

    if (cfg->detector) {
        s->detector = rnn_detector_create(cfg->sample_rate, (int)cfg->max_block, err, errlen);
        if (!s->detector) goto fail;
        s->detected_cap = rnn_detector_max_events(s->detector, cfg->max_block);
        if (s->detected_cap < 4) s->detected_cap = 4;
        s->detected = calloc((size_t)s->detected_cap, sizeof *s->detected);
        if (!s->detected) goto oom;
    }
    if (cfg->n_positions) {
        s->positions = malloc(cfg->n_positions * sizeof *s->positions);
        if (!s->positions) goto oom;
        memcpy(s->positions, cfg->positions, cfg->n_positions * sizeof *s->positions);
        s->n_positions = cfg->n_positions;
    }
    if (cfg->n_primer) {
        s->primer = malloc(cfg->n_primer * sizeof *s->primer);
        if (!s->primer) goto oom;
        memcpy(s->primer, cfg->primer, cfg->n_primer * sizeof *s->primer);
        s->n_primer = cfg->n_primer;
    }
    if (spsc_init(&s->live, LIVE_QUEUE, sizeof(live_msg)) ||
        spsc_init(&s->cmds, CMD_QUEUE, sizeof(command)) ||
        spsc_init(&s->log, LOG_QUEUE, sizeof(demo_event)))
        goto oom;
    s->player = calloc(PLAYER_CAP, sizeof *s->player);
    s->player_sound = calloc(PLAYER_CAP, 1);
    s->events = calloc(PLAYER_CAP + DEMO_MAX_PARTS * OUT_CAP, sizeof *s->events);
    s->zeros = calloc(cfg->max_block, sizeof(float));
    if (!s->player || !s->player_sound || !s->events || !s->zeros) goto oom;
    for (int k = 0; k < s->n_parts; k++) {
        s->part_out[k] = calloc(OUT_CAP, sizeof(rnn_engine_event));
        if (!s->part_out[k]) goto oom;
    }
    return s;

oom_part:
    /* the slot frees a model it refuses; without a slot it is still ours */
    if (!s->slots[s->n_parts - 1]) rnn_engine_model_free(cfg->models[s->n_parts - 1]);
oom_models:
    snprintf(err, errlen, "out of memory");
fail_models:
    /* models not yet handed to an engine are still ours to free */
    for (int k = s ? s->n_parts : 0; k < n_parts && k < DEMO_MAX_PARTS; k++)
        rnn_engine_model_free(cfg->models[k]);
    goto fail;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    demo_session_free(s);
    return NULL;
}

void demo_session_free(demo_session *s)
{
    if (!s) return;
    for (int k = 0; k < s->n_parts; k++) {
        rnn_engine_free(s->engines[k]); /* frees its model too */
        rnn_slot_free(s->slots[k]);
        free(s->part_out[k]);
    }
    demo_synth_free(s->synth);
    rnn_detector_free(s->detector);
    free(s->detected);
    free(s->primer);
    free(s->positions);
    free(s->live.buf);
    free(s->cmds.buf);
    free(s->log.buf);
    free(s->player);
    free(s->player_sound);
    free(s->events);
    free(s->zeros);
    free(s);
}

/* ---- the audio thread ------------------------------------------------------ */

static void add_player(demo_session *s, uint32_t *n, uint32_t frame, const uint8_t *data,
                       uint8_t size, int sound)
{
    if (*n >= PLAYER_CAP) return;
    rnn_engine_event *ev = &s->player[*n];
    ev->frame = frame;
    ev->size = size;
    /* detected notes are heard by the engines and sounded by nobody */
    ev->flags = sound ? 0 : RNN_EVENT_NO_THRU;
    memcpy(ev->data, data, 3);
    s->player_sound[*n] = (uint8_t)sound;
    (*n)++;
}

static void log_event(demo_session *s, uint64_t base, const block_event *ev)
{
    demo_event out = {
        base + ev->frame, ev->source, ev->size, {ev->data[0], ev->data[1], ev->data[2]}};
    if (spsc_push(&s->log, &out)) atomic_fetch_add_explicit(&s->lost, 1, memory_order_relaxed);
}

static void process_block(demo_session *s, const float *in, float *out, uint32_t n)
{
    uint64_t pos = atomic_load_explicit(&s->position, memory_order_relaxed);

    for (int k = 0; k < s->n_parts; k++)
        rnn_slot_install(s->slots[k], s->engines[k]);
    command c;
    while (spsc_pop(&s->cmds, &c) == 0) {
        if (c.kind == CMD_PARAM) {
            apply_param(s, c.part, c.id, c.value);
        } else {
            for (int k = 0; k < s->n_parts; k++) {
                rnn_engine_set_param(s->engines[k], RNN_PARAM_SEED, (float)part_seed(c.seed, k));
                rnn_engine_reset(s->engines[k]);
            }
        }
    }

    /* the player: live MIDI now, the primer on its frames, detected notes */
    uint32_t np = 0;
    live_msg m;
    while (np < PLAYER_CAP && spsc_pop(&s->live, &m) == 0)
        add_player(s, &np, 0, m.data, m.size, 1);
    while (np < PLAYER_CAP && s->primer_next < s->n_primer &&
           s->primer[s->primer_next].frame < pos + n) {
        const demo_event *p = &s->primer[s->primer_next++];
        uint32_t f = p->frame > pos ? (uint32_t)(p->frame - pos) : 0;
        add_player(s, &np, f, p->data, p->size, 1);
    }
    if (s->detector) {
        int nd =
            rnn_detector_process(s->detector, in ? in : s->zeros, n, s->detected, s->detected_cap);
        for (int i = 0; i < nd; i++) {
            uint8_t msg[3];
            rnn_detected_to_midi(&s->detected[i], 0, msg);
            add_player(s, &np, s->detected[i].frame, msg, 3, 0);
        }
    }
    /* stable insertion sort by frame: live first, then primer, then detector */
    for (uint32_t i = 1; i < np; i++) {
        rnn_engine_event ev = s->player[i];
        uint8_t snd = s->player_sound[i];
        uint32_t j = i;
        while (j > 0 && s->player[j - 1].frame > ev.frame) {
            s->player[j] = s->player[j - 1];
            s->player_sound[j] = s->player_sound[j - 1];
            j--;
        }
        s->player[j] = ev;
        s->player_sound[j] = snd;
    }

    /* the positions of this block, for every engine */
    uint32_t nt = 0;
    while (nt < POSITION_CAP && s->positions_next < s->n_positions &&
           s->positions[s->positions_next].frame < pos + n) {
        const demo_position *p = &s->positions[s->positions_next++];
        s->block_positions[nt] = p->t;
        s->block_positions[nt++].frame = p->frame > pos ? (uint32_t)(p->frame - pos) : 0;
    }

    /* every event of the block, merged by frame (player, then parts in order) */
    uint32_t ne = 0;
    for (uint32_t i = 0; i < np; i++) {
        block_event *b = &s->events[ne++];
        b->frame = s->player[i].frame;
        b->source = 0;
        b->sound = s->player_sound[i];
        b->size = s->player[i].size;
        memcpy(b->data, s->player[i].data, 3);
    }
    for (int k = 0; k < s->n_parts; k++) {
        uint32_t no = rnn_engine_run(s->engines[k], n, s->player, np, s->block_positions, nt,
                                     s->part_out[k], OUT_CAP);
        uint32_t start = ne;
        for (uint32_t i = 0; i < no; i++) {
            block_event *b = &s->events[ne++];
            const rnn_engine_event *o = &s->part_out[k][i];
            b->frame = o->frame < n ? o->frame : n - 1;
            b->source = (uint8_t)(k + 1);
            b->sound = 1;
            b->size = o->size;
            memcpy(b->data, o->data, 3);
        }
        /* merge this part's run into what came before */
        for (uint32_t i = start; i < ne; i++) {
            block_event ev = s->events[i];
            uint32_t j = i;
            while (j > 0 && s->events[j - 1].frame > ev.frame) {
                s->events[j] = s->events[j - 1];
                j--;
            }
            s->events[j] = ev;
        }
    }

    /* render between events so every note starts on its frame */
    uint32_t cursor = 0;
    for (uint32_t i = 0; i < ne; i++) {
        block_event *b = &s->events[i];
        if (b->frame > cursor) {
            demo_synth_render_mix(s->synth, out + 2 * cursor, b->frame - cursor,
                                  in ? in + cursor : NULL, s->input_monitor);
            cursor = b->frame;
        }
        if (b->sound) {
            uint8_t msg[3] = {b->data[0], b->data[1], b->data[2]};
            int ch = msg[0] & 0x0F;
            if (b->source == 0 && ch != RNN_DRUMS_CHANNEL && (msg[0] & 0xF0) != 0xF0)
                msg[0] = (uint8_t)((msg[0] & 0xF0) | DEMO_PLAYER_CHANNEL);
            demo_synth_midi(s->synth, msg, b->size);
        }
        log_event(s, pos, b);
    }
    if (cursor < n)
        demo_synth_render_mix(s->synth, out + 2 * cursor, n - cursor, in ? in + cursor : NULL,
                              s->input_monitor);

    atomic_store_explicit(&s->position, pos + n, memory_order_release);
}

void demo_session_process(demo_session *s, const float *in, float *out, uint32_t frames)
{
#ifdef HAVE_MXCSR
    /* flush denormals to zero (FTZ | DAZ) for this call */
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
#endif
    uint32_t done = 0;
    while (done < frames) {
        uint32_t n = frames - done < s->max_block ? frames - done : s->max_block;
        process_block(s, in ? in + done : NULL, out + 2 * (size_t)done, n);
        done += n;
    }
#ifdef HAVE_MXCSR
    _mm_setcsr(csr);
#endif
}

/* ---- the main thread ------------------------------------------------------- */

int demo_session_push_midi(demo_session *s, const uint8_t *msg, size_t len)
{
    if (len < 1 || len > 3) return -1;
    live_msg m = {(uint8_t)len, {0, 0, 0}};
    memcpy(m.data, msg, len);
    return spsc_push(&s->live, &m);
}

int demo_session_set_param(demo_session *s, int part, rnn_engine_param id, float value)
{
    command c = {CMD_PARAM, part, (int)id, value, 0};
    return spsc_push(&s->cmds, &c);
}

int demo_session_reseed(demo_session *s, uint32_t seed)
{
    command c = {CMD_RESEED, -1, 0, 0.0f, seed};
    return spsc_push(&s->cmds, &c);
}

int demo_session_set_model(demo_session *s, int part, rnn_engine_model *em)
{
    if (part < 0 || part >= s->n_parts || !em ||
        rnn_model_get_config(rnn_engine_model_get(em))->kind != s->kinds[part]) {
        rnn_engine_model_free(em);
        return -1;
    }
    return rnn_slot_offer(s->slots[part], em, rnn_slot_request(s->slots[part])) ? 0 : -1;
}

int demo_session_retire(demo_session *s)
{
    int n = 0;
    for (int k = 0; k < s->n_parts; k++)
        n += rnn_slot_retire(s->slots[k]);
    return n;
}

size_t demo_session_drain(demo_session *s, demo_event *out, size_t max)
{
    size_t n = 0;
    while (n < max && spsc_pop(&s->log, &out[n]) == 0)
        n++;
    return n;
}

uint64_t demo_session_position(const demo_session *s)
{
    return atomic_load_explicit(&((demo_session *)s)->position, memory_order_acquire);
}

uint64_t demo_session_lost_events(const demo_session *s)
{
    return atomic_load_explicit(&((demo_session *)s)->lost, memory_order_relaxed);
}

int demo_session_parts(const demo_session *s)
{
    return s->n_parts;
}

rnn_kind demo_session_part_kind(const demo_session *s, int part)
{
    return part >= 0 && part < s->n_parts ? s->kinds[part] : (rnn_kind)0;
}

void demo_session_part_stats(const demo_session *s, int part, rnn_engine_stats *st)
{
    memset(st, 0, sizeof *st);
    if (part >= 0 && part < s->n_parts) rnn_engine_get_stats(s->engines[part], st);
}

int demo_session_part_cond(const demo_session *s, int part, rnn_engine_cond *c, float *cols)
{
    if (part < 0 || part >= s->n_parts) return 0;
    return rnn_engine_last_cond(s->engines[part], c, cols);
}
