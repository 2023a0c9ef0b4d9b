/* SPDX-License-Identifier: MIT */
/* The tests' LV2 host (lv2_host.h): a URID table, a log that counts errors,
 * a worker run between blocks, and the reader of the notify port. */
#include "lv2_host.h"

#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/options/options.h>
#include <lv2/patch/patch.h>
#include <lv2/time/time.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ urid:map */

#define HOST_MAX_URIDS 512
static char *host_uris[HOST_MAX_URIDS];
static uint32_t host_n_uris;

LV2_URID host_map(LV2_URID_Map_Handle h, const char *uri)
{
    (void)h;
    for (uint32_t i = 0; i < host_n_uris; i++)
        if (!strcmp(host_uris[i], uri)) return i + 1;
    if (host_n_uris == HOST_MAX_URIDS) return 0;
    size_t n = strlen(uri) + 1;
    host_uris[host_n_uris] = malloc(n);
    if (!host_uris[host_n_uris]) return 0;
    memcpy(host_uris[host_n_uris], uri, n);
    return ++host_n_uris;
}

static const char *host_unmap(LV2_URID_Unmap_Handle h, LV2_URID urid)
{
    (void)h;
    return urid >= 1 && urid <= host_n_uris ? host_uris[urid - 1] : NULL;
}

void host_free_uris(void)
{
    for (uint32_t i = 0; i < host_n_uris; i++)
        free(host_uris[i]);
    host_n_uris = 0;
}

LV2_URID_Map host_map_s = {NULL, host_map};
LV2_URID_Unmap host_unmap_s = {NULL, host_unmap};

/* ------------------------------------------------------------------ log */

int host_log_errors;
int host_log_quiet;

static int host_vprintf(LV2_Log_Handle h, LV2_URID type, const char *fmt, va_list ap)
{
    (void)h;
    if (type == host_map(NULL, LV2_LOG__Error)) host_log_errors++;
    if (host_log_quiet) return 0;
    fprintf(stderr, "[plugin log] ");
    return vfprintf(stderr, fmt, ap);
}

static int host_printf(LV2_Log_Handle h, LV2_URID type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = host_vprintf(h, type, fmt, ap);
    va_end(ap);
    return r;
}

static LV2_Log_Log host_log_s = {NULL, host_printf, host_vprintf};

/* ------------------------------------------------------------- instance */
static LV2_Worker_Status host_schedule(LV2_Worker_Schedule_Handle handle, uint32_t size,
                                       const void *data)
{
    host_plugin *hp = handle;
    if (hp->queue_full || hp->n_work == HOST_QUEUE || size > HOST_MSG_MAX)
        return LV2_WORKER_ERR_NO_SPACE;
    hp->work_q[hp->n_work].size = size;
    memcpy(hp->work_q[hp->n_work].data, data, size);
    hp->n_work++;
    return LV2_WORKER_SUCCESS;
}

LV2_Worker_Status host_respond(LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    host_plugin *hp = handle;
    if (hp->n_resp == HOST_QUEUE || size > HOST_MSG_MAX) return LV2_WORKER_ERR_NO_SPACE;
    hp->resp_q[hp->n_resp].size = size;
    memcpy(hp->resp_q[hp->n_resp].data, data, size);
    hp->n_resp++;
    return LV2_WORKER_SUCCESS;
}

/* Allocate the host side of an instance; features are ready for instantiate. */
host_plugin *host_new(void)
{
    host_plugin *hp = calloc(1, sizeof *hp);
    if (!hp) return NULL;
    hp->work_q = calloc(HOST_QUEUE, sizeof *hp->work_q);
    hp->resp_q = calloc(HOST_QUEUE, sizeof *hp->resp_q);
    hp->in = calloc(1, HOST_IN_CAP);
    hp->out = calloc(1, HOST_OUT_CAP);
    hp->audio = calloc(8192, sizeof *hp->audio);
    if (!hp->work_q || !hp->resp_q || !hp->in || !hp->out || !hp->audio) return NULL;
    hp->max_block = 8192;
    LV2_URID i32 = host_map(NULL, LV2_ATOM__Int);
    hp->options[0] = (LV2_Options_Option){
        LV2_OPTIONS_INSTANCE, 0,   host_map(NULL, LV2_BUF_SIZE__maxBlockLength),
        sizeof(int32_t),      i32, &hp->max_block};
    hp->options[1] = (LV2_Options_Option){
        LV2_OPTIONS_INSTANCE, 0,   host_map(NULL, LV2_BUF_SIZE__nominalBlockLength),
        sizeof(int32_t),      i32, &hp->max_block};
    hp->options[2] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, NULL};
    hp->schedule = (LV2_Worker_Schedule){hp, host_schedule};
    hp->f_map = (LV2_Feature){LV2_URID__map, &host_map_s};
    hp->f_unmap = (LV2_Feature){LV2_URID__unmap, &host_unmap_s};
    hp->f_sched = (LV2_Feature){LV2_WORKER__schedule, &hp->schedule};
    hp->f_log = (LV2_Feature){LV2_LOG__log, &host_log_s};
    hp->f_opts = (LV2_Feature){LV2_OPTIONS__options, hp->options};
    hp->features[0] = &hp->f_map;
    hp->features[1] = &hp->f_unmap;
    hp->features[2] = &hp->f_sched;
    hp->features[3] = &hp->f_log;
    hp->features[4] = &hp->f_opts;
    hp->features[5] = NULL;
    lv2_atom_forge_init(&hp->forge, &host_map_s);
    return hp;
}

/* Connect every port; control values start at the TTL defaults. */
void host_attach(host_plugin *hp, const LV2_Descriptor *desc, LV2_Handle h)
{
    hp->desc = desc;
    hp->h = h;
    hp->worker = desc->extension_data ? desc->extension_data(LV2_WORKER__interface) : NULL;
    for (int p = RNNMIDI_FIRST_CONTROL; p < RNNMIDI_N_PORTS; p++)
        hp->controls[p] = rnnmidi_control_desc(p)->def;
    desc->connect_port(h, RNNMIDI_CONTROL_IN, hp->in);
    desc->connect_port(h, RNNMIDI_NOTIFY, hp->out);
    desc->connect_port(h, RNNMIDI_AUDIO_IN, hp->audio);
    for (int p = RNNMIDI_FIRST_CONTROL; p < RNNMIDI_N_PORTS; p++)
        desc->connect_port(h, (uint32_t)p, &hp->controls[p]);
    hp->controls[RNNMIDI_THRU] = 0;
}

void host_free(host_plugin *hp)
{
    if (!hp) return;
    free(hp->work_q);
    free(hp->resp_q);
    free(hp->in);
    free(hp->out);
    free(hp->audio);
    free(hp->ev);
    free(hp);
}

/* -------------------------------------------------------------- a block */

void host_begin(host_plugin *hp)
{
    lv2_atom_forge_set_buffer(&hp->forge, (uint8_t *)hp->in, HOST_IN_CAP);
    lv2_atom_forge_sequence_head(&hp->forge, &hp->seq_frame, 0);
}

void host_midi(host_plugin *hp, uint32_t frame, uint8_t s, uint8_t d1, uint8_t d2)
{
    uint8_t msg[3] = {s, d1, d2};
    lv2_atom_forge_frame_time(&hp->forge, frame);
    lv2_atom_forge_atom(&hp->forge, 3, host_map(NULL, LV2_MIDI__MidiEvent));
    lv2_atom_forge_write(&hp->forge, msg, 3);
}

void host_position(host_plugin *hp, uint32_t frame, float speed, float bpm, int64_t bar,
                   float bar_beat)
{
    host_position_meter(hp, frame, speed, bpm, bar, bar_beat, 4, 4);
}

void host_position_meter(host_plugin *hp, uint32_t frame, float speed, float bpm, int64_t bar,
                         float bar_beat, float beats_per_bar, int beat_unit)
{
    LV2_Atom_Forge *f = &hp->forge;
    LV2_Atom_Forge_Frame obj;
    lv2_atom_forge_frame_time(f, frame);
    lv2_atom_forge_object(f, &obj, 0, host_map(NULL, LV2_TIME__Position));
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__frame));
    lv2_atom_forge_long(f, hp->pos + frame);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__speed));
    lv2_atom_forge_float(f, speed);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__bar));
    lv2_atom_forge_long(f, bar);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__barBeat));
    lv2_atom_forge_float(f, bar_beat);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__beatUnit));
    lv2_atom_forge_int(f, beat_unit);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__beatsPerBar));
    lv2_atom_forge_float(f, beats_per_bar);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__beatsPerMinute));
    lv2_atom_forge_float(f, bpm);
    lv2_atom_forge_pop(f, &obj);
}

void host_set_model(host_plugin *hp, uint32_t frame, const char *path)
{
    LV2_Atom_Forge *f = &hp->forge;
    LV2_Atom_Forge_Frame obj;
    lv2_atom_forge_frame_time(f, frame);
    lv2_atom_forge_object(f, &obj, 0, host_map(NULL, LV2_PATCH__Set));
    lv2_atom_forge_key(f, host_map(NULL, LV2_PATCH__property));
    lv2_atom_forge_urid(f, host_map(NULL, RNNMIDI_URI "#model"));
    lv2_atom_forge_key(f, host_map(NULL, LV2_PATCH__value));
    lv2_atom_forge_path(f, path, (uint32_t)strlen(path));
    lv2_atom_forge_pop(f, &obj);
}

/* The worker's side: run queued work items (the worker thread). */
void host_do_work(host_plugin *hp)
{
    for (int i = 0; i < hp->n_work; i++)
        hp->worker->work(hp->h, host_respond, hp, hp->work_q[i].size, hp->work_q[i].data);
    hp->n_work = 0;
}

/* The audio thread's side: deliver responses. */
void host_deliver(host_plugin *hp)
{
    int n = hp->n_resp;
    hp->n_resp = 0;
    for (int i = 0; i < n; i++)
        hp->worker->work_response(hp->h, hp->resp_q[i].size, hp->resp_q[i].data);
}

/* Hooks around the audio-thread calls (the RT test arms its trap there). */
void (*host_audio_enter)(void);
void (*host_audio_leave)(void);

/* Run one block (the events added since host_begin), capture the output,
 * then let the worker do its work and deliver the responses. */
void host_run(host_plugin *hp, uint32_t frames)
{
    lv2_atom_forge_pop(&hp->forge, &hp->seq_frame);
    hp->out->atom.type = host_map(NULL, LV2_ATOM__Chunk);
    uint32_t out_cap = hp->out_size ? hp->out_size : HOST_OUT_CAP;
    hp->out->atom.size = out_cap - sizeof(LV2_Atom);
    if (host_audio_enter) host_audio_enter();
    hp->desc->run(hp->h, frames);
    if (host_audio_leave) host_audio_leave();

    /* the sequence holds whole events only, inside the capacity given */
    if (sizeof(LV2_Atom) + hp->out->atom.size > out_cap) {
        hp->malformed++;
        return;
    }
    {
        const uint8_t *end =
            (const uint8_t *)LV2_ATOM_BODY_CONST(&hp->out->atom) + hp->out->atom.size;
        LV2_ATOM_SEQUENCE_FOREACH(hp->out, ev)
        {
            if ((const uint8_t *)ev + sizeof *ev > end ||
                (const uint8_t *)LV2_ATOM_BODY_CONST(&ev->body) + ev->body.size > end) {
                hp->malformed++;
                hp->out->atom.size = 0; /* nothing more is read from it */
                break;
            }
        }
    }

    LV2_URID midi = host_map(NULL, LV2_MIDI__MidiEvent), set = host_map(NULL, LV2_PATCH__Set);
    LV2_URID prop = host_map(NULL, LV2_PATCH__property), val = host_map(NULL, LV2_PATCH__value);
    LV2_URID model = host_map(NULL, RNNMIDI_URI "#model"),
             status = host_map(NULL, RNNMIDI_URI "#status");
    LV2_ATOM_SEQUENCE_FOREACH(hp->out, ev)
    {
        if (ev->body.type == midi && ev->body.size <= 3) {
            if (hp->n_ev == hp->cap_ev) {
                hp->cap_ev = hp->cap_ev ? 2 * hp->cap_ev : 4096;
                hp->ev = realloc(hp->ev, hp->cap_ev * sizeof *hp->ev);
                if (!hp->ev) abort();
            }
            host_ev *e = &hp->ev[hp->n_ev++];
            e->frame = hp->pos + ev->time.frames;
            memset(e->d, 0, 3);
            memcpy(e->d, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size);
            if (ev->time.frames >= frames && frames > 0) e->frame = -1; /* flagged: outside */
        } else if (lv2_atom_forge_is_object_type(&hp->forge, ev->body.type)) {
            const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
            if (obj->body.otype != set) continue;
            const LV2_Atom *p = NULL, *v = NULL;
            lv2_atom_object_get(obj, prop, &p, val, &v, 0);
            if (!p || !v) continue;
            LV2_URID key = ((const LV2_Atom_URID *)p)->body;
            char *dst = key == model ? hp->model_path : key == status ? hp->status : NULL;
            size_t cap = key == model ? sizeof hp->model_path : sizeof hp->status;
            if (dst) {
                snprintf(dst, cap, "%.*s", (int)v->size, (const char *)LV2_ATOM_BODY_CONST(v));
                hp->n_notify++;
            }
        }
    }
    hp->pos += frames;
    if (hp->hold) return;
    host_do_work(hp);
    if (host_audio_enter) host_audio_enter();
    host_deliver(hp);
    if (host_audio_leave) host_audio_leave();
    host_do_work(hp); /* a response may send an old model back to be freed */
}

const void *host_port_value(const char *symbol, void *user, uint32_t *size, uint32_t *type)
{
    host_plugin *hp = user;
    static float v;
    for (int p = RNNMIDI_FIRST_CONTROL; p < RNNMIDI_N_PORTS; p++)
        if (!strcmp(symbol, rnnmidi_control_desc(p)->symbol)) v = hp->controls[p];
    *size = sizeof v;
    *type = host_map(NULL, LV2_ATOM__Float);
    return &v;
}

void host_set_port_value(const char *symbol, void *user, const void *value, uint32_t size,
                         uint32_t type)
{
    host_plugin *hp = user;
    if (type != host_map(NULL, LV2_ATOM__Float) || size != sizeof(float)) return;
    for (int p = RNNMIDI_FIRST_CONTROL; p < RNNMIDI_N_PORTS; p++)
        if (!strcmp(symbol, rnnmidi_control_desc(p)->symbol))
            hp->controls[p] = *(const float *)value;
}
