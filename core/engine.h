/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the engine every host drives (the LV2 plugin, the demo).
 *
 * The engine owns the step clock (a sample-accurate grid of
 * steps_per_quarter steps per quarter note, following the host's transport
 * or its own tempo when the host sends none), the modes (continue,
 * call-and-response, accompany), the player's notes as the network's input
 * on the grid (heard through core/listen, as the trainer's encoder hears a
 * file), sampling, and note hygiene.
 *
 * Threads. rnn_engine_create/free and rnn_engine_model_* allocate and are for
 * the main or a worker thread. Everything else is audio thread safe: no
 * allocation, no lock, no I/O, bounded time.
 *
 * Timing. A grid step k (a step position x = k) sounds at the first frame whose
 * position is at or after x. The player's notes are quantized to the nearest
 * step, as the trainer encodes notes: a note at position p belongs to step
 * floor(p + 0.5); step k's input is therefore known at position k + 0.5, and the
 * network computes that step in slices across the blocks up to position k + 1,
 * where its logits give step k + 1.
 *
 * Phrases (continue, call-and-response). A phrase is what the player plays up
 * to a rest of `listen gap` beats with no key down. Continue answers it as
 * soon as the gap has passed; call-and-response from the first bar line after
 * the gap, for as long as the phrase (in whole beats, at most response_bars
 * bars). Each phrase gets one answer: the rest after an answer, however long,
 * brings no other. The network hears the player's steps and the rest after
 * them as the trainer encodes them; once the rest reaches the length that
 * splits training sequences (RNN_SPLIT_GAP_STEPS) it hears no more of it, and
 * a phrase still waiting for its answer keeps the network primed with it
 * until the answer, however far the bar line. A note after such a rest starts
 * a new phrase on a fresh network. A note the player strikes while an answer
 * plays ends the answer at once (its held melody note gets its note-off there;
 * drum hits end at their gate) and begins a new phrase, which gets its own
 * answer.
 *
 * Compute budget. Every grid step is computed up to a tempo of
 * RNN_ENGINE_MAX_QPM quarter notes a minute (the host's tempo times its
 * transport speed, in quarter notes); a faster host still drives the clock
 * (at most one grid step a frame), but only every n-th step is computed, n
 * the smallest that brings the rate back to at most the maximum. The steps
 * between are skipped (rnn_engine_stats.steps_skipped): no new event, no
 * network step, and the notes that sound still end on time. A model is
 * prepared only when it runs in real time at that rate: its multiply-adds
 * per step (rnn_net_step_macs) times RNN_ENGINE_MAX_QPM / 60 *
 * steps_per_quarter steps a second must be at most RNN_ENGINE_BUDGET of
 * RNN_ENGINE_CORE_MACS, a conservative figure for one baseline x86-64
 * (SSE2) or aarch64 core running core/net's kernels on weights streamed
 * from memory (the baseline build sustains 3.4e9 on an LSTM 2x1024 and 7e9
 * to 12e9 on weights in cache, on a shared AMD EPYC core). So run() does, per block, work bounded
 * by the block's length: a few grid events a frame, at most frames * rate / sample rate + 2 network
 * steps, each spread over the blocks before it is due. The draw of the
 * note a tick plays is prepared as the last part of the step that gives its
 * logits (rnn_sample_prepare), and a fresh net's first draw when the model
 * is prepared (for the default settings) or while the transport is stopped
 * (for the settings then), so that the block holding a tick, the first
 * after a start included, only draws; a setting changed in between is
 * honoured by preparing the draw again at the tick.
 *
 * Numbers. A model is prepared only when its products cannot leave the
 * range of float and a few steps from the zero state stay finite
 * (rnn_net_probe). Should a step's logits still be non-finite at run time,
 * the engine ends the notes it sounds, plays nothing for that step, starts
 * the network afresh and counts it (rnn_engine_stats.nonfinite_steps).
 *
 * Conditions (core/condition.h, FORMAT.md "Conditioning inputs"). Every
 * step the engine commits has a metric position and a harmony, computed as
 * the trainer computes them from a file. The position is the host's
 * (time:barBeat, time:beatsPerBar, time:beatUnit at the step's grid point,
 * through rnn_cond_metric_host): a meter change keeps the clock running and
 * starts the new meter's bars where the host says, a jump or a loop takes
 * the host's new position; free-running, it is 4/4 from bar 0 at the start.
 * The harmony is the pitch classes of the keys the player holds (MIDI and
 * detected notes, outside channel 10) or strikes during the step: in
 * accompany all of them; in continue and call-and-response those outside
 * the player's line, whose own key at the step is not harmony (the file
 * rule: the line's pitch is not harmony, other notes of its pitch class
 * are). Drum models hear no harmony. The held keys follow note-ons and
 * note-offs through stops, jumps, mode and model changes; controllers 120
 * and 123 (all sound off, all notes off) lift them all.
 * A model takes the conditions its header declares (a version 2 preset,
 * rnn_engine_model_conditions), and each step of its net gets their
 * columns (rnn_net_step_begin_cond): those of the step's grid point and
 * harmony. A fresh net draws its first note from 'no event' stepped from
 * the zero state with the columns of the step before (rnnmidi-gen's start
 * of a grid) and the harmony held at the tick. For a conditioned model
 * that step is made at prepare for the start at bar 0 of 4/4 with no key
 * held, and a tick whose columns are those plays its first note at once;
 * at any other start (another position or meter, keys held) the first
 * note comes one step later, drawn from 'no event' stepped with the
 * conditions of the step before it, a step spread over the blocks like
 * any other rather than done whole in the tick's block. In accompany, the player's line
 * is the net's input only for a model that takes no harmony (it hears the
 * player no other way); a model that takes harmony plays its own line over
 * the player's harmony.
 * Lookback (core/lookback.h, FORMAT.md "Lookback inputs"). A model that
 * declares the lookback inputs gets their columns after its conditions'
 * at every step: the engine keeps a ring of the events its net has stepped
 * on since the net last started from zero (the ring is emptied wherever the
 * net is: start, stop, relocation, mode or model change, a split rest, non-
 * finite logits), and reaches back over bars of the meter at the step (the
 * host's, or 4/4 free-running), whether or not the model takes the metric.
 * The 'no event' step a first note is drawn from takes no lookback columns
 * and is not heard by the ring; a step begun at a tick and abandoned at its
 * commit is taken back out of it. The engine saves no net state, so there
 * is no saved ring to keep in step with. */
#ifndef RNNMIDI_ENGINE_H
#define RNNMIDI_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "condition.h"
#include "model.h"
#include "net.h"
#include "record.h"

/* The compute budget (see above). */
#define RNN_ENGINE_MAX_QPM 600.0 /* quarter notes a minute computed in full: 300 BPM at 2x */
#define RNN_ENGINE_CORE_MACS 1e9 /* multiply-adds a second of a baseline core */
#define RNN_ENGINE_BUDGET 0.5    /* share of real time a model may take at the maximum */

typedef struct rnn_engine rnn_engine;

/* A model with everything the engine needs to run it (net, sampler, masks,
 * scratch), allocated off the audio thread and handed over whole. */
typedef struct rnn_engine_model rnn_engine_model;

typedef enum {
    RNN_MODE_CONTINUE = 0,      /* after a pause of `listen gap` beats, continue the phrase */
    RNN_MODE_CALL_RESPONSE = 1, /* answer each phrase from the next bar line, as long as it */
    RNN_MODE_ACCOMPANY = 2,     /* play all the time while rolling, hearing the player */
    RNN_MODE_COUNT
} rnn_engine_mode;

typedef enum {
    RNN_SCALE_OFF = 0,
    RNN_SCALE_MAJOR,
    RNN_SCALE_MINOR,
    RNN_SCALE_HARMONIC_MINOR,
    RNN_SCALE_DORIAN,
    RNN_SCALE_PHRYGIAN,
    RNN_SCALE_LYDIAN,
    RNN_SCALE_MIXOLYDIAN,
    RNN_SCALE_MAJOR_PENTATONIC,
    RNN_SCALE_MINOR_PENTATONIC,
    RNN_SCALE_BLUES,
    RNN_SCALE_COUNT
} rnn_scale;

/* Settings. Values are floats (as LV2 control ports are); each is clamped to
 * its range and integer settings are rounded. */
typedef enum {
    RNN_PARAM_MODE = 0,      /* rnn_engine_mode */
    RNN_PARAM_TEMPERATURE,   /* 0..2; 0 = always the likeliest class */
    RNN_PARAM_TOP_P,         /* 0.05..1 */
    RNN_PARAM_KEY,           /* root 0..11 (C..B) */
    RNN_PARAM_SCALE,         /* rnn_scale */
    RNN_PARAM_LOWEST,        /* lowest generated pitch 0..127 */
    RNN_PARAM_HIGHEST,       /* highest generated pitch 0..127 */
    RNN_PARAM_RESPONSE_BARS, /* 1..16 bars generated per response */
    RNN_PARAM_LISTEN_GAP,    /* 0.25..8 beats of silence that end a phrase */
    RNN_PARAM_DENSITY,       /* 0..1; 0.5 = as the model learned */
    RNN_PARAM_CHANNEL,       /* 1..16, melody output (drums always play on 10) */
    RNN_PARAM_VELOCITY,      /* 1..127 */
    RNN_PARAM_GATE,          /* 0.05..1 of a step: length of drum hits */
    RNN_PARAM_SEED,          /* 0..16777215; 0 = a new random seed on every start */
    RNN_PARAM_THRU,          /* 0/1: pass the input MIDI to the output */
    RNN_PARAM_TEMPO,         /* 20..300 BPM when the host sends no transport */
    RNN_PARAM_REPEAT_LIMIT,  /* 0..32 times in a row the net may strike one melody
                                pitch; 0 = no limit */
    RNN_PARAM_COUNT
} rnn_engine_param;

#define RNN_EVENT_NO_THRU 1u   /* heard, not passed through (detected audio notes) */
#define RNN_EVENT_NO_LISTEN 2u /* passed through, not heard (an input switched off) */

/* One MIDI message at a frame offset inside the block. */
typedef struct {
    uint32_t frame;
    uint8_t size; /* 1..3 */
    uint8_t data[3];
    uint8_t flags; /* RNN_EVENT_*; 0 on output */
} rnn_engine_event;

#define RNN_TRANSPORT_SPEED (1u << 0) /* speed is valid */
#define RNN_TRANSPORT_BBT (1u << 1)   /* bar, bar_beat are valid */
#define RNN_TRANSPORT_TEMPO (1u << 2) /* bpm is valid */
#define RNN_TRANSPORT_METER (1u << 3) /* beats_per_bar, beat_unit are valid */

/* The host's transport from `frame` (an offset in the block) on, as LV2's
 * time:Position says it: bar counted from 0, bar_beat in beats of beat_unit. */
typedef struct {
    uint32_t frame;
    uint32_t flags; /* RNN_TRANSPORT_* */
    double speed;   /* 0 stopped, 1 rolling */
    double bpm;     /* beats (of beat_unit) per minute */
    double beats_per_bar;
    double beat_unit; /* 4 = quarter notes */
    int64_t bar;
    double bar_beat;
} rnn_transport;

#define RNN_ENGINE_MIN_OUT 64 /* rnn_engine_run's out buffer must hold this many */

/** Load, validate and prepare the preset at path. NULL with a message naming
 * the file and the problem, among them a model too slow for the compute
 * budget and one whose numbers leave the range of float. Worker/main
 * thread; allocates and reads. */
rnn_engine_model *rnn_engine_model_prepare(const char *path, char *err, size_t errlen);

/** Prepare a model already loaded; takes ownership of model (also on failure).
 * NULL with a message. Worker/main thread. */
rnn_engine_model *rnn_engine_model_wrap(rnn_model *model, char *err, size_t errlen);

/** The share of RNN_ENGINE_CORE_MACS a model of this configuration takes
 * at RNN_ENGINE_MAX_QPM (it is prepared when at most RNN_ENGINE_BUDGET), or
 * -1 for a configuration the engine cannot run. Any thread. */
double rnn_engine_budget_share(const rnn_model_config *cfg);

/** The net the engine runs a prepared model on, for tools and tests that
 * read or set its state (rnn_net_state_get/set) between runs, on the
 * thread that runs the engine. */
rnn_net *rnn_engine_model_net(rnn_engine_model *em);

/* The conditions a model takes, bits of rnn_engine_model_conditions: those
 * of the preset's header (core/model.h), the metric position
 * (rnn_cond_metric_columns(spq) columns) and the harmony
 * (RNN_COND_HARMONY_COLUMNS, melody only). */
#define RNN_ENGINE_COND_METRIC RNN_COND_METRIC
#define RNN_ENGINE_COND_HARMONY RNN_COND_HARMONY

/* Room for every condition column of any grid (spq at most 96). */
#define RNN_ENGINE_COND_MAX (2 + 4 * 96 + RNN_COND_MAX_BEATS + RNN_COND_HARMONY_COLUMNS)

/** The conditions the model's net takes (RNN_ENGINE_COND_* bits; 0 for a
 * version 1 preset), as its header declares them (rnn_model_config's
 * conditions); its columns are metric first, then harmony. Any thread. */
unsigned rnn_engine_model_conditions(const rnn_engine_model *em);

/** Release a prepared model; accepts NULL. Never on the audio thread. */
void rnn_engine_model_free(rnn_engine_model *em);

/** The path it was prepared from ("" for a wrapped model). */
const char *rnn_engine_model_path(const rnn_engine_model *em);

/** The loaded model. */
const rnn_model *rnn_engine_model_get(const rnn_engine_model *em);

/** Create an engine for a sample rate; without a model it only passes MIDI
 * through. NULL with a message. Main thread. */
rnn_engine *rnn_engine_create(double sample_rate, uint32_t max_block, char *err, size_t errlen);

/** Release an engine (not its model: take it back with rnn_engine_set_model(e,
 * NULL) first, or it is freed here too). Accepts NULL. Main thread. */
void rnn_engine_free(rnn_engine *e);

/** Swap in a prepared model (or NULL for none) and return the previous one,
 * which the caller frees off the audio thread. Sounding notes end at the next
 * run. Audio thread safe. */
rnn_engine_model *rnn_engine_set_model(rnn_engine *e, rnn_engine_model *em);

/** The current model, or NULL. */
const rnn_engine_model *rnn_engine_get_model(const rnn_engine *e);

/** Record the player's line into rec (NULL: stop) and return the ring used
 * before. The engine is rec's one writer: at each commit whose input is the
 * player's (not while it plays its own line, nor the 'no event' step of a
 * first note) it pushes the step's event and the columns its net got, the
 * same values rnn_net_step_begin_cond took, and it breaks the line
 * wherever the net hears anything else or starts afresh (start, stop,
 * relocation, mode or model change, a split rest, a step not computed).
 * In accompany the engine plays all the time, so nothing is recorded there
 * (its net hears its own line, or the player's mixed with it). A ring whose column count is not the
 * model's net's (rnn_net_cond_columns) is only broken, never written, so a
 * model change cannot mix grids. The caller owns rec and frees it only
 * after it is no longer set. Audio thread safe (no allocation: the ring is
 * the caller's). */
rnn_rec *rnn_engine_set_record(rnn_engine *e, rnn_rec *rec);

/** Change a setting; a change of mode ends the sounding notes. Audio thread safe. */
void rnn_engine_set_param(rnn_engine *e, rnn_engine_param id, float value);

/** Current value of a setting. */
float rnn_engine_get_param(const rnn_engine *e, rnn_engine_param id);

/* How a setting's value reads. */
typedef enum {
    RNN_PARAM_REAL = 0, /* any value in the range */
    RNN_PARAM_INTEGER,  /* whole numbers */
    RNN_PARAM_CHOICE,   /* whole numbers from min, each with a label */
    RNN_PARAM_SWITCH    /* 0 off, 1 on */
} rnn_param_kind;

/* A setting as hosts show it. The engine's table of these is the one source
 * of every setting's range, default and names: the LV2 plugin's control
 * ports and its TTL are made from it. */
typedef struct {
    const char *symbol; /* "top_p": for files and command lines (the LV2 port symbol) */
    const char *label;  /* "Top-p": for people */
    float def, min, max;
    rnn_param_kind kind;
    const char *unit;           /* "" or the unit, as LV2's units vocabulary names it: "bpm",
                                   "beat", "bar", "midiNote", "coef" */
    const char *const *choices; /* RNN_PARAM_CHOICE: the labels of min..max; else NULL */
} rnn_param_desc;

/** The description of a setting (static), or NULL for an unknown id. Any thread. */
const rnn_param_desc *rnn_engine_param_desc(rnn_engine_param id);

/** Default, minimum and maximum of a setting, and its symbol; 0 or -1 for an unknown id. */
int rnn_engine_param_info(rnn_engine_param id, float *def, float *min, float *max,
                          const char **name);

/** Restart as after create (LV2 activate): the clock free-runs until the host
 * sends a transport, and notes still sounding end at the next run. Audio thread
 * safe. */
void rnn_engine_reset(rnn_engine *e);

/** End every sounding note at the next run (LV2 deactivate, a host's panic). */
void rnn_engine_all_notes_off(rnn_engine *e);

/** Run one block of `frames` frames. in: n_in MIDI events sorted by frame
 * (the player: MIDI and detected audio notes alike); transport: n_transport
 * changes sorted by frame (NULL/0 when none this block). Writes at most
 * max_out (>= RNN_ENGINE_MIN_OUT) events sorted by frame to out and returns
 * their number. Note-offs are never dropped; when out is nearly full, new
 * note-ons and thru events are. Audio thread safe. */
uint32_t rnn_engine_run(rnn_engine *e, uint32_t frames, const rnn_engine_event *in, uint32_t n_in,
                        const rnn_transport *transport, uint32_t n_transport, rnn_engine_event *out,
                        uint32_t max_out);

/** Counters for hosts and tests. */
typedef struct {
    uint64_t steps;           /* grid ticks seen while rolling */
    uint64_t net_steps;       /* network steps started */
    uint64_t late_steps;      /* steps finished synchronously at a tick */
    uint64_t dropped;         /* events dropped for lack of room in out */
    uint64_t relocations;     /* transport jumps seen */
    uint64_t steps_skipped;   /* grid steps not computed: the host ran past RNN_ENGINE_MAX_QPM */
    uint64_t nonfinite_steps; /* steps whose logits were not finite: nothing played */
    int generating;           /* the engine is generating now */
    int rolling;              /* the clock is rolling */
    int host_transport;       /* following the host (0: free-running) */
} rnn_engine_stats;

/** Copy the counters. Audio thread safe. */
void rnn_engine_get_stats(const rnn_engine *e, rnn_engine_stats *st);

/* The conditions of one committed step. */
typedef struct {
    int64_t step;       /* the engine's grid step */
    rnn_metric_pos pos; /* its metric position */
    uint16_t harmony;   /* the pitch classes heard as harmony (bit 0 = C; 0 for drums) */
} rnn_engine_cond;

/** The conditions of the last step committed (its input known), whether
 * or not the model takes them: fills *c and, when cols is not NULL, cols
 * (room for RNN_ENGINE_COND_MAX) with its rnn_cond_metric_columns(spq)
 * metric columns then its 12 harmony columns, as a conditioned net gets
 * them. Returns the number of columns, or 0 before the first step or
 * without a model. For hosts' displays and tests; audio thread safe. */
int rnn_engine_last_cond(const rnn_engine *e, rnn_engine_cond *c, float *cols);

#endif
