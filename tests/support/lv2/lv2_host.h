/* SPDX-License-Identifier: MIT */
/* A small LV2 host for the tests: urid:map/unmap, a worker (work items run
 * between run() calls, responses delivered before the next run(), as a
 * host's worker thread and its audio thread would), log, options, and
 * helpers to write MIDI, time:Position and patch:Set into the control port
 * and read MIDI and patch:Set back from the notify port. It drives a plugin
 * through its descriptor and handle, so the same code runs a plugin loaded
 * by lilv (test_lv2_host.c) and one linked into the test (test_rt_lv2.c).
 * It needs the LV2 headers only, no library. Main thread unless a function
 * says otherwise; the URID table is process-wide. */
#ifndef RNNMIDI_TESTS_LV2_HOST_H
#define RNNMIDI_TESTS_LV2_HOST_H

#include <lv2/atom/forge.h>
#include <lv2/core/lv2.h>
#include <lv2/options/options.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#include <stdint.h>

#include "../../../plugin/lv2/ports.h"

/* ------------------------------------------------------------ urid:map */

/** Map a URI to its URID (a process-wide table; 0 when it is full). */
LV2_URID host_map(LV2_URID_Map_Handle h, const char *uri);
/** Free the URI table (URIDs handed out before are no longer valid). */
void host_free_uris(void);

/** The features, for lilv's state functions. */
extern LV2_URID_Map host_map_s;
extern LV2_URID_Unmap host_unmap_s;

/* ------------------------------------------------------------------ log */

/** Count of LV2_LOG__Error messages the plugin logged. */
extern int host_log_errors;
/** Nonzero: plugin log messages are counted but not printed. */
extern int host_log_quiet;

/* ------------------------------------------------------------- instance */

#define HOST_QUEUE 32
#define HOST_MSG_MAX 8192
#define HOST_IN_CAP (1 << 20)
#define HOST_OUT_CAP (1 << 20)

typedef struct {
    uint32_t size;
    uint8_t data[HOST_MSG_MAX];
} host_msg;

typedef struct {
    int64_t frame;
    uint8_t d[3];
} host_ev;

typedef struct host_plugin {
    const LV2_Descriptor *desc;
    LV2_Handle h;
    const LV2_Worker_Interface *worker;
    float controls[RNNMIDI_N_PORTS];
    LV2_Atom_Sequence *in;
    LV2_Atom_Sequence *out;
    float *audio;
    LV2_Atom_Forge forge;
    LV2_Atom_Forge_Frame seq_frame;
    host_msg *work_q, *resp_q; /* pending work items, pending responses */
    int n_work, n_resp;
    int64_t pos; /* frames run so far */
    host_ev *ev; /* captured MIDI output, absolute frames */
    size_t n_ev, cap_ev;
    char model_path[4096]; /* the last patch:Set rnnmidi:model seen on notify */
    char status[1024];     /* the last patch:Set rnnmidi:status seen */
    int n_notify;
    uint32_t out_size; /* notify capacity given to the plugin; 0: HOST_OUT_CAP */
    int malformed;     /* notify sequences with an event reaching past their end */
    int32_t max_block;
    int hold;       /* host_run leaves work items and responses queued */
    int queue_full; /* schedule_work answers LV2_WORKER_ERR_NO_SPACE */
    LV2_Options_Option options[3];
    LV2_Worker_Schedule schedule;
    LV2_Feature f_map, f_unmap, f_sched, f_log, f_opts;
    const LV2_Feature *features[6];
} host_plugin;

/** The worker's respond function (a test may call the worker itself). */
LV2_Worker_Status host_respond(LV2_Worker_Respond_Handle handle, uint32_t size, const void *data);

/** Allocate the host side of an instance; features are ready for
 * instantiate. NULL when out of memory; release with host_free. */
host_plugin *host_new(void);
/** Connect every port; control values start at the TTL defaults. */
void host_attach(host_plugin *hp, const LV2_Descriptor *desc, LV2_Handle h);
/** Release what host_new took (not the plugin instance); accepts NULL. */
void host_free(host_plugin *hp);

/* -------------------------------------------------------------- a block */

/** Start the control sequence of the next block. */
void host_begin(host_plugin *hp);
/** Add a 3-byte MIDI event at frame. */
void host_midi(host_plugin *hp, uint32_t frame, uint8_t s, uint8_t d1, uint8_t d2);
/** Add a time:Position (4/4) at frame. */
void host_position(host_plugin *hp, uint32_t frame, float speed, float bpm, int64_t bar,
                   float bar_beat);
/** The same in any meter: beats_per_bar beats of 1/beat_unit notes. */
void host_position_meter(host_plugin *hp, uint32_t frame, float speed, float bpm, int64_t bar,
                         float bar_beat, float beats_per_bar, int beat_unit);
/** Add a patch:Set of rnnmidi:model to path at frame. */
void host_set_model(host_plugin *hp, uint32_t frame, const char *path);
/** The worker's side: run queued work items (the worker thread). */
void host_do_work(host_plugin *hp);
/** The audio thread's side: deliver responses. */
void host_deliver(host_plugin *hp);

/** Hooks around the audio-thread calls (the RT test arms its trap there). */
extern void (*host_audio_enter)(void);
extern void (*host_audio_leave)(void);

/** Run one block (the events added since host_begin), capture the output,
 * then let the worker do its work and deliver the responses. */
void host_run(host_plugin *hp, uint32_t frames);

/** lilv's port-value callbacks (lilv_state_new_from_instance,
 * lilv_state_restore): user is the host_plugin; control ports by symbol. */
const void *host_port_value(const char *symbol, void *user, uint32_t *size, uint32_t *type);
void host_set_port_value(const char *symbol, void *user, const void *value, uint32_t size,
                         uint32_t type);

#endif
