/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: a thin front end over core/engine.
 *
 * MIDI and time:Position from the control port, and notes detected in the
 * optional audio input, go to the engine; its MIDI comes out of the notify
 * port. The model file is a patch:Set parameter (rnnmidi:model, an atom:Path):
 * run() hands the path to the worker, which loads, validates and prepares the
 * model off the audio thread; work_response swaps it in and sends the old
 * one back to the worker to be freed, through a fixed ring that run() keeps
 * retrying while the host's queue is full. Each load in flight holds a slot
 * of that ring, so a load that would not find one is refused up front. Every
 * patch:Set and restore() starts a new generation; a model from an older one
 * is freed instead of swapped in. A refused file leaves the current model
 * playing and is reported through the log and a patch:Set of rnnmidi:status.
 * The state extension stores the model path; control ports are the host's. */
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>
#include <lv2/core/lv2_util.h>
#include <lv2/log/logger.h>
#include <lv2/options/options.h>
#include <lv2/state/state.h>
#include <lv2/worker/worker.h>

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "../listen/detector.h"
#include "ports.h"
#include "uris.h"

#define N_CONTROLS (RNNMIDI_N_PORTS - RNNMIDI_FIRST_CONTROL)
#define PATH_CAP 4096
#define STATUS_CAP 512
#define IN_CAP 1024      /* player events per engine call; more split the block */
#define TRANSPORT_CAP 16 /* transport changes per engine call */
#define OUT_CAP 4096     /* engine output per engine call */
#define DETECT_CAP 256   /* detected notes per block */
#define MIDI_EVENT_BYTES (sizeof(LV2_Atom_Event) + 8) /* a 3-byte MIDI event, padded */
#define DEFAULT_MODEL "melody-lstm.rnnw"
#define GARBAGE_CAP 8 /* models waiting to go to the worker, and loads in flight */

static const int control_param[N_CONTROLS] = {
#define PARAM_OF(E, sym, name, def, min, max, kind, param, points, unit) param,
    RNNMIDI_CONTROLS(PARAM_OF)
#undef PARAM_OF
};

/* Worker messages. */
enum { MSG_LOAD, MSG_FREE, MSG_LOADED, MSG_FAILED };

typedef struct {
    uint32_t type;
    uint32_t size; /* bytes of text after the header, NUL included */
    uint32_t gen;  /* a load's generation, carried by its response */
    rnn_engine_model *model;
} WorkMsg;

typedef struct {
    WorkMsg head;
    char text[PATH_CAP + STATUS_CAP]; /* a path; after a load, its NUL and the status */
} WorkText;

typedef struct {
    /* features */
    LV2_URID_Map *map;
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger logger;

    /* ports */
    const LV2_Atom_Sequence *control;
    LV2_Atom_Sequence *notify;
    const float *audio_in;
    const float *controls[N_CONTROLS];

    /* URIDs and forge */
    RnnmidiURIs uris;
    LV2_Atom_Forge forge;
    LV2_Atom_Forge_Frame notify_frame;

    /* engine, detector and their buffers */
    rnn_engine *engine;
    rnn_detector *detector;
    double rate;
    uint32_t max_block;
    float last_value[N_CONTROLS];
    rnn_engine_event in[IN_CAP];
    uint32_t n_in;
    rnn_transport transport[TRANSPORT_CAP];
    uint32_t n_transport;
    uint32_t chunk_start;
    rnn_engine_event out[OUT_CAP];
    rnn_detected_note_event detected[DETECT_CAP];
    int n_detected;
    int detector_pitch; /* pitch the detector left sounding, -1 */
    int heard_audio;    /* the detector ran in the last block */

    /* state: the model path, double-buffered for a concurrent save() */
    char path[2][PATH_CAP];
    atomic_int path_cur;
    char status[STATUS_CAP];
    int notify_model, notify_status;
    WorkText msg; /* built in run(), copied by the host's schedule_work */
    rnn_engine_model *garbage[GARBAGE_CAP]; /* models not yet sent to the worker, a ring */
    uint32_t garbage_head, n_garbage;
    uint32_t loads_in_flight; /* each holds a ring slot for the model it brings back */
    atomic_uint loads_lost;   /* loads the worker could not answer */
    uint32_t gen;             /* generation of the latest load request */
} Rnnmidi;

/* ------------------------------------------------------------ instantiate */

/* A bounded string copy plain enough for the audio thread. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; i + 1 < cap && src[i]; i++)
        dst[i] = src[i];
    dst[i] = 0;
}

static void set_path(Rnnmidi *self, const char *path)
{
    int next = 1 - atomic_load(&self->path_cur);
    copy_text(self->path[next], PATH_CAP, path);
    atomic_store(&self->path_cur, next);
}

static const char *cur_path(Rnnmidi *self)
{
    return self->path[atomic_load(&self->path_cur)];
}

static LV2_Handle instantiate(const LV2_Descriptor *descriptor, double rate,
                              const char *bundle_path, const LV2_Feature *const *features)
{
    (void)descriptor;
    Rnnmidi *self = calloc(1, sizeof *self);
    if (!self) return NULL;

    const LV2_Options_Option *options = NULL;
    const char *missing = lv2_features_query(
        features, LV2_LOG__log, &self->logger.log, false, LV2_URID__map, &self->map, true,
        LV2_WORKER__schedule, &self->schedule, true, LV2_OPTIONS__options, &options, false, NULL);
    lv2_log_logger_set_map(&self->logger, self->map);
    if (missing) {
        lv2_log_error(&self->logger, "rnnmidi: missing feature <%s>\n", missing);
        free(self);
        return NULL;
    }
    map_rnnmidi_uris(self->map, &self->uris);
    lv2_atom_forge_init(&self->forge, self->map);

    self->rate = rate;
    self->max_block = 8192;
    for (const LV2_Options_Option *o = options; o && o->key; o++)
        if (o->key == self->uris.bufsz_maxBlockLength && o->type == self->uris.atom_Int &&
            *(const int32_t *)o->value > 0)
            self->max_block = (uint32_t) * (const int32_t *)o->value;

    char err[512];
    self->engine = rnn_engine_create(rate, self->max_block, err, sizeof err);
    if (!self->engine) {
        lv2_log_error(&self->logger, "rnnmidi: %s\n", err);
        free(self);
        return NULL;
    }
    self->detector = rnn_detector_create(rate, (int)self->max_block, err, sizeof err);
    if (!self->detector) lv2_log_warning(&self->logger, "rnnmidi: no audio input: %s\n", err);
    self->detector_pitch = -1;
    for (int i = 0; i < N_CONTROLS; i++)
        self->last_value[i] = -1e30f;

    /* The bundled default model, when the bundle has one. */
    char def[PATH_CAP];
    int n = snprintf(def, sizeof def, "%s%s%s", bundle_path,
                     bundle_path[0] && bundle_path[strlen(bundle_path) - 1] == '/' ? "" : "/",
                     DEFAULT_MODEL);
    if (n > 0 && n < (int)sizeof def && access(def, R_OK) == 0) {
        rnn_engine_model *em = rnn_engine_model_prepare(def, err, sizeof err);
        if (em) {
            rnn_engine_set_model(self->engine, em);
            set_path(self, def);
            self->notify_model = 1;
        } else {
            lv2_log_error(&self->logger, "rnnmidi: %s\n", err);
        }
    }
    return self;
}

static void connect_port(LV2_Handle instance, uint32_t port, void *data)
{
    Rnnmidi *self = instance;
    switch (port) {
    case RNNMIDI_CONTROL_IN:
        self->control = data;
        break;
    case RNNMIDI_NOTIFY:
        self->notify = data;
        break;
    case RNNMIDI_AUDIO_IN:
        self->audio_in = data;
        break;
    default:
        if (port >= RNNMIDI_FIRST_CONTROL && port < RNNMIDI_N_PORTS)
            self->controls[port - RNNMIDI_FIRST_CONTROL] = data;
        break;
    }
}

static void activate(LV2_Handle instance)
{
    Rnnmidi *self = instance;
    rnn_engine_reset(self->engine);
    if (self->detector) rnn_detector_reset(self->detector);
    self->detector_pitch = -1;
    self->notify_model = 1;
}

/* -------------------------------------------------------------------- run */

/* Send everything collected so far to the engine for frames
 * [chunk_start, end) and write its output to the notify port. */
static void run_chunk(Rnnmidi *self, uint32_t end)
{
    uint32_t start = self->chunk_start;
    for (uint32_t i = 0; i < self->n_in; i++)
        self->in[i].frame = self->in[i].frame > start ? self->in[i].frame - start : 0;
    for (uint32_t i = 0; i < self->n_transport; i++)
        self->transport[i].frame =
            self->transport[i].frame > start ? self->transport[i].frame - start : 0;

    uint32_t room = OUT_CAP;
    if (self->notify) {
        /* never produce more than the port can take; keep room for two patch messages */
        size_t cap = self->forge.size, used = self->forge.offset;
        size_t left = cap > used + 2 * PATH_CAP ? cap - used - 2 * PATH_CAP : 0;
        if (left / MIDI_EVENT_BYTES < room) room = (uint32_t)(left / MIDI_EVENT_BYTES);
    }
    if (room < RNN_ENGINE_MIN_OUT) room = RNN_ENGINE_MIN_OUT;
    uint32_t n = rnn_engine_run(self->engine, end - start, self->in, self->n_in, self->transport,
                                self->n_transport, self->out, room);
    if (self->notify) {
        for (uint32_t i = 0; i < n; i++) {
            const rnn_engine_event *ev = &self->out[i];
            /* whole events only: a frame time without its event breaks the sequence */
            if (self->forge.offset + MIDI_EVENT_BYTES > self->forge.size) break;
            if (!lv2_atom_forge_frame_time(&self->forge, start + ev->frame)) break;
            if (!lv2_atom_forge_atom(&self->forge, ev->size, self->uris.midi_Event)) break;
            if (!lv2_atom_forge_write(&self->forge, ev->data, ev->size)) break;
        }
    }
    self->n_in = 0;
    self->n_transport = 0;
    self->chunk_start = end;
}

static void add_event(Rnnmidi *self, uint32_t frame, const uint8_t *data, uint32_t size,
                      uint8_t flags)
{
    if (self->n_in == IN_CAP) run_chunk(self, frame);
    rnn_engine_event *ev = &self->in[self->n_in++];
    ev->frame = frame;
    ev->size = (uint8_t)size;
    memcpy(ev->data, data, size);
    ev->flags = flags;
}

/* Detected notes with frames up to `frame` enter like MIDI notes. */
static void add_detected(Rnnmidi *self, int *next, uint32_t frame)
{
    for (; *next < self->n_detected && self->detected[*next].frame <= frame; (*next)++) {
        const rnn_detected_note_event *d = &self->detected[*next];
        uint8_t msg[3] = {(uint8_t)(d->on ? 0x90 : 0x80), d->pitch, d->on ? d->velocity : 0};
        add_event(self, d->frame, msg, 3, RNN_EVENT_NO_THRU);
    }
}

static int number(const RnnmidiURIs *u, const LV2_Atom *a, double *out)
{
    if (!a) return 0;
    if (a->type == u->atom_Float)
        *out = ((const LV2_Atom_Float *)a)->body;
    else if (a->type == u->atom_Double)
        *out = ((const LV2_Atom_Double *)a)->body;
    else if (a->type == u->atom_Long)
        *out = (double)((const LV2_Atom_Long *)a)->body;
    else if (a->type == u->atom_Int)
        *out = ((const LV2_Atom_Int *)a)->body;
    else
        return 0;
    return 1;
}

static void read_position(Rnnmidi *self, const LV2_Atom_Object *obj, uint32_t frame)
{
    const RnnmidiURIs *u = &self->uris;
    const LV2_Atom *bar = NULL, *beat = NULL, *unit = NULL, *bpb = NULL, *bpm = NULL, *speed = NULL;
    lv2_atom_object_get(obj, u->time_bar, &bar, u->time_barBeat, &beat, u->time_beatUnit, &unit,
                        u->time_beatsPerBar, &bpb, u->time_beatsPerMinute, &bpm, u->time_speed,
                        &speed, 0);
    if (self->n_transport == TRANSPORT_CAP) run_chunk(self, frame);
    rnn_transport *t = &self->transport[self->n_transport++];
    memset(t, 0, sizeof *t);
    t->frame = frame;
    double v, b, u4, barv;
    if (number(u, speed, &v)) {
        t->speed = v;
        t->flags |= RNN_TRANSPORT_SPEED;
    }
    if (number(u, bpm, &v)) {
        t->bpm = v;
        t->flags |= RNN_TRANSPORT_TEMPO;
    }
    if (number(u, bpb, &b)) {
        t->beats_per_bar = b;
        t->beat_unit = number(u, unit, &u4) ? u4 : 4.0;
        t->flags |= RNN_TRANSPORT_METER;
    }
    if (number(u, bar, &barv) && number(u, beat, &v) && fabs(barv) < 1e15) {
        t->bar = (int64_t)barv;
        t->bar_beat = v;
        t->flags |= RNN_TRANSPORT_BBT;
    }
}

static void schedule_load(Rnnmidi *self, const LV2_Atom *value)
{
    if (!value || value->type != self->uris.atom_Path || value->size == 0 ||
        value->size >= PATH_CAP)
        return;
    self->gen++;
    if (self->loads_in_flight + self->n_garbage >= GARBAGE_CAP) {
        copy_text(self->status, sizeof self->status,
                  "error: too many model loads at once, the current model plays on");
        self->notify_status = 1;
        return;
    }
    self->msg.head.type = MSG_LOAD;
    self->msg.head.gen = self->gen;
    self->msg.head.model = NULL;
    self->msg.head.size = value->size;
    memcpy(self->msg.text, LV2_ATOM_BODY_CONST(value), value->size);
    self->msg.text[value->size - 1] = 0;
    if (self->schedule->schedule_work(self->schedule->handle, sizeof(WorkMsg) + value->size,
                                      &self->msg) == LV2_WORKER_SUCCESS) {
        self->loads_in_flight++;
    } else {
        copy_text(self->status, sizeof self->status,
                  "error: the host's worker is busy, the current model plays on");
        self->notify_status = 1;
    }
}

static void write_set(Rnnmidi *self, uint32_t frame, LV2_URID property, LV2_URID type,
                      const char *text)
{
    LV2_Atom_Forge *f = &self->forge;
    LV2_Atom_Forge_Frame obj;
    uint32_t len = (uint32_t)strlen(text);
    /* the whole message or nothing: event and object headers, two properties
     * (key and value header each), the URID's padded body, the string's */
    size_t need = sizeof(LV2_Atom_Event) + sizeof(LV2_Atom_Object_Body) +
                  2 * sizeof(LV2_Atom_Property_Body) + lv2_atom_pad_size(sizeof(LV2_URID)) +
                  lv2_atom_pad_size(len + 1);
    if (f->offset + need > f->size) return;
    if (!lv2_atom_forge_frame_time(f, frame)) return;
    if (!lv2_atom_forge_object(f, &obj, 0, self->uris.patch_Set)) return;
    lv2_atom_forge_key(f, self->uris.patch_property);
    lv2_atom_forge_urid(f, property);
    lv2_atom_forge_key(f, self->uris.patch_value);
    lv2_atom_forge_typed_string(f, type, text, len);
    lv2_atom_forge_pop(f, &obj);
}

static void send_garbage(Rnnmidi *self);

static void run(LV2_Handle instance, uint32_t n_samples)
{
    Rnnmidi *self = instance;
    const RnnmidiURIs *u = &self->uris;
    uint32_t lost = atomic_exchange(&self->loads_lost, 0);
    self->loads_in_flight -= lost < self->loads_in_flight ? lost : self->loads_in_flight;
    if (self->n_garbage) send_garbage(self);

    if (self->notify) {
        lv2_atom_forge_set_buffer(&self->forge, (uint8_t *)self->notify, self->notify->atom.size);
        lv2_atom_forge_sequence_head(&self->forge, &self->notify_frame, 0);
    }

    int source = RNNMIDI_SOURCE_MIDI;
    for (int i = 0; i < N_CONTROLS; i++) {
        if (!self->controls[i]) continue;
        float v = *self->controls[i];
        if (i == RNNMIDI_INPUT_SOURCE - RNNMIDI_FIRST_CONTROL && isfinite(v))
            source = v < 0.5f ? RNNMIDI_SOURCE_MIDI
                     : v < 1.5f ? RNNMIDI_SOURCE_AUDIO
                                : RNNMIDI_SOURCE_BOTH;
        if (v == self->last_value[i]) continue;
        self->last_value[i] = v;
        if (control_param[i] >= 0)
            rnn_engine_set_param(self->engine, (rnn_engine_param)control_param[i], v);
    }
    int hear_midi = source != RNNMIDI_SOURCE_AUDIO;
    int hear_audio = source != RNNMIDI_SOURCE_MIDI && self->audio_in && self->detector;

    self->n_in = self->n_transport = 0;
    self->chunk_start = 0;
    self->n_detected = 0;
    if (hear_audio && !self->heard_audio) /* audio heard again: nothing stale from before */
        rnn_detector_reset(self->detector);
    self->heard_audio = hear_audio;
    if (hear_audio) {
        for (uint32_t done = 0; done < n_samples && self->n_detected < DETECT_CAP;) {
            uint32_t len = n_samples - done < self->max_block ? n_samples - done : self->max_block;
            int n = rnn_detector_process(self->detector, self->audio_in + done, len,
                                         self->detected + self->n_detected,
                                         DETECT_CAP - self->n_detected);
            for (int i = 0; i < n; i++)
                self->detected[self->n_detected + i].frame += done;
            self->n_detected += n;
            done += len;
        }
        self->detector_pitch = rnn_detector_current_pitch(self->detector);
    } else if (self->detector_pitch >= 0) {
        /* the audio input was switched off mid-note: end the note it held */
        uint8_t off[3] = {0x80, (uint8_t)self->detector_pitch, 0};
        self->detector_pitch = -1;
        rnn_detector_reset(self->detector);
        add_event(self, 0, off, 3, RNN_EVENT_NO_THRU);
    }

    int next_detected = 0;
    if (self->control) {
        LV2_ATOM_SEQUENCE_FOREACH(self->control, ev)
        {
            uint32_t frame = (uint32_t)ev->time.frames;
            if (frame >= n_samples) frame = n_samples > 0 ? n_samples - 1 : 0; /* inside the block */
            if (frame < self->chunk_start) frame = self->chunk_start;
            if (ev->body.type == u->midi_Event) {
                add_detected(self, &next_detected, frame);
                if (ev->body.size >= 1 && ev->body.size <= 3)
                    add_event(self, frame, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size,
                              hear_midi ? 0 : RNN_EVENT_NO_LISTEN);
            } else if (lv2_atom_forge_is_object_type(&self->forge, ev->body.type)) {
                const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
                if (obj->body.otype == u->time_Position) {
                    read_position(self, obj, frame);
                } else if (obj->body.otype == u->patch_Set) {
                    const LV2_Atom *property = NULL, *value = NULL;
                    lv2_atom_object_get(obj, u->patch_property, &property, u->patch_value, &value,
                                        0);
                    if (property && property->type == u->atom_URID &&
                        ((const LV2_Atom_URID *)property)->body == u->rnnmidi_model)
                        schedule_load(self, value);
                } else if (obj->body.otype == u->patch_Get) {
                    self->notify_model = self->notify_status = 1;
                }
            }
        }
    }
    add_detected(self, &next_detected, UINT32_MAX);
    run_chunk(self, n_samples);

    if (self->notify) {
        uint32_t last = n_samples > 0 ? n_samples - 1 : 0;
        if (self->notify_model) {
            write_set(self, last, u->rnnmidi_model, u->atom_Path, cur_path(self));
            self->notify_model = 0;
        }
        if (self->notify_status) {
            write_set(self, last, u->rnnmidi_status, u->atom_String, self->status);
            self->notify_status = 0;
        }
    }
}

static void deactivate(LV2_Handle instance)
{
    Rnnmidi *self = instance;
    rnn_engine_all_notes_off(self->engine);
}

static void cleanup(LV2_Handle instance)
{
    Rnnmidi *self = instance;
    rnn_engine_free(self->engine); /* frees its model too */
    for (uint32_t i = 0; i < self->n_garbage; i++)
        rnn_engine_model_free(self->garbage[(self->garbage_head + i) % GARBAGE_CAP]);
    rnn_detector_free(self->detector);
    free(self);
}

/* ----------------------------------------------------------------- worker */

/* Hand the models in the ring to the worker to be freed, oldest first;
 * retried from run() while the host's queue is full. Audio thread. */
static void send_garbage(Rnnmidi *self)
{
    while (self->n_garbage) {
        WorkMsg msg = {MSG_FREE, 0, 0, self->garbage[self->garbage_head]};
        if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) !=
            LV2_WORKER_SUCCESS)
            return;
        self->garbage_head = (self->garbage_head + 1) % GARBAGE_CAP;
        self->n_garbage--;
    }
}

/* Put a model in the ring (a slot is held for every load in flight) and try
 * to send it on. Audio thread. */
static void add_garbage(Rnnmidi *self, rnn_engine_model *em)
{
    if (!em) return;
    self->garbage[(self->garbage_head + self->n_garbage) % GARBAGE_CAP] = em;
    self->n_garbage++;
    send_garbage(self);
}

static LV2_Worker_Status work(LV2_Handle instance, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    Rnnmidi *self = instance;
    if (size < sizeof(WorkMsg)) return LV2_WORKER_ERR_UNKNOWN;
    WorkMsg head;
    memcpy(&head, data, sizeof head);
    if (head.type == MSG_FREE) {
        rnn_engine_model_free(head.model);
        return LV2_WORKER_SUCCESS;
    }
    if (head.type != MSG_LOAD) return LV2_WORKER_ERR_UNKNOWN;
    if (size < sizeof(WorkMsg) + head.size || head.size == 0) {
        atomic_fetch_add(&self->loads_lost, 1);
        return LV2_WORKER_ERR_UNKNOWN;
    }

    WorkText reply;
    reply.head.gen = head.gen;
    const char *path = (const char *)data + sizeof(WorkMsg);
    char err[STATUS_CAP - 32];
    rnn_engine_model *em = rnn_engine_model_prepare(path, err, sizeof err);
    size_t n;
    if (em) {
        reply.head.type = MSG_LOADED;
        reply.head.model = em;
        const char *name = rnn_model_meta(rnn_engine_model_get(em), "name");
        n = (size_t)snprintf(reply.text, PATH_CAP, "%s", path) + 1;
        n += (size_t)snprintf(reply.text + n, STATUS_CAP, "loaded %s", name ? name : path) + 1;
    } else {
        lv2_log_error(&self->logger, "rnnmidi: model refused, the current one plays on: %s\n", err);
        reply.head.type = MSG_FAILED;
        reply.head.model = NULL;
        n = (size_t)snprintf(reply.text, STATUS_CAP, "error: %s", err) + 1;
    }
    if (n > sizeof reply.text) n = sizeof reply.text;
    reply.head.size = (uint32_t)n;
    if (respond(handle, sizeof(WorkMsg) + reply.head.size, &reply) != LV2_WORKER_SUCCESS) {
        rnn_engine_model_free(em);
        atomic_fetch_add(&self->loads_lost, 1);
        return LV2_WORKER_ERR_NO_SPACE;
    }
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status work_response(LV2_Handle instance, uint32_t size, const void *data)
{
    Rnnmidi *self = instance;
    if (size < sizeof(WorkMsg)) return LV2_WORKER_ERR_UNKNOWN;
    WorkMsg head;
    memcpy(&head, data, sizeof head);
    const char *text = (const char *)data + sizeof(WorkMsg);
    if (head.type != MSG_LOADED && head.type != MSG_FAILED) return LV2_WORKER_ERR_UNKNOWN;
    if (self->loads_in_flight) self->loads_in_flight--;
    if (head.gen != self->gen) { /* a newer request was made since: drop this one */
        if (head.type == MSG_LOADED) add_garbage(self, head.model);
        return LV2_WORKER_SUCCESS;
    }
    if (head.type == MSG_LOADED) {
        rnn_engine_model *old = rnn_engine_set_model(self->engine, head.model);
        set_path(self, text);
        size_t n = strnlen(text, size - sizeof(WorkMsg)) + 1;
        copy_text(self->status, sizeof self->status, n < size - sizeof(WorkMsg) ? text + n : "");
        self->notify_model = self->notify_status = 1;
        add_garbage(self, old);
    } else {
        copy_text(self->status, sizeof self->status, text);
        self->notify_status = 1;
    }
    return LV2_WORKER_SUCCESS;
}

/* ------------------------------------------------------------------ state */

static LV2_State_Status save(LV2_Handle instance, LV2_State_Store_Function store,
                             LV2_State_Handle handle, uint32_t flags,
                             const LV2_Feature *const *features)
{
    (void)flags;
    Rnnmidi *self = instance;
    const char *path = cur_path(self);
    if (!path[0]) return LV2_STATE_SUCCESS;
    LV2_State_Map_Path *map_path = lv2_features_data(features, LV2_STATE__mapPath);
    LV2_State_Free_Path *free_path = lv2_features_data(features, LV2_STATE__freePath);
    char *apath = map_path ? map_path->abstract_path(map_path->handle, path) : NULL;
    const char *stored = apath ? apath : path;
    LV2_State_Status st = store(handle, self->uris.rnnmidi_model, stored, strlen(stored) + 1,
                                self->uris.atom_Path, LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    if (apath) {
        if (free_path)
            free_path->free_path(free_path->handle, apath);
        else
            free(apath);
    }
    return st;
}

static LV2_State_Status restore(LV2_Handle instance, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle, uint32_t flags,
                                const LV2_Feature *const *features)
{
    (void)flags;
    Rnnmidi *self = instance;
    self->gen++; /* a load still in flight is older than this state */
    size_t size = 0;
    uint32_t type = 0, vflags = 0;
    const char *value = retrieve(handle, self->uris.rnnmidi_model, &size, &type, &vflags);
    if (!value) return LV2_STATE_SUCCESS;
    if (type != self->uris.atom_Path || size == 0 || value[size - 1] != 0)
        return LV2_STATE_ERR_BAD_TYPE;
    LV2_State_Map_Path *map_path = lv2_features_data(features, LV2_STATE__mapPath);
    LV2_State_Free_Path *free_path = lv2_features_data(features, LV2_STATE__freePath);
    char *apath = map_path ? map_path->absolute_path(map_path->handle, value) : NULL;
    const char *path = apath ? apath : value;

    /* restore() never runs concurrently with run(): swap directly */
    char err[STATUS_CAP - 32];
    LV2_State_Status st = LV2_STATE_SUCCESS;
    rnn_engine_model *em = rnn_engine_model_prepare(path, err, sizeof err);
    if (em) {
        rnn_engine_model_free(rnn_engine_set_model(self->engine, em));
        set_path(self, path);
        const char *name = rnn_model_meta(rnn_engine_model_get(em), "name");
        snprintf(self->status, sizeof self->status, "loaded %s", name ? name : path);
    } else {
        lv2_log_error(&self->logger, "rnnmidi: state: model refused: %s\n", err);
        snprintf(self->status, sizeof self->status, "error: %s", err);
        st = LV2_STATE_ERR_UNKNOWN;
    }
    self->notify_model = self->notify_status = 1;
    if (apath) {
        if (free_path)
            free_path->free_path(free_path->handle, apath);
        else
            free(apath);
    }
    return st;
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    if (!strcmp(uri, LV2_WORKER__interface)) return &worker;
    if (!strcmp(uri, LV2_STATE__interface)) return &state;
    return NULL;
}

static const LV2_Descriptor descriptor = {
    RNNMIDI_URI, instantiate, connect_port, activate, run, deactivate, cleanup, extension_data,
};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    return index == 0 ? &descriptor : NULL;
}
