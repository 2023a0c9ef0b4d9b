/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: a thin front end over core/engine.
 *
 * MIDI and time:Position from the control port, and notes detected in the
 * optional audio input, go to the engine; its MIDI comes out of the notify
 * port. The model file is a patch:Set parameter (rnnmidi:model, an atom:Path):
 * run() hands the path to the worker, which loads, validates and prepares the
 * model off the audio thread and offers it to the model slot (core/slot.h);
 * its response tells work_response to install it, and the model it replaced
 * goes back through the slot to be freed by the worker, whom run() reminds
 * while the host's queue is full. Every patch:Set and restore() starts a new
 * generation of the slot; a model from an older one is freed instead of
 * swapped in. A refused file leaves the current model playing and is
 * reported through the log and a patch:Set of rnnmidi:status.
 *
 * State. The state extension stores the model path; control ports are the
 * host's. save() copies a model from outside the bundle into the session
 * when the host offers state:makePath (see "Sessions carry their models"
 * below). restore() hands the load to the worker when the host passes
 * work:schedule in its features (state:threadSafeRestore: restore may then
 * run beside run(), and touches nothing run() owns but atomics); only a host
 * that offers no worker there gets the load done inside restore(), with the
 * plugin's audio stopped as the Instantiation class demands. save() may run
 * beside run() and work_response(), which change the path: it copies the
 * path under a sequence count and hands the host only its own copy.
 * What Learn learned (learner.h) is saved too, only when something was:
 * save() writes the learned model into the state's folder (state:makePath)
 * as rnnmidi:learned; restore() has the worker load that file to play,
 * while the model path stays the original's, Learn's starting point and
 * what Forget goes back to.
 *
 * Thru. The plugin passes the player's MIDI on itself (the engine only
 * hears it) and remembers every note it passed on, per channel and pitch,
 * and a sustain pedal it passed down: their note-off (pedal up) goes out
 * whatever became of the thru switch, the mode, the model or the transport,
 * and deactivate() or the player's all-notes-off ends them. Note-offs owed
 * go first into the notify port; the engine is asked for no more events
 * than the rest of the port takes; a note-off that still finds no room waits
 * for the next block instead of being lost.
 *
 * Audio input. A detector reset clears analysis buffers whose size grows
 * with the sample rate; run() does none of it: it swaps in a spare detector
 * that the worker reset, and sends the used one to the worker to be reset in
 * turn. Until the spare is back, the audio input stays unheard.
 *
 * Inline display. run() hands the notes the engine hears and plays, and the
 * transport, to display.c, which keeps them for render() (Ardour's inline
 * display, on the host's GUI thread) without locks; run() calls the host's
 * queue_draw, when offered, a few times a second while notes are in view. */
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>
#include <lv2/core/lv2_util.h>
#include <lv2/log/logger.h>
#include <lv2/options/options.h>
#include <lv2/state/state.h>
#include <lv2/worker/worker.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "../../core/file.h"
#include "../../core/model.h"
#include "../../core/slot.h"
#include "../../core/text.h"
#include "../listen/detector.h"
#include "display.h"
#include "learner.h"
#include "ports.h"
#include "seqlock.h"
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
#define REFUSED_TEXT 200 /* bytes of a refused path that the log shows */
#define SAVE_TRIES 1000  /* save's attempts at a path no load is changing */
#define COPY_BUF 65536   /* save's buffer when it copies a model into the session */
#define COPY_NAMES 16    /* names save tries in the session before it gives up copying */

/* Worker messages: requests, and the responses they get. */
enum {
    MSG_LOAD = 0,           /* a path from patch:Set or restore() -> MSG_LOADED or MSG_FAILED */
    MSG_RETIRE = 1,         /* free what run() handed back to the slot */
    MSG_LOADED = 2,         /* the model is in the slot: its path and a status */
    MSG_FAILED = 3,         /* why a load failed */
    MSG_RESET_DETECTOR = 4, /* a used detector -> MSG_DETECTOR_READY */
    MSG_DETECTOR_READY = 5, /* the spare detector is reset */
    MSG_REFUSED = 6         /* a path run() refused, for the log */
};

typedef struct {
    uint32_t type;
    uint32_t size;          /* bytes of text after the header, NUL included */
    uint32_t gen;           /* a load's generation in the slot, carried by its response;
                               for MSG_REFUSED, the refused path's length */
    rnn_detector *detector; /* MSG_RESET_DETECTOR */
} WorkMsg;

typedef struct {
    WorkMsg head;
    char text[2 * PATH_CAP + STATUS_CAP]; /* a path (for a restore, then the learned model's);
                                             after a load, its NUL and the status */
} WorkText;

typedef struct {
    /* features */
    LV2_URID_Map *map;
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger logger;
    LV2_Inline_Display *queue_draw; /* optional: asks the host to render() */

    /* ports */
    const LV2_Atom_Sequence *control;
    LV2_Atom_Sequence *notify;
    const float *audio_in;
    const float *controls[N_CONTROLS];                                   /* the input controls */
    float *learn_out[RNNMIDI_LEARN_NLL_AFTER - RNNMIDI_LEARN_STATE + 1]; /* Learn's outputs */

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
    int detector_pitch;    /* pitch the detector left sounding, -1 */
    int heard_audio;       /* the detector ran in the last block */
    int detector_fresh;    /* the detector has heard nothing since its reset */
    rnn_detector *spare;   /* the other detector: reset by the worker, or being reset */
    int spare_ready;       /* the worker has reset it */
    int spare_unsent;      /* it still has to go to the worker */
    atomic_int spare_lost; /* the worker reset it but could not say so */

    /* thru: what went out of the notify port and still needs its end */
    int thru;                /* the thru switch this block */
    uint8_t passed[16][128]; /* note-on passed on, note-off not yet */
    uint8_t owed[16][128];   /* note-offs that found no room yet */
    uint8_t pedal[16];       /* sustain pedal passed down, not yet up */
    uint8_t pedal_owed[16];  /* pedal-ups that found no room yet */
    uint16_t passed_on_channel[16];
    uint32_t n_owed;        /* entries set in owed and pedal_owed */
    uint32_t offs_reserved; /* this chunk's note-offs still to come, room kept for them */

    /* state: the model path, read by a concurrent save() under path_seq */
    char bundle[PATH_CAP];   /* the bundle's folder, ending in '/': its models are not copied */
    char restored[PATH_CAP]; /* the path restore() gave, when it was a session's own copy */
    char path[PATH_CAP];
    size_t path_len;
    atomic_uint path_seq; /* odd while the path is being written */
    char status[STATUS_CAP];
    size_t status_len;
    int notify_model, notify_status;
    WorkText msg; /* built in run(), copied by the host's schedule_work */

    /* model: prepared by the worker, installed by work_response */
    rnn_slot *slot;
    int retire_unsent; /* the worker still has to hear that models came back */

    /* Learn: its own thread, fed by run() (learner.h) */
    rnnmidi_learner *learner;

    /* the inline display: notes heard and played, written by run() */
    rnn_display *display;
    uint64_t frames; /* frames run before this block */
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

/* The path has one writer at a time (the audio thread, or restore() and
 * instantiate() while nothing else runs); save() reads it from another
 * thread and tries again when the count moved meanwhile. */
static void set_path(Rnnmidi *self, const char *path)
{
    rnn_seq_write_begin(&self->path_seq);
    copy_text(self->path, PATH_CAP, path);
    self->path_len = strlen(self->path);
    rnn_seq_write_end(&self->path_seq);
}

/* A consistent copy of the path into out (PATH_CAP bytes); 0 when loads kept
 * changing it. For save(), beside the audio thread that writes it. */
static int read_path(Rnnmidi *self, char *out)
{
    for (int i = 0; i < SAVE_TRIES; i++) {
        unsigned a = rnn_seq_read_begin(&self->path_seq);
        if (!(a & 1)) {
            copy_text(out, PATH_CAP, self->path);
            if (rnn_seq_read_ok(&self->path_seq, a)) return 1;
        }
        sched_yield();
    }
    return 0;
}

static void set_status(Rnnmidi *self, const char *text)
{
    copy_text(self->status, sizeof self->status, text);
    self->status_len = strlen(self->status);
    self->notify_status = 1;
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
        LV2_WORKER__schedule, &self->schedule, true, LV2_OPTIONS__options, &options, false,
        LV2_INLINEDISPLAY__queue_draw, &self->queue_draw, false, NULL);
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
    self->slot = rnn_slot_create();
    self->engine = self->slot ? rnn_engine_create(rate, self->max_block, err, sizeof err) : NULL;
    self->learner = self->engine ? rnnmidi_learner_create(self->slot, err, sizeof err) : NULL;
    if (!self->learner) {
        lv2_log_error(&self->logger, "rnnmidi: %s\n", self->slot ? err : "out of memory");
        rnn_engine_free(self->engine);
        rnn_slot_free(self->slot);
        free(self);
        return NULL;
    }
    /* the plugin passes MIDI on itself (run_chunk), the engine only hears it */
    rnn_engine_set_param(self->engine, RNN_PARAM_THRU, 0);
    self->detector = rnn_detector_create(rate, (int)self->max_block, err, sizeof err);
    self->spare =
        self->detector ? rnn_detector_create(rate, (int)self->max_block, err, sizeof err) : NULL;
    if (!self->spare) {
        lv2_log_warning(&self->logger, "rnnmidi: no audio input: %s\n", err);
        rnn_detector_free(self->detector);
        self->detector = NULL;
    }
    self->display = rnn_display_create(rate); /* without it, no inline display */
    self->spare_ready = 1;
    self->detector_fresh = 1;
    self->detector_pitch = -1;
    for (int i = 0; i < N_CONTROLS; i++)
        self->last_value[i] = -1e30f;

    /* The bundled default model, when the bundle has one. */
    int b = snprintf(self->bundle, sizeof self->bundle, "%s%s", bundle_path,
                     bundle_path[0] && bundle_path[strlen(bundle_path) - 1] == '/' ? "" : "/");
    if (b < 0 || b >= (int)sizeof self->bundle) self->bundle[0] = 0;
    char def[PATH_CAP];
    int n = snprintf(def, sizeof def, "%s%s", self->bundle, DEFAULT_MODEL);
    if (n > 0 && n < (int)sizeof def && access(def, R_OK) == 0) {
        rnn_engine_model *em = rnn_engine_model_prepare(def, err, sizeof err);
        /* nothing runs yet: this thread may take the audio thread's part */
        const uint32_t gen = rnn_slot_request(self->slot);
        if (em && rnn_slot_offer(self->slot, em, gen) &&
            rnn_slot_install(self->slot, self->engine)) {
            rnnmidi_learner_base(self->learner, def, gen);
            set_path(self, def);
            self->notify_model = 1;
        } else if (!em) {
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
        if (rnnmidi_control_output((int)port))
            self->learn_out[port - RNNMIDI_LEARN_STATE] = data;
        else if (port >= RNNMIDI_FIRST_CONTROL && port < RNNMIDI_N_PORTS)
            self->controls[port - RNNMIDI_FIRST_CONTROL] = data;
        break;
    }
}

static void activate(LV2_Handle instance)
{
    Rnnmidi *self = instance;
    rnn_engine_reset(self->engine);
    /* not the audio thread: the detector in use may be reset here (the
     * worker only ever touches the spare) */
    if (self->detector) rnn_detector_reset(self->detector);
    self->detector_fresh = 1;
    self->detector_pitch = -1;
    self->notify_model = 1;
}

/* -------------------------------------------------------------------- run */

/* Bytes a patch:Set of a string of len bytes takes in the notify port: event
 * and object headers, two properties (key and value header each), the URID's
 * padded body, the string's. */
static size_t set_bytes(size_t len)
{
    return sizeof(LV2_Atom_Event) + sizeof(LV2_Atom_Object_Body) +
           2 * sizeof(LV2_Atom_Property_Body) + lv2_atom_pad_size(sizeof(LV2_URID)) +
           lv2_atom_pad_size((uint32_t)len + 1);
}

/* MIDI events the notify port still takes, after the room kept for the
 * patch messages waiting to go out at the end of the block. */
static uint32_t midi_room(const Rnnmidi *self)
{
    size_t used = self->forge.offset, cap = self->forge.size;
    if (self->notify_model) used += set_bytes(self->path_len);
    if (self->notify_status) used += set_bytes(self->status_len);
    size_t n = cap > used ? (cap - used) / MIDI_EVENT_BYTES : 0;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* One MIDI event into the notify port; 0 when there is no room. */
static int put_midi(Rnnmidi *self, uint32_t frame, const uint8_t *data, uint32_t size)
{
    /* whole events only: a frame time without its event breaks the sequence */
    if (!self->notify || midi_room(self) < 1) return 0;
    if (!lv2_atom_forge_frame_time(&self->forge, frame)) return 0;
    if (!lv2_atom_forge_atom(&self->forge, size, self->uris.midi_Event)) return 0;
    return lv2_atom_forge_write(&self->forge, data, size) != 0;
}

static int is_note_off(const uint8_t *d, uint32_t size)
{
    return size == 3 && ((d[0] & 0xf0) == 0x80 || ((d[0] & 0xf0) == 0x90 && d[2] == 0));
}

static int is_controller(const uint8_t *d, uint32_t size, int cc)
{
    return size == 3 && (d[0] & 0xf0) == 0xB0 && d[1] == cc;
}

/* A note-off (or pedal-up) that must reach the output: now, or first thing
 * in a later block. */
static void end_passed(Rnnmidi *self, uint32_t frame, int ch, int pitch)
{
    if (pitch < 0) {
        uint8_t up[3] = {(uint8_t)(0xB0 | ch), 64, 0};
        if (!put_midi(self, frame, up, 3) && !self->pedal_owed[ch]) {
            self->pedal_owed[ch] = 1;
            self->n_owed++;
        }
        return;
    }
    uint8_t off[3] = {(uint8_t)(0x80 | ch), (uint8_t)pitch, 0};
    if (!put_midi(self, frame, off, 3) && self->owed[ch][pitch] < UINT8_MAX) {
        if (!self->owed[ch][pitch]) self->n_owed++;
        self->owed[ch][pitch]++;
    }
}

/* Forget a passed note and end it. */
static void release_passed(Rnnmidi *self, uint32_t frame, int ch, int pitch)
{
    self->passed[ch][pitch] = 0;
    self->passed_on_channel[ch]--;
    end_passed(self, frame, ch, pitch);
}

/* The note-offs owed from earlier blocks, at the start of this one. Loops
 * over the 16 x 128 table only while something is owed. */
static void send_owed(Rnnmidi *self)
{
    for (int ch = 0; ch < 16 && self->n_owed; ch++) {
        if (self->pedal_owed[ch]) {
            uint8_t up[3] = {(uint8_t)(0xB0 | ch), 64, 0};
            if (!put_midi(self, 0, up, 3)) return;
            self->pedal_owed[ch] = 0;
            self->n_owed--;
        }
        for (int p = 0; p < 128 && self->n_owed; p++) {
            while (self->owed[ch][p]) {
                uint8_t off[3] = {(uint8_t)(0x80 | ch), (uint8_t)p, 0};
                if (!put_midi(self, 0, off, 3)) return;
                if (--self->owed[ch][p] == 0) self->n_owed--;
            }
        }
    }
}

/* The room an input event may need for ends of passed notes (an upper
 * bound: with thru on, its note-on may come earlier in the same chunk). */
static uint32_t ends_needed(const Rnnmidi *self, const rnn_engine_event *ev)
{
    const uint8_t *d = ev->data;
    int ch = d[0] & 15;
    if (ev->flags & RNN_EVENT_NO_THRU) return 0;
    if (is_note_off(d, ev->size)) return self->thru || self->passed[ch][d[1] & 127];
    if (is_controller(d, ev->size, 64) && d[2] < 64) return self->thru || self->pedal[ch];
    if (is_controller(d, ev->size, 123) || is_controller(d, ev->size, 120))
        return self->passed_on_channel[ch] + (self->pedal[ch] ? 1u : 0u);
    return 0;
}

/* Pass one player event on (frame: in the block), or not, and keep the
 * table of what went out. Events that end something passed on come first;
 * anything else goes only when the room kept for those and for `later`
 * engine events is left. */
static void pass_on(Rnnmidi *self, uint32_t frame, const rnn_engine_event *ev, uint32_t later)
{
    const uint8_t *d = ev->data;
    int ch = d[0] & 15, key = d[1] & 127;
    uint32_t need = ends_needed(self, ev);
    self->offs_reserved -= need < self->offs_reserved ? need : self->offs_reserved;
    int spare = midi_room(self) > later + self->offs_reserved;

    if (is_note_off(d, ev->size)) {
        if (self->passed[ch][key]) release_passed(self, frame, ch, key);
        return; /* a note never passed on has no note-off to pass */
    }
    if (ev->size == 3 && (d[0] & 0xf0) == 0x90) {
        if (!self->thru || !spare || self->owed[ch][key]) return;
        if (!put_midi(self, frame, d, 3)) return;
        if (!self->passed[ch][key]) self->passed_on_channel[ch]++;
        self->passed[ch][key] = 1;
        return;
    }
    if (is_controller(d, ev->size, 64)) {
        if (d[2] < 64) {
            if (self->pedal[ch]) {
                self->pedal[ch] = 0;
                end_passed(self, frame, ch, -1);
            }
        } else if (self->thru && spare && !self->pedal_owed[ch] && put_midi(self, frame, d, 3)) {
            self->pedal[ch] = 1;
        }
        return;
    }
    if (is_controller(d, ev->size, 123) || is_controller(d, ev->size, 120)) {
        /* the player ends everything on the channel: so do we */
        for (int p = 0; p < 128 && self->passed_on_channel[ch]; p++)
            if (self->passed[ch][p]) release_passed(self, frame, ch, p);
        if (self->pedal[ch]) {
            self->pedal[ch] = 0;
            end_passed(self, frame, ch, -1);
        }
        if (self->thru) put_midi(self, frame, d, ev->size);
        return;
    }
    if (self->thru && spare) put_midi(self, frame, d, ev->size);
}

/* One engine event into the port. The engine was asked for what the port
 * takes after the room kept for the player's note-offs (or for its minimum,
 * when the port takes less): a note-off that finds no room waits for the
 * next block, anything else is dropped. */
static void put_engine(Rnnmidi *self, uint32_t frame, const rnn_engine_event *ev)
{
    const uint8_t *d = ev->data;
    int ch = d[0] & 15, key = d[1] & 127;
    if (is_note_off(d, ev->size)) {
        if (!put_midi(self, frame, d, 3)) end_passed(self, frame, ch, key);
        return;
    }
    /* a note-on waiting behind its own owed note-off would be cut by it */
    if (ev->size == 3 && (d[0] & 0xf0) == 0x90 && self->owed[ch][key]) return;
    put_midi(self, frame, d, ev->size);
}

/* Send everything collected so far to the engine for frames
 * [chunk_start, end), then merge its output with what the player passes on
 * into the notify port, in frame order (the engine's first at a tie: its
 * note-offs due there end before a new note starts). */
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
        /* Room for the ends of passed notes first, then the engine, then the
         * rest. A port too small for the engine's minimum still gets that
         * minimum asked for, so the engine never has to drop one of its own
         * note-offs: what does not fit waits (note-offs) or is dropped. */
        self->offs_reserved = 0;
        for (uint32_t i = 0; i < self->n_in; i++)
            self->offs_reserved += ends_needed(self, &self->in[i]);
        uint32_t left = midi_room(self);
        left = left > self->offs_reserved ? left - self->offs_reserved : 0;
        if (left < room) room = left;
        if (room < RNN_ENGINE_MIN_OUT) room = RNN_ENGINE_MIN_OUT;
    }
    uint32_t n = rnn_engine_run(self->engine, end - start, self->in, self->n_in, self->transport,
                                self->n_transport, self->out, room);
    for (uint32_t i = 0; i < n; i++)
        rnn_display_midi(self->display, RNN_DISPLAY_NET, self->frames + start + self->out[i].frame,
                         self->out[i].data, self->out[i].size);
    if (self->notify) {
        uint32_t j = 0;
        for (uint32_t i = 0; i <= self->n_in; i++) {
            uint32_t f = i < self->n_in ? self->in[i].frame : UINT32_MAX;
            for (; j < n && self->out[j].frame <= f; j++)
                put_engine(self, start + self->out[j].frame, &self->out[j]);
            if (i < self->n_in && !(self->in[i].flags & RNN_EVENT_NO_THRU))
                pass_on(self, start + self->in[i].frame, &self->in[i], n - j);
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
    if (!(flags & RNN_EVENT_NO_LISTEN))
        rnn_display_midi(self->display, RNN_DISPLAY_PLAYER, self->frames + frame, data, size);
}

/* Detected notes with frames up to `frame` enter like MIDI notes. */
static void add_detected(Rnnmidi *self, int *next, uint32_t frame)
{
    for (; *next < self->n_detected && self->detected[*next].frame <= frame; (*next)++) {
        uint8_t msg[3];
        rnn_detected_to_midi(&self->detected[*next], 0, msg);
        add_event(self, self->detected[*next].frame, msg, 3, RNN_EVENT_NO_THRU);
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
    rnn_display_transport(self->display, self->frames + frame, t);
}

static void schedule_load(Rnnmidi *self, const LV2_Atom *value)
{
    if (!value || value->type != self->uris.atom_Path || value->size == 0) return;
    if (value->size >= PATH_CAP) {
        set_status(self, "error: a model path longer than 4095 bytes is refused, the current "
                         "model plays on");
        /* the worker logs it, with the path's beginning */
        self->msg.head.type = MSG_REFUSED;
        self->msg.head.gen = value->size - 1;
        self->msg.head.detector = NULL;
        self->msg.head.size = REFUSED_TEXT + 1;
        memcpy(self->msg.text, LV2_ATOM_BODY_CONST(value), REFUSED_TEXT);
        self->msg.text[REFUSED_TEXT] = 0;
        self->schedule->schedule_work(self->schedule->handle, sizeof(WorkMsg) + REFUSED_TEXT + 1,
                                      &self->msg);
        return;
    }
    /* the newest request from here on, even when the worker cannot take it */
    self->msg.head.type = MSG_LOAD;
    self->msg.head.gen = rnn_slot_request(self->slot);
    self->msg.head.detector = NULL;
    self->msg.head.size = value->size;
    memcpy(self->msg.text, LV2_ATOM_BODY_CONST(value), value->size);
    self->msg.text[value->size - 1] = 0;
    if (self->schedule->schedule_work(self->schedule->handle, sizeof(WorkMsg) + value->size,
                                      &self->msg) != LV2_WORKER_SUCCESS) {
        set_status(self, "error: the host's worker is busy, the current model plays on");
    }
}

/* A patch:Set notification, whole or not at all; 0 when it found no room. */
static int write_set(Rnnmidi *self, uint32_t frame, LV2_URID property, LV2_URID type,
                     const char *text, size_t len)
{
    LV2_Atom_Forge *f = &self->forge;
    LV2_Atom_Forge_Frame obj;
    if (f->offset + set_bytes(len) > f->size) return 0;
    if (!lv2_atom_forge_frame_time(f, frame)) return 0;
    if (!lv2_atom_forge_object(f, &obj, 0, self->uris.patch_Set)) return 0;
    lv2_atom_forge_key(f, self->uris.patch_property);
    lv2_atom_forge_urid(f, property);
    lv2_atom_forge_key(f, self->uris.patch_value);
    lv2_atom_forge_typed_string(f, type, text, (uint32_t)len);
    lv2_atom_forge_pop(f, &obj);
    return 1;
}

/* Hand the used detector to the worker to be reset; retried from run()
 * while the host's queue is full. Audio thread. */
static void send_spare(Rnnmidi *self)
{
    WorkMsg msg = {MSG_RESET_DETECTOR, 0, 0, self->spare};
    if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) ==
        LV2_WORKER_SUCCESS)
        self->spare_unsent = 0;
}

static void send_retire(Rnnmidi *self);

/* The start of a block: messages to the worker that the host's queue
 * refused before, and the notify port readied, with the note-offs owed. */
static void begin_block(Rnnmidi *self)
{
    if (self->retire_unsent) send_retire(self);
    if (atomic_exchange(&self->spare_lost, 0)) self->spare_unsent = 1;
    if (self->spare_unsent) send_spare(self);
    self->n_in = self->n_transport = 0;
    self->chunk_start = 0;
    self->n_detected = 0;
    if (!self->notify) return;
    lv2_atom_forge_set_buffer(&self->forge, (uint8_t *)self->notify, self->notify->atom.size);
    lv2_atom_forge_sequence_head(&self->forge, &self->notify_frame, 0);
    /* a message that could never fit is dropped, not waited for */
    size_t most = self->forge.size > sizeof(LV2_Atom_Sequence)
                      ? self->forge.size - sizeof(LV2_Atom_Sequence)
                      : 0;
    if (set_bytes(self->path_len) > most) self->notify_model = 0;
    if (set_bytes(self->status_len) > most) self->notify_status = 0;
    if (self->n_owed) send_owed(self);
}

/* The control ports into the engine (those that changed) and the thru
 * switch; returns the input source. */
static int read_controls(Rnnmidi *self)
{
    int source = RNNMIDI_SOURCE_MIDI;
    for (int i = 0; i < N_CONTROLS; i++) {
        if (!self->controls[i]) continue;
        float v = *self->controls[i];
        if (i == RNNMIDI_INPUT_SOURCE - RNNMIDI_FIRST_CONTROL && isfinite(v))
            source = v < 0.5f   ? RNNMIDI_SOURCE_MIDI
                     : v < 1.5f ? RNNMIDI_SOURCE_AUDIO
                                : RNNMIDI_SOURCE_BOTH;
        if (i == RNNMIDI_THRU - RNNMIDI_FIRST_CONTROL) self->thru = isfinite(v) && v >= 0.5f;
        if (v == self->last_value[i]) continue;
        self->last_value[i] = v;
        int param = rnnmidi_control_param(RNNMIDI_FIRST_CONTROL + i);
        if (param >= 0 && param != RNN_PARAM_THRU)
            rnn_engine_set_param(self->engine, (rnn_engine_param)param, v);
    }
    return source;
}

/* The audio input through the detector into self->detected, when it is
 * heard; when it was switched off mid-note, the end of that note. */
static void listen_audio(Rnnmidi *self, uint32_t n_samples, int hear_audio)
{
    if (hear_audio && !self->heard_audio && !self->detector_fresh) {
        /* audio heard again: nothing stale from before. The spare the worker
         * reset takes over; without one yet, the input waits for it. */
        if (self->spare_ready) {
            rnn_detector *used = self->detector;
            self->detector = self->spare;
            self->spare = used;
            self->spare_ready = 0;
            self->detector_fresh = 1;
            self->spare_unsent = 1;
            send_spare(self);
        } else {
            hear_audio = 0;
        }
    }
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
        if (n_samples > 0) self->detector_fresh = 0;
        self->detector_pitch = rnn_detector_current_pitch(self->detector);
    } else if (self->detector_pitch >= 0) {
        /* the audio input was switched off mid-note: end the note it held
         * (the detector is swapped for a fresh one when it listens again) */
        rnn_detected_note_event end = {0, 0, 0, (uint8_t)self->detector_pitch, 0};
        uint8_t off[3];
        rnn_detected_to_midi(&end, 0, off);
        self->detector_pitch = -1;
        add_event(self, 0, off, 3, RNN_EVENT_NO_THRU);
    }
}

/* One object of the control port: a transport change, a model chosen, or
 * a host asking for the parameters. */
static void read_object(Rnnmidi *self, const LV2_Atom_Object *obj, uint32_t frame)
{
    const RnnmidiURIs *u = &self->uris;
    if (obj->body.otype == u->time_Position) {
        read_position(self, obj, frame);
    } else if (obj->body.otype == u->patch_Set) {
        const LV2_Atom *property = NULL, *value = NULL;
        lv2_atom_object_get(obj, u->patch_property, &property, u->patch_value, &value, 0);
        if (property && property->type == u->atom_URID &&
            ((const LV2_Atom_URID *)property)->body == u->rnnmidi_model)
            schedule_load(self, value);
    } else if (obj->body.otype == u->patch_Get) {
        self->notify_model = self->notify_status = 1;
    }
}

/* The control port's events in frame order, with the detected notes
 * merged in among its MIDI. */
static void read_control_port(Rnnmidi *self, uint32_t n_samples, int hear_midi)
{
    int next_detected = 0;
    if (self->control) {
        LV2_ATOM_SEQUENCE_FOREACH(self->control, ev)
        {
            uint32_t frame = (uint32_t)ev->time.frames;
            if (frame >= n_samples)
                frame = n_samples > 0 ? n_samples - 1 : 0; /* inside the block */
            if (frame < self->chunk_start) frame = self->chunk_start;
            if (ev->body.type == self->uris.midi_Event) {
                add_detected(self, &next_detected, frame);
                if (ev->body.size >= 1 && ev->body.size <= 3)
                    add_event(self, frame, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size,
                              hear_midi ? 0 : RNN_EVENT_NO_LISTEN);
            } else if (lv2_atom_forge_is_object_type(&self->forge, ev->body.type)) {
                read_object(self, (const LV2_Atom_Object *)&ev->body, frame);
            }
        }
    }
    add_detected(self, &next_detected, UINT32_MAX);
}

/* The end of a block: the patch messages owed, at its last frame, and the
 * inline display moved on. */
static void end_block(Rnnmidi *self, uint32_t n_samples)
{
    const RnnmidiURIs *u = &self->uris;
    if (self->notify) {
        uint32_t last = n_samples > 0 ? n_samples - 1 : 0;
        if (self->notify_model &&
            write_set(self, last, u->rnnmidi_model, u->atom_Path, self->path, self->path_len))
            self->notify_model = 0;
        if (self->notify_status && write_set(self, last, u->rnnmidi_status, u->atom_String,
                                             self->status, self->status_len))
            self->notify_status = 0;
    }
    self->frames += n_samples;
    if (rnn_display_follow(self->display, self->frames, self->engine) && self->queue_draw)
        self->queue_draw->queue_draw(self->queue_draw->handle);
}

/* A control's value, or def when the port is not connected or not finite. */
static float control(const Rnnmidi *self, int port, float def)
{
    const float *p = self->controls[port - RNNMIDI_FIRST_CONTROL];
    return p && isfinite(*p) ? *p : def;
}

/* Learn's controls to its thread, its recording and learned model into the
 * engine, its status out. */
static void learn_block(Rnnmidi *self)
{
    const float v = control(self, RNNMIDI_LEARN, RNNMIDI_LEARN_OFF);
    const int learn = v < 0.5f   ? RNNMIDI_LEARN_OFF
                      : v < 1.5f ? RNNMIDI_LEARN_ON
                                 : RNNMIDI_LEARN_FREEZE;
    rnnmidi_learn_status st;
    rnnmidi_learner_run(self->learner, self->engine, learn, control(self, RNNMIDI_LEARN_RATE, 1),
                        control(self, RNNMIDI_FORGET, 0), &st);
    const float out[] = {(float)st.state, (float)st.phrases, (float)st.updates, st.nll_before,
                         st.nll_after};
    for (int i = 0; i < (int)(sizeof out / sizeof out[0]); i++)
        if (self->learn_out[i]) *self->learn_out[i] = out[i];
}

static void run(LV2_Handle instance, uint32_t n_samples)
{
    Rnnmidi *self = instance;
    begin_block(self);
    int source = read_controls(self);
    learn_block(self);
    listen_audio(self, n_samples,
                 source != RNNMIDI_SOURCE_MIDI && self->audio_in && self->detector);
    read_control_port(self, n_samples, source != RNNMIDI_SOURCE_AUDIO);
    run_chunk(self, n_samples); /* the engine, and its MIDI with the player's out */
    end_block(self, n_samples);
}

static void deactivate(LV2_Handle instance)
{
    Rnnmidi *self = instance;
    rnn_engine_all_notes_off(self->engine);
    rnn_display_all_off(self->display, self->frames);
    /* what was passed on ends at the next run (not the audio thread: the
     * loop over the table is fine here) */
    for (int ch = 0; ch < 16; ch++) {
        for (int p = 0; p < 128 && self->passed_on_channel[ch]; p++) {
            if (!self->passed[ch][p]) continue;
            self->passed[ch][p] = 0;
            self->passed_on_channel[ch]--;
            if (!self->owed[ch][p]) self->n_owed++;
            if (self->owed[ch][p] < UINT8_MAX) self->owed[ch][p]++;
        }
        if (self->pedal[ch]) {
            self->pedal[ch] = 0;
            if (!self->pedal_owed[ch]) self->n_owed++;
            self->pedal_owed[ch] = 1;
        }
    }
}

static void cleanup(LV2_Handle instance)
{
    Rnnmidi *self = instance;
    rnn_engine_free(self->engine);       /* frees its model too, and records no more */
    rnnmidi_learner_free(self->learner); /* its thread stopped, its ring freed */
    rnn_slot_free(self->slot);           /* and what was on its way */
    rnn_detector_free(self->detector);
    rnn_detector_free(self->spare);
    rnn_display_free(self->display);
    free(self);
}

/* ----------------------------------------------------------------- worker */

/* Tell the worker that models came back to the slot to be freed; retried
 * from run() while the host's queue is full (any later work frees them too).
 * Audio thread. */
static void send_retire(Rnnmidi *self)
{
    WorkMsg msg = {MSG_RETIRE, 0, 0, NULL};
    self->retire_unsent = self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) !=
                          LV2_WORKER_SUCCESS;
}

/* prefix then text into dst (cap bytes), always terminated; the text comes
 * from a file or a path and goes to the host's display, so its control
 * characters are replaced. Returns the bytes stored, NUL included. */
static size_t put_text(char *dst, size_t cap, const char *prefix, const char *text)
{
    size_t p = strlen(prefix);
    if (p >= cap) p = cap - 1;
    memcpy(dst, prefix, p);
    dst[p] = 0;
    return p + rnn_text_sanitize(dst + p, cap - p, text) + 1;
}

static LV2_Worker_Status work(LV2_Handle instance, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    Rnnmidi *self = instance;
    if (size < sizeof(WorkMsg)) return LV2_WORKER_ERR_UNKNOWN;
    WorkMsg head;
    memcpy(&head, data, sizeof head);
    const char *text = (const char *)data + sizeof(WorkMsg);
    /* whatever the message, free the models run() handed back meanwhile */
    rnn_slot_retire(self->slot);
    if (head.type == MSG_RETIRE) return LV2_WORKER_SUCCESS;
    if (head.type == MSG_RESET_DETECTOR) {
        rnn_detector_reset(head.detector);
        WorkMsg ready = {MSG_DETECTOR_READY, 0, 0, NULL};
        if (respond(handle, sizeof ready, &ready) != LV2_WORKER_SUCCESS) {
            atomic_store(&self->spare_lost, 1); /* run() sends it again */
            return LV2_WORKER_ERR_NO_SPACE;
        }
        return LV2_WORKER_SUCCESS;
    }
    if (head.type == MSG_REFUSED) {
        if (size >= sizeof(WorkMsg) + head.size && head.size > 0 && !text[head.size - 1])
            lv2_log_error(&self->logger,
                          "rnnmidi: model path refused: %u bytes, at most %d: %s...\n", head.gen,
                          PATH_CAP - 1, text);
        return LV2_WORKER_SUCCESS;
    }
    if (head.type != MSG_LOAD) return LV2_WORKER_ERR_UNKNOWN;
    if (size < sizeof(WorkMsg) + head.size || head.size == 0 || head.size > 2 * PATH_CAP ||
        text[head.size - 1] != 0)
        return LV2_WORKER_ERR_UNKNOWN;
    /* a newer request came meanwhile: no need to read this one */
    if (head.gen != rnn_slot_generation(self->slot)) return LV2_WORKER_SUCCESS;
    size_t plen = strlen(text) + 1;
    /* a restore's learned model plays; the path stays the original's */
    const char *learned = plen < head.size ? text + plen : NULL;

    /* text is exactly as long as its bytes: nothing uninitialised goes out */
    WorkText reply;
    reply.head.gen = head.gen;
    reply.head.detector = NULL;
    char err[STATUS_CAP - 32];
    rnn_engine_model *em = learned ? rnn_engine_model_prepare(learned, err, sizeof err) : NULL;
    if (learned && !em) {
        lv2_log_error(&self->logger, "rnnmidi: learned model refused, the original plays: %s\n",
                      err);
        learned = NULL;
    }
    if (!em) em = rnn_engine_model_prepare(text, err, sizeof err);
    size_t n;
    if (em) {
        reply.head.type = MSG_LOADED;
        const char *name = rnn_model_meta(rnn_engine_model_get(em), "name");
        memcpy(reply.text, text, plen);
        n = plen;
        n += put_text(reply.text + n, STATUS_CAP, "loaded ", name ? name : text);
        /* refused (and freed) when a newer request came while it loaded */
        if (!rnn_slot_offer(self->slot, em, head.gen)) return LV2_WORKER_SUCCESS;
        rnnmidi_learner_base_learned(self->learner, text, learned, head.gen);
    } else {
        lv2_log_error(&self->logger, "rnnmidi: model refused, the current one plays on: %s\n", err);
        reply.head.type = MSG_FAILED;
        n = put_text(reply.text, STATUS_CAP, "error: ", err);
    }
    reply.head.size = (uint32_t)n;
    /* without its response the offered model is never installed: the next
     * offer or cleanup() frees it */
    if (respond(handle, sizeof(WorkMsg) + reply.head.size, &reply) != LV2_WORKER_SUCCESS)
        return LV2_WORKER_ERR_NO_SPACE;
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status work_response(LV2_Handle instance, uint32_t size, const void *data)
{
    Rnnmidi *self = instance;
    if (size < sizeof(WorkMsg)) return LV2_WORKER_ERR_UNKNOWN;
    WorkMsg head;
    memcpy(&head, data, sizeof head);
    if (head.type == MSG_DETECTOR_READY) {
        self->spare_ready = 1;
        return LV2_WORKER_SUCCESS;
    }
    const char *text = (const char *)data + sizeof(WorkMsg);
    size_t len = size - sizeof(WorkMsg);
    int loaded = head.type == MSG_LOADED;
    if (!loaded && head.type != MSG_FAILED) return LV2_WORKER_ERR_UNKNOWN;
    /* a newer request was made since: its own response will come (the slot
     * frees this one's model) */
    if (head.gen != rnn_slot_generation(self->slot)) return LV2_WORKER_SUCCESS;
    if (loaded) {
        size_t n = strnlen(text, len);
        if (n == len) return LV2_WORKER_ERR_UNKNOWN; /* no path: the response is not ours */
        if (!rnn_slot_install(self->slot, self->engine)) return LV2_WORKER_SUCCESS;
        send_retire(self);
        set_path(self, text);
        self->notify_model = 1;
        char status[STATUS_CAP] = "";
        size_t m = len - n - 1 < sizeof status - 1 ? len - n - 1 : sizeof status - 1;
        memcpy(status, text + n + 1, m);
        status[m] = 0;
        set_status(self, status);
    } else {
        char status[STATUS_CAP] = "";
        size_t m = len < sizeof status - 1 ? len : sizeof status - 1;
        memcpy(status, text, m);
        status[m] = 0;
        set_status(self, status);
    }
    return LV2_WORKER_SUCCESS;
}

/* ------------------------------------------------------------------ state */

/* Sessions carry their models. When the host offers state:makePath, save()
 * copies a model from outside the bundle into the folder the host gives for
 * this state, and stores the copy's path (mapped by state:mapPath, so the
 * host stores it relative to its state folder): the session then survives
 * being moved, or the original file being deleted. A file of the same name
 * and the same bytes already there is used as it is; one with other bytes
 * gets the next free name (model-2.rnnw, ...). The copy is written to a
 * temporary file in that folder and renamed, so a session never holds half
 * a model. The state marks such a copy (rnnmidi:sessionCopy); restored
 * from such a state, the session's own copy is hard-linked into the next
 * save's folder instead, when the file system allows (hosts such as Ardour
 * give each save a folder of its own), so saving a reopened session does
 * not copy the model again. The user's own files are always copied: a link
 * would follow their later edits. A model over RNN_MODEL_MAX_BYTES (the
 * reader's limit) is not copied: the reader would refuse it anyway. A model
 * inside the bundle is stored by its bundle path and never copied. Without
 * makePath, or when the copy fails (logged), the original's path goes
 * through mapPath as before.
 * All of it runs on the host's saving thread, never the audio thread. */

static int in_bundle(const Rnnmidi *self, const char *path)
{
    size_t n = strlen(self->bundle);
    return n > 0 && !strncmp(path, self->bundle, n);
}

static void free_host_path(const LV2_State_Free_Path *free_path, char *path)
{
    if (!path) return;
    if (free_path)
        free_path->free_path(free_path->handle, path);
    else
        free(path);
}

/* Read exactly n bytes; 0 at a short read or an error. */
static int read_exact(int fd, unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        buf += r;
        n -= (size_t)r;
    }
    return 1;
}

static int write_all(int fd, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        buf += w;
        n -= (size_t)w;
    }
    return 1;
}

/* 1 when the regular file at path holds the same size bytes as src (read
 * from its start); src's offset is left at its start. */
static int same_bytes(int src, uint64_t size, const char *path, unsigned char *a, unsigned char *b)
{
    char err[64];
    uint64_t other = 0;
    int fd = rnn_file_open_regular(path, &other, err, sizeof err);
    if (fd < 0) return 0;
    int same = other == size && lseek(src, 0, SEEK_SET) == 0;
    for (uint64_t left = size; same && left > 0;) {
        size_t n = left < COPY_BUF ? (size_t)left : COPY_BUF;
        same = read_exact(src, a, n) && read_exact(fd, b, n) && !memcmp(a, b, n);
        left -= n;
    }
    close(fd);
    return same && lseek(src, 0, SEEK_SET) == 0;
}

/* Copy size bytes of src to dst through a temporary file beside it. */
static int copy_atomically(int src, uint64_t size, const char *dst, unsigned char *buf)
{
    size_t len = strlen(dst);
    char *tmp = malloc(len + 16);
    if (!tmp) return 0;
    memcpy(tmp, dst, len);
    memcpy(tmp + len, ".part-XXXXXX", 13);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return 0;
    }
    int ok = lseek(src, 0, SEEK_SET) == 0;
    for (uint64_t left = size; ok && left > 0;) {
        size_t n = left < COPY_BUF ? (size_t)left : COPY_BUF;
        ok = read_exact(src, buf, n) && write_all(fd, buf, n);
        left -= n;
    }
    /* the file must not have grown meanwhile either */
    ok = ok && read(src, buf, 1) == 0 && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, dst) == 0;
    if (!ok) unlink(tmp);
    free(tmp);
    return ok;
}

/* The session's name for the model at path: its file name, or with -2, -3...
 * before the extension; 0 when the name would not fit. */
static int session_name(char *out, size_t cap, const char *path, int i)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!base[0]) base = "model.rnnw";
    if (i == 0) return snprintf(out, cap, "%s", base) < (int)cap;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    int n = snprintf(out, cap, "%.*s-%d%s", stem, base, i + 1, base + stem);
    return n > 0 && n < (int)cap;
}

/* The model's copy in the session: an absolute path from make_path (free it
 * with free_host_path), or NULL (logged) when it could not be made. */
static char *copy_into_session(Rnnmidi *self, const LV2_State_Make_Path *make_path,
                               const LV2_State_Free_Path *free_path, const char *path)
{
    int own = self->restored[0] && !strcmp(path, self->restored);
    char err[STATUS_CAP];
    uint64_t size = 0;
    int src = rnn_file_open_regular(path, &size, err, sizeof err);
    if (src < 0) {
        lv2_log_warning(&self->logger, "rnnmidi: state: model not copied into the session: %s\n",
                        err);
        return NULL;
    }
    if (size > RNN_MODEL_MAX_BYTES) {
        lv2_log_warning(&self->logger,
                        "rnnmidi: state: %s is over %zu bytes, not copied into the session\n", path,
                        (size_t)RNN_MODEL_MAX_BYTES);
        close(src);
        return NULL;
    }
    unsigned char *buf = malloc(2 * (size_t)COPY_BUF);
    char *real = realpath(path, NULL);
    char *dst = NULL;
    for (int i = 0; buf && real && i < COPY_NAMES; i++) {
        char name[NAME_MAX + 1];
        if (!session_name(name, sizeof name, path, i)) break;
        dst = make_path->path(make_path->handle, name);
        if (!dst) break;
        struct stat st;
        if (lstat(dst, &st) != 0 && errno == ENOENT) {
            if ((own && link(real, dst) == 0) || copy_atomically(src, size, dst, buf)) break;
            free_host_path(free_path, dst);
            dst = NULL;
            break;
        } else {
            char *there = realpath(dst, NULL);
            int same = there && !strcmp(there, real);
            free(there);
            if (same || same_bytes(src, size, dst, buf, buf + COPY_BUF)) break;
        }
        free_host_path(free_path, dst);
        dst = NULL;
    }
    if (!dst)
        lv2_log_warning(&self->logger,
                        "rnnmidi: state: could not copy %s into the session; the session "
                        "refers to it where it is\n",
                        path);
    free(real);
    free(buf);
    close(src);
    return dst;
}

/* What Learn learned on the model at path, written into the folder the
 * host gives for this state (state:makePath) and stored by its mapped path;
 * nothing when nothing was learned (or Learn's model is not path's), or the
 * host offers no makePath. */
static LV2_State_Status save_learned(Rnnmidi *self, LV2_State_Store_Function store,
                                     LV2_State_Handle handle, const LV2_Feature *const *features,
                                     const char *path)
{
    LV2_State_Map_Path *map_path = lv2_features_data(features, LV2_STATE__mapPath);
    LV2_State_Make_Path *make_path = lv2_features_data(features, LV2_STATE__makePath);
    LV2_State_Free_Path *free_path = lv2_features_data(features, LV2_STATE__freePath);
    char base[PATH_CAP], err[512];
    if (!make_path || rnnmidi_learner_base_path(self->learner, base, sizeof base) ||
        strcmp(base, path))
        return LV2_STATE_SUCCESS;
    char *file = make_path->path(make_path->handle, "learned.rnnw");
    if (!file) return LV2_STATE_SUCCESS;
    LV2_State_Status st = LV2_STATE_SUCCESS;
    const int rc = rnnmidi_learner_write(self->learner, file, err, sizeof err);
    if (rc < 0) lv2_log_error(&self->logger, "rnnmidi: state: learned model not saved: %s\n", err);
    if (rc == 0) {
        char *apath = map_path ? map_path->abstract_path(map_path->handle, file) : NULL;
        const char *stored = apath ? apath : file;
        st = store(handle, self->uris.rnnmidi_learned, stored, strlen(stored) + 1,
                   self->uris.atom_Path, LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
        free_host_path(free_path, apath);
    }
    free_host_path(free_path, file);
    return st;
}

static LV2_State_Status save(LV2_Handle instance, LV2_State_Store_Function store,
                             LV2_State_Handle handle, uint32_t flags,
                             const LV2_Feature *const *features)
{
    (void)flags;
    Rnnmidi *self = instance;
    char path[PATH_CAP];
    if (!read_path(self, path)) {
        lv2_log_error(&self->logger, "rnnmidi: state: the model path kept changing, not saved\n");
        return LV2_STATE_ERR_UNKNOWN;
    }
    if (!path[0]) return LV2_STATE_SUCCESS;
    if (in_bundle(self, path)) { /* the host finds the bundle again; no copy, no link */
        LV2_State_Status st = store(handle, self->uris.rnnmidi_model, path, strlen(path) + 1,
                                    self->uris.atom_Path, LV2_STATE_IS_POD);
        return st == LV2_STATE_SUCCESS ? save_learned(self, store, handle, features, path) : st;
    }
    LV2_State_Map_Path *map_path = lv2_features_data(features, LV2_STATE__mapPath);
    LV2_State_Make_Path *make_path = lv2_features_data(features, LV2_STATE__makePath);
    LV2_State_Free_Path *free_path = lv2_features_data(features, LV2_STATE__freePath);
    char *copy = make_path ? copy_into_session(self, make_path, free_path, path) : NULL;
    const char *source = copy ? copy : path;
    char *apath = map_path ? map_path->abstract_path(map_path->handle, source) : NULL;
    const char *stored = apath ? apath : source;
    LV2_State_Status st = store(handle, self->uris.rnnmidi_model, stored, strlen(stored) + 1,
                                self->uris.atom_Path, LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    const int32_t yes = 1;
    if (st == LV2_STATE_SUCCESS && copy)
        st = store(handle, self->uris.rnnmidi_sessionCopy, &yes, sizeof yes, self->uris.atom_Bool,
                   LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    free_host_path(free_path, apath);
    free_host_path(free_path, copy);
    return st == LV2_STATE_SUCCESS ? save_learned(self, store, handle, features, path) : st;
}

/* restore()'s load through the host's worker: restore may be running beside
 * run(), so it only counts atomically and schedules. */
static LV2_State_Status restore_in_worker(Rnnmidi *self, LV2_Worker_Schedule *schedule,
                                          const char *path, const char *learned)
{
    size_t len = strlen(path), llen = learned ? strlen(learned) + 1 : 0;
    if (llen > PATH_CAP) llen = 0; /* an absurd learned path: the original plays */
    if (len >= PATH_CAP) {
        lv2_log_error(&self->logger,
                      "rnnmidi: state: model path of %zu bytes refused, at most %d\n", len,
                      PATH_CAP - 1);
        return LV2_STATE_ERR_UNKNOWN;
    }
    WorkText *msg = malloc(sizeof *msg);
    if (!msg) return LV2_STATE_ERR_UNKNOWN;
    /* the newest request from here on: loads still in flight are older */
    msg->head.gen = rnn_slot_request(self->slot);
    msg->head.type = MSG_LOAD;
    msg->head.size = (uint32_t)(len + 1 + llen);
    msg->head.detector = NULL;
    memcpy(msg->text, path, len + 1);
    if (llen) memcpy(msg->text + len + 1, learned, llen);
    LV2_State_Status st = LV2_STATE_SUCCESS;
    if (schedule->schedule_work(schedule->handle, (uint32_t)sizeof(WorkMsg) + msg->head.size,
                                msg) != LV2_WORKER_SUCCESS) {
        lv2_log_error(&self->logger, "rnnmidi: state: the host's worker is busy, %s not restored\n",
                      path);
        st = LV2_STATE_ERR_UNKNOWN;
    }
    free(msg);
    return st;
}

/* restore()'s load done in place, for hosts that offer no worker to
 * restore(): they call it in the Instantiation class, with nothing else
 * running, and a large preset holds it for as long as it takes to read. */
static LV2_State_Status restore_here(Rnnmidi *self, const char *path, const char *learned)
{
    uint32_t gen = rnn_slot_request(self->slot); /* a load still in flight is older */
    char err[STATUS_CAP - 32];
    rnn_engine_model *em = learned ? rnn_engine_model_prepare(learned, err, sizeof err) : NULL;
    if (!em) learned = NULL;
    if (!em) em = rnn_engine_model_prepare(path, err, sizeof err);
    self->notify_model = 1;
    if (!em) {
        lv2_log_error(&self->logger, "rnnmidi: state: model refused: %s\n", err);
        char status[STATUS_CAP];
        put_text(status, sizeof status, "error: ", err);
        set_status(self, status);
        return LV2_STATE_ERR_UNKNOWN;
    }
    /* nothing else runs: this thread takes the audio thread's and the
     * worker's parts in turn */
    const char *name = rnn_model_meta(rnn_engine_model_get(em), "name");
    char status[STATUS_CAP];
    put_text(status, sizeof status, "loaded ", name ? name : path);
    rnn_slot_offer(self->slot, em, gen);
    rnn_slot_install(self->slot, self->engine);
    rnn_slot_retire(self->slot);
    rnnmidi_learner_base_learned(self->learner, path, learned, gen);
    set_path(self, path);
    set_status(self, status);
    return LV2_STATE_SUCCESS;
}

static LV2_State_Status restore(LV2_Handle instance, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle, uint32_t flags,
                                const LV2_Feature *const *features)
{
    (void)flags;
    Rnnmidi *self = instance;
    size_t size = 0;
    uint32_t type = 0, vflags = 0;
    const char *value = retrieve(handle, self->uris.rnnmidi_model, &size, &type, &vflags);
    if (!value) return LV2_STATE_SUCCESS;
    if (type != self->uris.atom_Path || size == 0 || value[size - 1] != 0)
        return LV2_STATE_ERR_BAD_TYPE;
    LV2_State_Map_Path *map_path = lv2_features_data(features, LV2_STATE__mapPath);
    LV2_State_Free_Path *free_path = lv2_features_data(features, LV2_STATE__freePath);
    LV2_Worker_Schedule *schedule = lv2_features_data(features, LV2_WORKER__schedule);
    char *apath = map_path ? map_path->absolute_path(map_path->handle, value) : NULL;
    const char *path = apath ? apath : value;
    /* the session's own copy, as save() marked it; the host does not save
     * while it restores */
    const void *own = retrieve(handle, self->uris.rnnmidi_sessionCopy, &size, &type, &vflags);
    int is_own =
        own && type == self->uris.atom_Bool && size == sizeof(int32_t) && *(const int32_t *)own;
    copy_text(self->restored, PATH_CAP, is_own ? path : "");
    /* what Learn learned in the session, when it learned */
    const char *lvalue = retrieve(handle, self->uris.rnnmidi_learned, &size, &type, &vflags);
    char *lapath = NULL;
    if (lvalue && (type != self->uris.atom_Path || size == 0 || lvalue[size - 1] != 0))
        lvalue = NULL;
    if (lvalue && map_path) lapath = map_path->absolute_path(map_path->handle, lvalue);
    const char *learned = lapath ? lapath : lvalue;

    LV2_State_Status st = schedule ? restore_in_worker(self, schedule, path, learned)
                                   : restore_here(self, path, learned);
    free_host_path(free_path, lapath);
    free_host_path(free_path, apath);
    return st;
}

/* ---------------------------------------------------------------- display */

/* The host's GUI thread: a snapshot of what run() recorded, drawn. */
static LV2_Inline_Display_Image_Surface *render(LV2_Handle instance, uint32_t w, uint32_t max_h)
{
    Rnnmidi *self = instance;
    return rnn_display_render(self->display, w, max_h);
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    static const LV2_Inline_Display_Interface display = {render};
    if (!strcmp(uri, LV2_WORKER__interface)) return &worker;
    if (!strcmp(uri, LV2_STATE__interface)) return &state;
    if (!strcmp(uri, LV2_INLINEDISPLAY__interface)) return &display;
    return NULL;
}

static const LV2_Descriptor descriptor = {
    RNNMIDI_URI, instantiate, connect_port, activate, run, deactivate, cleanup, extension_data,
};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    return index == 0 ? &descriptor : NULL;
}
