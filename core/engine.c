/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the engine (contract in engine.h).
 *
 * One block is walked as a timeline: at each frame where something happens
 * (a transport change, a due note-off, a step's input commit at k + 0.5, a
 * grid tick at k, a player event) it is handled in that order, then the next
 * such frame is found. Positions are counted in grid steps from an anchor
 * (the last transport change): pos(f) = anchor_step + (f - anchor_frame) * spf,
 * so 10 minutes of rolling accumulate no rounding. */
#include "engine.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "condition.h"
#include "listen.h"
#include "lookback.h"
#include "record.h"
#include "net.h"
#include "sample.h"

#define MAX_SOUNDING 32
#define NO_FRAME INT64_MAX
#define NO_STEP INT64_MIN /* steps run negative in a count-in */
#define POS_EPS 1e-6      /* steps: host positions are floats, ticks must not double */
#define MAX_SPF 1.0       /* steps per frame: at most one tick a frame, whatever the host says */
#define MAX_FRAMES 1e15   /* frames further than this (centuries) never come */
#define MAX_STEP 1e12     /* host positions beyond this many steps are not believed */
#define MAX_DUE 4         /* grid events handled at one frame (one tick, one commit, spare) */

/* A fresh conditioned net whose first logits (first_key's) do not fit the
 * tick waits: its first note comes one step later, drawn from 'no event'
 * stepped from the zero state as the next commit's step (FIRST_BEGUN), so
 * that step is spread over the blocks like any other (first_logits). */
enum { FIRST_NONE = 0, FIRST_WAIT, FIRST_BEGUN };

/* Room for every column beside the event: the conditions of any grid as
 * the engine fills them, then the lookback's after the model's own. */
#define INPUT_COLS_MAX (RNN_ENGINE_COND_MAX + RNN_MAX_LOOKBACK_COLUMNS)

/* The conditions of a step, from which its columns are filled. */
typedef struct {
    rnn_metric_pos pos;
    uint16_t harmony;
} step_cond;

/* What a draw depends on beside its logits: the temperature, top-p,
 * density, key, scale, lowest and highest note settings, whether the net
 * is fresh, and the pitch the repeat limit bans (-1 none). A draw
 * prepared ahead (rnn_sample_prepare) stands while these are the same. */
#define DRAW_KEY 9
typedef struct {
    float v[DRAW_KEY];
} draw_key;

/* A draw's preparation (V exponentials, the nucleus's heap, the bias and
 * the mask) counted in the multiply-adds of the net's step it costs as
 * much time as, per class: about 13 ns a class against 0.14 ns a
 * multiply-add of a 2 x 256 LSTM's sliced step, on the machine
 * tests/bench/bench_engine.c was run on. Only the share of a step's work
 * it is given in spread_work depends on it. */
#define PREP_MACS_PER_CLASS 100.0

struct rnn_engine_model {
    rnn_model *model;
    rnn_net *net;
    rnn_sampler *sampler;       /* draws from the net's logits */
    rnn_sampler *first_sampler; /* draws from first, prepared ahead (first_drawn) */
    draw_key first_drawn;       /* the settings first_sampler was prepared under */
    int first_ready;            /* first_sampler holds first's draw under first_drawn */
    rnn_kind kind;
    int V;
    int spq;
    int chunks;          /* rnn_net_step_work(net, 1) calls that make one step */
    int prep_units;      /* units of a step's work its draw's preparation counts as */
    unsigned cond;       /* RNN_ENGINE_COND_* the net takes */
    int metric_cols;     /* rnn_cond_metric_columns(spq) */
    int cond_cols;       /* the model's condition columns (rnn_model_cond_columns) */
    int lookback;        /* the net takes the lookback columns after them */
    float *scratch;      /* (V) logits with the density bias */
    float *first;        /* (V) logits after 'no event' from the zero state, with the
                            columns of first_key for a conditioned model */
    float *first_state;  /* the net's state after that step, which the first note
                            drawn from first steps on (rnn_net_state_size floats) */
    step_cond first_key; /* the step before a start at bar 0 of 4/4, nothing held */
    uint8_t *forbidden;  /* (V) key, scale and range mask */
    char *path;
};

typedef struct {
    uint8_t channel, pitch;
    int64_t off_frame; /* absolute; NO_FRAME = held until the melody moves on */
} sounding_note;

struct rnn_engine {
    double sr;
    uint32_t max_block;
    float params[RNN_PARAM_COUNT];
    rnn_engine_model *em;
    rnn_rng rng;
    uint64_t entropy; /* advances for seed 0 */

    /* clock */
    int host_seen, rolling;
    double bpm, beats_per_bar, beat_unit, speed;
    int64_t abs_frame; /* frame at the start of the current block */
    int64_t anchor_frame;
    double anchor_step;
    double spf;                     /* steps per frame, 0 when stopped */
    double bar_offset;              /* grid step where bar 0 of the current meter would begin */
    int64_t stride;                 /* grid steps per computed step (1 up to the budget) */
    int64_t last_skipped;           /* the last step counted in steps_skipped */
    int64_t next_tick, next_commit; /* tick k at pos k, commit of step k at k + 0.5 */
    int64_t last_tick, last_commit;

    /* output */
    sounding_note sounding[MAX_SOUNDING];
    int n_sounding;
    int flush_pending;
    uint32_t block_frames;
    rnn_engine_event *out;
    uint32_t n_out, max_out;

    /* the player: the open step is the window up to the next commit */
    rnn_listen listen;
    rnn_held held;   /* keys down outside channel 10 */
    rnn_held struck; /* keys struck in the open step */

    /* conditions: those of the step begun at a tick (spec_cond) and of the
     * last step committed (cond_step, last_cond); cond holds the columns of
     * the step the net computes, metric then harmony */
    step_cond spec_cond, last_cond;
    int64_t cond_step; /* NO_STEP before the first */
    float cond[INPUT_COLS_MAX];

    /* lookback: the events the net has stepped on since it was reset; the
     * push of a step begun at a tick is undone when its commit abandons it */
    rnn_lookback_ring look;
    int look_pushed;                  /* the last push may be undone, to: */
    uint32_t look_undo_pos, look_undo_count;
    int32_t look_undo_ev;             /* the slot the push overwrote */

    /* phrases */
    int generating;
    int64_t gen_end;
    int have_phrase;
    int64_t phrase_start, last_player_step;
    int silent_steps;
    int net_fresh;    /* no step since the net was reset */
    int first_wait;   /* FIRST_*: a conditioned net's first note computed as a step */
    int gen_event;    /* event output at gen_step */
    int rep_pitch;    /* pitch of the generated melody's last note-on */
    int rep_run;      /* how many note-ons in a row struck it */
    int64_t gen_step; /* NO_STEP when the last tick generated nothing */
    int mask_dirty;

    /* the step in progress */
    int pending;
    double work_from; /* position where it began */
    double work_span; /* steps from work_from to its deadline */
    int spec;         /* begun at a tick with the generated event, before its commit */
    int spec_event;
    int chunks_done;
    int begun_here; /* begun in the block being run: its work starts with the next */
    int prep_due;   /* the draw from the step in progress is still to prepare */
    int next_ready; /* the model's sampler holds the draw from the net's logits */
    draw_key next_drawn; /* the settings it was prepared under */

    /* the player's line as the net hears it, for Learn: the host's ring,
     * written only while its columns are the model's (rnn_engine_set_record) */
    rnn_rec *rec;

    rnn_engine_stats stats;
};

/* ---------------------------------------------------------------- settings */

static const char *const mode_labels[] = {"Continue", "Call and response", "Accompany"};
static const char *const key_labels[] = {"C",  "C#", "D",  "D#", "E",  "F",
                                         "F#", "G",  "G#", "A",  "A#", "B"};
static const char *const scale_labels[] = {
    "Off",      "Major",  "Minor",      "Harmonic minor",   "Dorian",
    "Phrygian", "Lydian", "Mixolydian", "Major pentatonic", "Minor pentatonic",
    "Blues"};
_Static_assert(sizeof mode_labels / sizeof *mode_labels == RNN_MODE_COUNT, "a label per mode");
_Static_assert(sizeof scale_labels / sizeof *scale_labels == RNN_SCALE_COUNT, "a label per scale");

/* The one table of the settings: the LV2 plugin's control ports (their TTL
 * included, plugin/lv2/ttlgen.c) and the demo's options read it. */
static const rnn_param_desc params_table[RNN_PARAM_COUNT] = {
    [RNN_PARAM_MODE] = {"mode", "Mode", RNN_MODE_ACCOMPANY, 0, RNN_MODE_COUNT - 1, RNN_PARAM_CHOICE,
                        "", mode_labels},
    [RNN_PARAM_TEMPERATURE] = {"temperature", "Temperature", 1.0f, 0.0f, 2.0f, RNN_PARAM_REAL,
                               "coef", NULL},
    [RNN_PARAM_TOP_P] = {"top_p", "Top-p", 0.95f, 0.05f, 1.0f, RNN_PARAM_REAL, "", NULL},
    [RNN_PARAM_KEY] = {"key", "Key", 0, 0, 11, RNN_PARAM_CHOICE, "", key_labels},
    [RNN_PARAM_SCALE] = {"scale", "Scale", RNN_SCALE_OFF, 0, RNN_SCALE_COUNT - 1, RNN_PARAM_CHOICE,
                         "", scale_labels},
    [RNN_PARAM_LOWEST] = {"lowest", "Lowest note", 36, 0, 127, RNN_PARAM_INTEGER, "midiNote", NULL},
    [RNN_PARAM_HIGHEST] = {"highest", "Highest note", 96, 0, 127, RNN_PARAM_INTEGER, "midiNote",
                           NULL},
    [RNN_PARAM_RESPONSE_BARS] = {"response_bars", "Response length", 2, 1, 16, RNN_PARAM_INTEGER,
                                 "bar", NULL},
    [RNN_PARAM_LISTEN_GAP] = {"listen_gap", "Listen gap", 2.0f, 0.25f, 8.0f, RNN_PARAM_REAL, "beat",
                              NULL},
    [RNN_PARAM_DENSITY] = {"density", "Density", 0.5f, 0.0f, 1.0f, RNN_PARAM_REAL, "", NULL},
    [RNN_PARAM_CHANNEL] = {"channel", "Output channel", 1, 1, 16, RNN_PARAM_INTEGER, "", NULL},
    [RNN_PARAM_VELOCITY] = {"velocity", "Velocity", 100, 1, 127, RNN_PARAM_INTEGER, "", NULL},
    [RNN_PARAM_GATE] = {"gate", "Drum gate", 0.5f, 0.05f, 1.0f, RNN_PARAM_REAL, "", NULL},
    [RNN_PARAM_SEED] = {"seed", "Seed", 0, 0, 16777215, RNN_PARAM_INTEGER, "", NULL},
    [RNN_PARAM_THRU] = {"thru", "MIDI thru", 1, 0, 1, RNN_PARAM_SWITCH, "", NULL},
    [RNN_PARAM_TEMPO] = {"tempo", "Free-run tempo", 120, 20, 300, RNN_PARAM_REAL, "bpm", NULL},
    [RNN_PARAM_REPEAT_LIMIT] = {"repeat_limit", "Repeat limit", 8, 0, 32, RNN_PARAM_INTEGER, "",
                                NULL},
};

const rnn_param_desc *rnn_engine_param_desc(rnn_engine_param id)
{
    return (int)id >= 0 && id < RNN_PARAM_COUNT ? &params_table[id] : NULL;
}

int rnn_engine_param_info(rnn_engine_param id, float *def, float *min, float *max,
                          const char **name)
{
    if ((int)id < 0 || id >= RNN_PARAM_COUNT) return -1;
    if (def) *def = params_table[id].def;
    if (min) *min = params_table[id].min;
    if (max) *max = params_table[id].max;
    if (name) *name = params_table[id].symbol;
    return 0;
}

static float clamp_param(rnn_engine_param id, float v)
{
    const rnn_param_desc *p = &params_table[id];
    if (!isfinite(v)) v = p->def;
    if (v < p->min) v = p->min;
    if (v > p->max) v = p->max;
    if (p->kind != RNN_PARAM_REAL) v = floorf(v + 0.5f);
    return v;
}

static int iparam(const rnn_engine *e, rnn_engine_param id)
{
    return (int)e->params[id];
}

/* Semitone sets from the root, bit i = degree i. */
static const uint16_t scale_bits[RNN_SCALE_COUNT] = {
    [RNN_SCALE_OFF] = 0xfff,
    [RNN_SCALE_MAJOR] = 0xab5,            /* 0 2 4 5 7 9 11 */
    [RNN_SCALE_MINOR] = 0x5ad,            /* 0 2 3 5 7 8 10 */
    [RNN_SCALE_HARMONIC_MINOR] = 0x9ad,   /* 0 2 3 5 7 8 11 */
    [RNN_SCALE_DORIAN] = 0x6ad,           /* 0 2 3 5 7 9 10 */
    [RNN_SCALE_PHRYGIAN] = 0x5ab,         /* 0 1 3 5 7 8 10 */
    [RNN_SCALE_LYDIAN] = 0xad5,           /* 0 2 4 6 7 9 11 */
    [RNN_SCALE_MIXOLYDIAN] = 0x6b5,       /* 0 2 4 5 7 9 10 */
    [RNN_SCALE_MAJOR_PENTATONIC] = 0x295, /* 0 2 4 7 9 */
    [RNN_SCALE_MINOR_PENTATONIC] = 0x4a9, /* 0 3 5 7 10 */
    [RNN_SCALE_BLUES] = 0x4e9,            /* 0 3 5 6 7 10 */
};

static int pitch_allowed(const rnn_engine *e, int p)
{
    int lo = iparam(e, RNN_PARAM_LOWEST), hi = iparam(e, RNN_PARAM_HIGHEST);
    if (lo > hi) {
        int t = lo;
        lo = hi;
        hi = t;
    }
    if (p < lo || p > hi) return 0;
    int deg = ((p - iparam(e, RNN_PARAM_KEY)) % 12 + 12) % 12;
    return (scale_bits[iparam(e, RNN_PARAM_SCALE)] >> deg) & 1;
}

static void update_mask(rnn_engine *e)
{
    rnn_engine_model *m = e->em;
    e->mask_dirty = 0;
    if (!m) return;
    memset(m->forbidden, 0, (size_t)m->V);
    if (m->kind != RNN_KIND_MELODY) return;
    int any = 0;
    for (int p = 0; p < 128; p++) {
        int ok = pitch_allowed(e, p);
        m->forbidden[RNN_MELODY_NOTE_ON(p)] = (uint8_t)!ok;
        any |= ok;
    }
    /* An empty range would silence everything: fall back to the range alone. */
    if (!any) memset(m->forbidden, 0, (size_t)m->V);
}

/* ------------------------------------------------------------------ models */

static double budget_share(const rnn_model_config *cfg)
{
    double macs = (double)rnn_net_step_macs(cfg);
    if (macs <= 0 || cfg->steps_per_quarter < 1 ||
        cfg->steps_per_quarter > RNN_MAX_STEPS_PER_QUARTER)
        return -1;
    double rate = RNN_ENGINE_MAX_QPM / 60.0 * cfg->steps_per_quarter;
    return macs * rate / RNN_ENGINE_CORE_MACS;
}

double rnn_engine_budget_share(const rnn_model_config *cfg)
{
    return budget_share(cfg);
}

/* Refuse a model that cannot run in real time at the fastest tempo computed
 * in full; 0 or -1 with a message saying why. */
static int check_budget(const rnn_model_config *cfg, const char *name, char *err, size_t errlen)
{
    double share = budget_share(cfg);
    if (share >= 0 && share <= RNN_ENGINE_BUDGET) return 0;
    if (share < 0) {
        snprintf(err, errlen, "%s: the engine cannot run this configuration", name);
        return -1;
    }
    const int spq = cfg->steps_per_quarter;
    double macs = (double)rnn_net_step_macs(cfg), rate = RNN_ENGINE_MAX_QPM / 60.0 * spq;
    int fits = (int)(RNN_ENGINE_BUDGET * RNN_ENGINE_CORE_MACS / (macs * RNN_ENGINE_MAX_QPM / 60.0));
    char hint[128];
    if (fits >= 1)
        snprintf(hint, sizeof hint, "at most %d steps per quarter for this size", fits);
    else
        snprintf(hint, sizeof hint, "this size is too large at any grid");
    snprintf(err, errlen,
             "%s: too slow for real time: a step of this model (%s, %d layers of %d) is %.3g "
             "million multiply-adds, "
             "and at %g quarter notes a minute and %d steps per quarter (%g steps a second) "
             "that is %.3g billion a second, %.0f%% of a baseline core of %g billion when the "
             "audio thread may take %.0f%%; train a smaller model or a coarser grid (%s)",
             name, rnn_cell_name(cfg->cell), cfg->layers, cfg->hidden, macs / 1e6,
             RNN_ENGINE_MAX_QPM, spq, rate, macs * rate / 1e9, 100 * share,
             RNN_ENGINE_CORE_MACS / 1e9, 100 * RNN_ENGINE_BUDGET, hint);
    return -1;
}

/* The conditions a model takes, as its header declares them (the reader
 * has checked them against its grid and its first layer's shape), and
 * whether it takes the lookback columns after them. The engine fills its
 * buffer metric first, then harmony (FORMAT.md), then the lookback after the
 * model's own conditions; the net must read its columns at the same places,
 * or the model is refused. */
static int read_conditions(rnn_engine_model *m, const rnn_model_config *cfg, const char *name,
                           char *err, size_t errlen)
{
    m->metric_cols = rnn_cond_metric_columns(m->spq);
    m->cond = cfg->conditions;
    const int metric = m->cond & RNN_COND_METRIC ? m->metric_cols : 0;
    const int harmony = m->cond & RNN_COND_HARMONY ? RNN_COND_HARMONY_COLUMNS : 0;
    const int harmony_at = rnn_model_cond_offset(cfg, RNN_COND_HARMONY);
    m->cond_cols = metric + harmony;
    m->lookback = cfg->lookback != 0;
    const int look = rnn_model_lookback_columns(cfg);
    if ((m->cond & ~RNN_COND_KNOWN) || (harmony && m->kind != RNN_KIND_MELODY) ||
        rnn_model_cond_columns(cfg) != metric + harmony ||
        rnn_net_cond_columns(m->net) != metric + harmony + look ||
        (harmony && harmony_at != metric) ||
        (m->lookback && look != rnn_lookback_columns(m->kind))) {
        snprintf(err, errlen,
                 "%s: the conditions the model declares are no set the engine computes "
                 "(%d metric columns at this grid%s)",
                 name, m->metric_cols, m->kind == RNN_KIND_MELODY ? ", 12 harmony columns" : "");
        return -1;
    }
    return 0;
}

/* The metric position of a grid point `steps` grid steps after the start
 * of bar 0 in a meter of bpb beats of `unit` (4 = quarter notes). */
static void metric_in(double steps, double bpb, double unit, int spq, rnn_metric_pos *pos)
{
    double nb = floor(bpb + 0.5);
    if (nb < 1) nb = 1;
    const double beats = steps / (spq * 4.0 / unit);
    if (unit == floor(unit) &&
        rnn_cond_metric_host(beats - floor(beats / nb) * nb, (int)unit, nb, spq, pos) == 0)
        return;
    /* a beat unit no time signature can have: quarter notes in 4/4 */
    const double q = steps / spq;
    rnn_cond_metric_host(q - floor(q / 4) * 4, 4, 4, spq, pos);
}

/* The first logits of a conditioned model for the start most hosts and
 * the free-running clock make: the transport starting at bar 0 of 4/4
 * with no key held, whose first note draws on the columns of the step
 * before it (first_logits): that step's own, or bar 0's for a model that
 * hears the conditions of the step it predicts. */
static void first_for_start(rnn_engine_model *m)
{
    float cols[INPUT_COLS_MAX] = {0}; /* no lookback: the step is before the sequence */
    metric_in(m->cond & RNN_COND_NEXT ? 0.0 : -1.0, 4, 4, m->spq, &m->first_key.pos);
    m->first_key.harmony = 0;
    rnn_cond_metric_fill(&m->first_key.pos, m->spq, cols);
    rnn_cond_harmony_fill(0, cols + m->metric_cols);
    const float *z =
        rnn_net_step_cond(m->net, 0, cols + (m->cond & RNN_COND_METRIC ? 0 : m->metric_cols));
    memcpy(m->first, z, (size_t)m->V * sizeof *m->first);
    rnn_net_state_get(m->net, m->first_state);
    rnn_net_reset(m->net);
}

/* Run once here, on the worker, what the first blocks after a transport
 * start run on the audio thread: a throwaway engine on this model starts
 * its transport at bar 0 and plays 64-frame blocks up to just past its
 * second tick (a first note drawn from the first logits, a step sliced
 * over the blocks, a note drawn from the net's), so the real engine's
 * first blocks find the engine's code, the weights, the net's buffers and
 * the sampler's in memory and in cache rather than taking their page
 * faults and cold misses. What stays is the draw of a fresh net's first
 * note prepared for the default settings (first_sampler), which the first
 * tick of an engine on those settings then only draws from; a draw does
 * not depend on where its distribution was prepared. Nothing else: an
 * engine that takes a model starts its net afresh (restart) and recomputes
 * its mask, the step's sampler is prepared again for every step and the
 * scratch is rewritten before it is read, so a touched model plays as an
 * untouched one would (test_cond_model_carries_nothing). Skipped when
 * memory is short. */
static void touch(rnn_engine_model *m)
{
    char err[64];
    rnn_engine *e = rnn_engine_create(48000, 64, err, sizeof err);
    if (!e) return;
    rnn_engine_set_param(e, RNN_PARAM_SEED, 1);
    rnn_engine_set_model(e, m);
    const rnn_transport start = {
        0,   RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER,
        1.0, 120,
        4,   4,
        0,   0};
    rnn_engine_event out[RNN_ENGINE_MIN_OUT];
    const int blocks = (int)(48000 * 60 / (120.0 * m->spq) / 64) + 2;
    for (int b = 0; b < blocks; b++)
        rnn_engine_run(e, 64, NULL, 0, b == 0 ? &start : NULL, b == 0, out, RNN_ENGINE_MIN_OUT);
    rnn_engine_set_model(e, NULL);
    rnn_engine_free(e);
    rnn_net_reset(m->net);
}

/* Prepare a loaded model; name is the file for messages. */
static rnn_engine_model *wrap_named(rnn_model *model, const char *name, char *err, size_t errlen)
{
    if (!model) {
        snprintf(err, errlen, "no model");
        return NULL;
    }
    rnn_engine_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        rnn_model_free(model);
        return NULL;
    }
    m->model = model;
    const rnn_model_config *cfg = rnn_model_get_config(model);
    m->kind = cfg->kind;
    m->V = cfg->vocab;
    m->spq = cfg->steps_per_quarter;
    if ((m->kind != RNN_KIND_MELODY && m->kind != RNN_KIND_DRUMS) ||
        m->V != rnn_kind_vocab(m->kind) || m->spq < 1 || m->spq > 96) {
        snprintf(err, errlen, "%s: the engine cannot run this encoding", name);
        rnn_engine_model_free(m);
        return NULL;
    }
    if (check_budget(cfg, name, err, errlen) != 0) {
        rnn_engine_model_free(m);
        return NULL;
    }
    char msg[256];
    m->net = rnn_net_create(model, msg, sizeof msg);
    if (!m->net) {
        snprintf(err, errlen, "%s: %s", name, msg);
        rnn_engine_model_free(m);
        return NULL;
    }
    if (read_conditions(m, cfg, name, err, errlen) != 0) {
        rnn_engine_model_free(m);
        return NULL;
    }
    if (rnn_net_probe(m->net, name, err, errlen) != 0) {
        rnn_engine_model_free(m);
        return NULL;
    }
    m->sampler = rnn_sampler_create(m->V);
    m->first_sampler = rnn_sampler_create(m->V);
    m->scratch = calloc((size_t)m->V, sizeof *m->scratch);
    m->first = calloc((size_t)m->V, sizeof *m->first);
    m->first_state = calloc(rnn_net_state_size(m->net), sizeof *m->first_state);
    m->forbidden = calloc((size_t)m->V, 1);
    m->path = calloc(1, 1);
    if (!m->sampler || !m->first_sampler || !m->scratch || !m->first || !m->first_state ||
        !m->forbidden || !m->path) {
        snprintf(err, errlen, "out of memory");
        rnn_engine_model_free(m);
        return NULL;
    }
    /* Count the smallest pieces of a step once, so run() can spread a step
     * evenly over the blocks before its deadline. The step is 'no event'
     * from the zero state: without conditions its logits, a constant of the
     * model, give the first note of a fresh net (first_logits). */
    rnn_net_step_begin(m->net, 0);
    m->chunks = 1;
    while (!rnn_net_step_work(m->net, 1))
        m->chunks++;
    memcpy(m->first, rnn_net_logits(m->net), (size_t)m->V * sizeof *m->first);
    rnn_net_state_get(m->net, m->first_state);
    rnn_net_reset(m->net);
    /* The draw from a step's logits is prepared as the step's last work,
     * given the share of the step's time its cost takes (spread_work), so
     * that the block of the tick only draws. */
    const double per_chunk = (double)rnn_net_step_macs(cfg) / m->chunks;
    const double units = ceil(PREP_MACS_PER_CLASS * m->V / (per_chunk > 1 ? per_chunk : 1));
    m->prep_units = units < (double)m->chunks ? (int)units : m->chunks;
    if (m->prep_units < 1) m->prep_units = 1;
    if (m->cond) first_for_start(m);
    touch(m);
    return m;
}

rnn_engine_model *rnn_engine_model_wrap(rnn_model *model, char *err, size_t errlen)
{
    const char *name = model ? rnn_model_meta(model, "name") : NULL;
    return wrap_named(model, name && *name ? name : "the model", err, errlen);
}

rnn_engine_model *rnn_engine_model_prepare(const char *path, char *err, size_t errlen)
{
    rnn_model *model = rnn_model_load(path, err, errlen);
    if (!model) return NULL;
    rnn_engine_model *m = wrap_named(model, path, err, errlen);
    if (!m) return NULL;
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        rnn_engine_model_free(m);
        return NULL;
    }
    memcpy(p, path, n + 1);
    free(m->path);
    m->path = p;
    return m;
}

void rnn_engine_model_free(rnn_engine_model *m)
{
    if (!m) return;
    rnn_net_free(m->net);
    rnn_sampler_free(m->sampler);
    rnn_sampler_free(m->first_sampler);
    rnn_model_free(m->model);
    free(m->scratch);
    free(m->first);
    free(m->first_state);
    free(m->forbidden);
    free(m->path);
    free(m);
}

unsigned rnn_engine_model_conditions(const rnn_engine_model *m)
{
    return m ? m->cond : 0;
}

const char *rnn_engine_model_path(const rnn_engine_model *m)
{
    return m && m->path ? m->path : "";
}

const rnn_model *rnn_engine_model_get(const rnn_engine_model *m)
{
    return m ? m->model : NULL;
}

rnn_net *rnn_engine_model_net(rnn_engine_model *m)
{
    return m ? m->net : NULL;
}

/* ------------------------------------------------------------------ output */

static void emit(rnn_engine *e, uint32_t frame, uint8_t s, uint8_t d1, uint8_t d2, int size,
                 int essential)
{
    /* Keep room for every note-off that may still be owed. */
    uint32_t reserve = essential ? 0 : (uint32_t)MAX_SOUNDING + 2;
    if (e->n_out + reserve >= e->max_out) {
        e->stats.dropped++;
        return;
    }
    rnn_engine_event *ev = &e->out[e->n_out++];
    ev->frame = frame;
    ev->size = (uint8_t)size;
    ev->data[0] = s;
    ev->data[1] = d1;
    ev->data[2] = d2;
    ev->flags = 0;
}

static void note_off_at(rnn_engine *e, int i, uint32_t frame)
{
    emit(e, frame, (uint8_t)(0x80 | e->sounding[i].channel), e->sounding[i].pitch, 0, 3, 1);
    e->sounding[i] = e->sounding[--e->n_sounding];
}

static void all_off(rnn_engine *e, uint32_t frame)
{
    if (e->block_frames == 0) {
        /* a zero-length block carries no events: end them in the next one */
        e->flush_pending = e->n_sounding > 0;
        return;
    }
    while (e->n_sounding > 0)
        note_off_at(e, e->n_sounding - 1, frame);
    e->flush_pending = 0;
}

/* End the held (melody) notes. */
static void held_off(rnn_engine *e, uint32_t frame)
{
    for (int i = e->n_sounding - 1; i >= 0; i--)
        if (e->sounding[i].off_frame == NO_FRAME) note_off_at(e, i, frame);
}

static void note_on(rnn_engine *e, uint32_t frame, int channel, int pitch, int64_t off_frame)
{
    for (int i = e->n_sounding - 1; i >= 0; i--)
        if (e->sounding[i].channel == channel && e->sounding[i].pitch == pitch)
            note_off_at(e, i, frame);
    if (e->n_sounding >= MAX_SOUNDING) return;
    uint32_t before = e->n_out;
    emit(e, frame, (uint8_t)(0x90 | channel), (uint8_t)pitch,
         (uint8_t)iparam(e, RNN_PARAM_VELOCITY), 3, 0);
    if (e->n_out == before) return; /* dropped: nothing to end */
    sounding_note *s = &e->sounding[e->n_sounding++];
    s->channel = (uint8_t)channel;
    s->pitch = (uint8_t)pitch;
    s->off_frame = off_frame;
}

/* ------------------------------------------------------------------- clock */

static double steps_per_beat(const rnn_engine *e)
{
    int spq = e->em ? e->em->spq : RNN_DEFAULT_STEPS_PER_QUARTER;
    return spq * 4.0 / e->beat_unit;
}

static double pos_at(const rnn_engine *e, int64_t abs)
{
    return e->anchor_step + (double)(abs - e->anchor_frame) * e->spf;
}

/* Absolute frame of step position x (>= anchor): the first frame at or after it. */
static int64_t frame_of(const rnn_engine *e, double x)
{
    if (e->spf <= 0) return NO_FRAME;
    double d = (x - e->anchor_step) / e->spf;
    if (d <= 0) return e->anchor_frame;
    if (!(d < MAX_FRAMES)) return NO_FRAME; /* a tempo or speed near 0 */
    return e->anchor_frame + (int64_t)ceil(d - POS_EPS);
}

static void set_spf(rnn_engine *e)
{
    double bpm = e->host_seen ? e->bpm : e->params[RNN_PARAM_TEMPO];
    double speed = e->host_seen ? e->speed : 1.0;
    e->spf = speed > 0 ? bpm * speed * steps_per_beat(e) / (60.0 * e->sr) : 0.0;
    if (!(e->spf <= MAX_SPF)) e->spf = MAX_SPF;
    /* past the fastest tempo computed in full, every stride-th step */
    int spq = e->em ? e->em->spq : RNN_DEFAULT_STEPS_PER_QUARTER;
    double over = e->spf * e->sr / (RNN_ENGINE_MAX_QPM / 60.0 * spq);
    e->stride = over > 1 ? (int64_t)ceil(over - 1e-9) : 1;
}

/* Is grid step k one the budget computes? */
static int computed(const rnn_engine *e, int64_t k)
{
    if (e->stride <= 1) return 1;
    return k % e->stride == 0; /* negative k (a count-in) alike */
}

/* Count grid step k as skipped, once. */
static void skip_step(rnn_engine *e, int64_t k)
{
    if (e->last_skipped == k) return;
    e->last_skipped = k;
    e->stats.steps_skipped++;
}

static void reanchor(rnn_engine *e, int64_t abs, double step, int relocated)
{
    e->anchor_frame = abs;
    e->anchor_step = step;
    set_spf(e);
    e->next_tick = (int64_t)ceil(step - POS_EPS);
    e->next_commit = (int64_t)ceil(step - 0.5 - POS_EPS);
    if (!relocated) {
        if (e->next_tick <= e->last_tick) e->next_tick = e->last_tick + 1;
        if (e->next_commit <= e->last_commit) e->next_commit = e->last_commit + 1;
    } else {
        e->last_tick = e->next_tick - 1;
        e->last_commit = e->next_commit - 1;
    }
}

/* The net's state from zero, and the lookback's sequence with it. */
static void net_reset(rnn_engine *e)
{
    if (e->em) rnn_net_reset(e->em->net);
    if (e->rec) rnn_rec_break(e->rec); /* a phrase never runs across a fresh net */
    rnn_lookback_clear(&e->look);
    e->look_pushed = 0;
}

/* A new start: a fresh net, the seed again, no phrase. */
static void restart(rnn_engine *e)
{
    net_reset(e);
    e->net_fresh = 1;
    e->first_wait = FIRST_NONE;
    e->pending = 0;
    e->prep_due = 0;
    e->next_ready = 0;
    e->spec = 0;
    e->generating = 0;
    e->have_phrase = 0;
    e->silent_steps = 0;
    e->gen_step = NO_STEP;
    e->rep_run = 0;
    rnn_listen_new_line(&e->listen);
    uint64_t seed = (uint64_t)iparam(e, RNN_PARAM_SEED);
    if (seed == 0) {
        e->entropy += 0x9e3779b97f4a7c15ull;
        seed = e->entropy;
    }
    rnn_rng_seed(&e->rng, seed);
}

/* Where the host's bar `bar`, beat `beat` of the current meter lies from
 * the position a new meter takes over at (predicted, a step). The old
 * meter's bars run from e->bar_offset; the host names the bar the change
 * falls in or the one after. NAN when neither (a jump). */
static double meter_change_error(const rnn_engine *e, double predicted, double old_spb,
                                 double old_bpb, int64_t bar, double beat)
{
    const double old_bar = old_bpb * old_spb; /* steps */
    double from = (predicted - e->bar_offset) / old_bar;
    if (!(fabs(from) < MAX_STEP)) return NAN;
    /* the old bar holding the prediction, and how far into it (steps) */
    double b = floor(from + POS_EPS), into = (from - b) * old_bar;
    double host = beat * steps_per_beat(e); /* steps into the host's bar */
    if ((double)bar == b) return host - into;
    /* a file's meter may begin its first bar mid-bar of the old one */
    if ((double)bar == b + 1)
        return fabs(host) < fabs(host - (into - old_bar)) ? host : host - (into - old_bar);
    if ((double)bar == b - 1) return host - (into + old_bar);
    return NAN;
}

static void apply_transport(rnn_engine *e, const rnn_transport *tr, uint32_t t)
{
    int64_t abs = e->abs_frame + t;
    double predicted = pos_at(e, abs);
    int was_rolling = e->rolling, first = !e->host_seen;
    const double old_spb = steps_per_beat(e), old_bpb = e->beats_per_bar;
    if (tr->flags & RNN_TRANSPORT_TEMPO && tr->bpm > 0 && isfinite(tr->bpm)) e->bpm = tr->bpm;
    if (tr->flags & RNN_TRANSPORT_METER) {
        /* a meter that counts positions in whole steps (steps_per_beat and
         * bar_steps stay far inside an int) */
        if (tr->beats_per_bar >= 0.125 && tr->beats_per_bar <= 1024)
            e->beats_per_bar = tr->beats_per_bar;
        if (tr->beat_unit >= 1 && tr->beat_unit <= 256) e->beat_unit = tr->beat_unit;
    }
    if (tr->flags & RNN_TRANSPORT_SPEED && isfinite(tr->speed)) e->speed = tr->speed;
    e->host_seen = 1;
    e->rolling = e->speed > 0;

    double step = predicted;
    double tol = 0.02 + 2.0 * e->spf;
    int moved = 0;
    if (tr->flags & RNN_TRANSPORT_BBT && isfinite(tr->bar_beat)) {
        /* the host counts bars in the meter it names: in a new meter, its
         * bars start where the host puts this position, and the clock
         * runs on unless the position is not where it was heading (the new
         * meter's first bar may cut the old meter's last one short) */
        double s = ((double)tr->bar * e->beats_per_bar + tr->bar_beat) * steps_per_beat(e);
        if (!first && (e->beats_per_bar != old_bpb || steps_per_beat(e) != old_spb)) {
            double err = meter_change_error(e, predicted, old_spb, old_bpb, tr->bar, tr->bar_beat);
            if (fabs(s) < MAX_STEP && isfinite(err) && fabs(err) <= tol)
                e->bar_offset = predicted + err - s;
        }
        if (fabs(s + e->bar_offset) < MAX_STEP) step = s + e->bar_offset;
        moved = fabs(step - predicted) > tol;
    }

    int relocated = 0;
    if (first || (was_rolling && !e->rolling) || (!was_rolling && e->rolling) || moved) {
        /* stop, start, jump: everything ends here and begins afresh */
        all_off(e, t);
        restart(e);
        relocated = 1;
        if (moved && !first) e->stats.relocations++;
    }
    reanchor(e, abs, step, relocated);
}

/* ------------------------------------------------------------------ phrases */

static int bar_steps(const rnn_engine *e)
{
    int n = (int)floor(e->beats_per_bar * steps_per_beat(e) + 0.5);
    return n > 0 ? n : 1;
}

/* Does a bar of the current meter begin at grid step k? */
static int bar_line(const rnn_engine *e, int64_t k)
{
    return (k - (int64_t)floor(e->bar_offset + 0.5)) % bar_steps(e) == 0;
}

/* ------------------------------------------------------------- conditions */

/* The metric position of grid step k: its grid point's place in the bar of
 * the current meter, whose bars run from e->bar_offset. */
static void metric_at(const rnn_engine *e, int64_t k, rnn_metric_pos *pos)
{
    const int spq = e->em ? e->em->spq : RNN_DEFAULT_STEPS_PER_QUARTER;
    metric_in((double)k - e->bar_offset, e->beats_per_bar, e->beat_unit, spq, pos);
}

/* The harmony of the open step: the keys held or struck in it; outside
 * accompany, all but the key of the player's line (pitch `line`), as the
 * trainer leaves a file's line out of its harmony. None for drums. */
static uint16_t harmony_now(const rnn_engine *e, int line)
{
    if (!e->em || e->em->kind != RNN_KIND_MELODY) return 0;
    rnn_held h = e->held;
    for (size_t w = 0; w < sizeof h.down / sizeof *h.down; w++)
        h.down[w] |= e->struck.down[w];
    if (iparam(e, RNN_PARAM_MODE) != RNN_MODE_ACCOMPANY) rnn_held_note_off(&h, line);
    return rnn_held_mask(&h);
}

static void conditions_at(const rnn_engine *e, int64_t k, step_cond *c)
{
    metric_at(e, k, &c->pos);
    c->harmony = harmony_now(e, rnn_listen_line(&e->listen));
}

/* The conditions the net hears beside the input event of step k: those of
 * step k + 1, whose event its logits predict (RNN_COND_NEXT), or of step k
 * (earlier models). Live, the harmony is what sounds now either way: the
 * keys of step k + 1 are not struck yet. */
static void net_conditions(const rnn_engine *e, int64_t k, step_cond *c)
{
    conditions_at(e, e->em && e->em->cond & RNN_COND_NEXT ? k + 1 : k, c);
}

/* Do two steps' conditions give the model the same columns? */
static int same_columns(const rnn_engine_model *m, const step_cond *a, const step_cond *b)
{
    const rnn_metric_pos *p = &a->pos, *q = &b->pos;
    if (m->cond & RNN_ENGINE_COND_METRIC &&
        (p->bar_start != q->bar_start || p->beat_start != q->beat_start ||
         p->step_in_beat != q->step_in_beat || p->beat_in_bar != q->beat_in_bar))
        return 0;
    return !(m->cond & RNN_ENGINE_COND_HARMONY) || a->harmony == b->harmony;
}

/* The bar the lookback of a step reaches back over: that of the meter at
 * the step (FORMAT.md, "Lookback inputs"). */
static int look_bar(const rnn_engine_model *m, const step_cond *c)
{
    return rnn_lookback_bar_steps(c->pos.num, c->pos.den, m->spq);
}

/* Push the input event of a step onto the lookback's sequence, keeping what
 * the push overwrites so that look_undo can take it back. */
static void look_push(rnn_engine *e, int ev)
{
    e->look_undo_pos = e->look.pos;
    e->look_undo_count = e->look.count;
    e->look_undo_ev = e->look.ev[e->look.pos];
    e->look_pushed = 1;
    rnn_lookback_push(&e->look, ev);
}

/* Take back the last push: its step was abandoned before the net finished
 * it. */
static void look_undo(rnn_engine *e)
{
    if (!e->look_pushed) return;
    e->look.pos = e->look_undo_pos;
    e->look.count = e->look_undo_count;
    e->look.ev[e->look.pos] = e->look_undo_ev;
    e->look_pushed = 0;
}

/* The columns of the conditions c and of the input event ev for the
 * model's net, or NULL for a model that takes none. e->cond holds every
 * condition column, metric then harmony (FORMAT.md, rnn_engine_last_cond);
 * a model reads its own of them: from 0, or from metric_cols when it takes
 * harmony alone; the lookback columns follow the model's own. With `in_seq`
 * the step is one of the sequence the lookback hears (ev is pushed onto it);
 * without, it is the 'no event' step a first note is drawn from, which
 * takes no lookback columns. */
static const float *columns(rnn_engine *e, int ev, const step_cond *c, int in_seq)
{
    const rnn_engine_model *m = e->em;
    if (!m->cond && !m->lookback) return NULL;
    rnn_cond_metric_fill(&c->pos, m->spq, e->cond);
    rnn_cond_harmony_fill(c->harmony, e->cond + m->metric_cols);
    float *at = e->cond + (m->cond & RNN_COND_METRIC ? 0 : m->metric_cols);
    if (m->lookback && in_seq) {
        look_push(e, ev);
        rnn_lookback_ring_fill(&e->look, m->kind, look_bar(m, c), at + m->cond_cols);
    } else if (m->lookback) {
        memset(at + m->cond_cols, 0, (size_t)rnn_lookback_columns(m->kind) * sizeof *at);
    }
    return at;
}

/* Begin the network step of input event ev with the conditions c (in_seq:
 * see columns); returns the columns the net got (NULL: none). */
static const float *begin_step(rnn_engine *e, int ev, const step_cond *c, int in_seq)
{
    const float *cols = columns(e, ev, c, in_seq);
    rnn_net_step_begin_cond(e->em->net, ev, cols);
    e->prep_due = 1;
    e->next_ready = 0;
    return cols;
}

/* Record a step of the player's line, as the net got it, or break the
 * recording where the net hears something else (its own line, nothing). */
static void record_step(rnn_engine *e, int player, int ev, const float *cols)
{
    if (!e->rec) return;
    if (player && rnn_rec_columns(e->rec) == rnn_net_cond_columns(e->em->net))
        rnn_rec_push(e->rec, ev, cols);
    else
        rnn_rec_break(e->rec);
}

/* The logits a fresh net draws its first note of step k from: 'no event'
 * from the zero state, with the conditions of the step before k (as
 * rnnmidi-gen steps before its grid) and the harmony held now. Without
 * conditions they are a constant of the model, computed at prepare; with
 * them, those computed at prepare for the step before bar 0 of 4/4 with
 * nothing held (first_key) when the conditions give the same columns, or
 * NULL: then the note waits a step (FIRST_WAIT), and the commit of step k
 * steps 'no event' from the zero state with step k's conditions, spread
 * over the blocks up to tick k + 1 (FIRST_BEGUN), which draws the first
 * note from its logits; a whole step at one tick would cost the block that
 * holds it as much as the blocks of a whole step together. */
static const float *first_logits(rnn_engine *e, int64_t k)
{
    rnn_engine_model *m = e->em;
    if (!m->cond) return m->first;
    step_cond c;
    net_conditions(e, k - 1, &c);
    return same_columns(m, &c, &m->first_key) ? m->first : NULL;
}

/* Start the net afresh: the zero state, nothing heard. */
static void fresh_net(rnn_engine *e)
{
    net_reset(e);
    e->net_fresh = 1;
    e->first_wait = FIRST_NONE;
    e->prep_due = 0;
    e->next_ready = 0;
}

/* Does the player's line become the net's input? In accompany a model
 * that takes harmony plays its own line over the player's harmony; one
 * that takes none still hears the player's line, its only way to. */
static int player_primes(const rnn_engine *e)
{
    return iparam(e, RNN_PARAM_MODE) != RNN_MODE_ACCOMPANY ||
           !(e->em->cond & RNN_ENGINE_COND_HARMONY);
}

static void stop_generating(rnn_engine *e, uint32_t t)
{
    if (!e->generating) return;
    e->generating = 0;
    held_off(e, t);
}

static void finish_step(rnn_engine *e)
{
    if (!e->pending) return;
    rnn_net_step_work(e->em->net, INT_MAX); /* the whole rest of the step, one call */
    e->pending = 0;
}

/* When no class may be drawn at all (a mask that leaves none): the key's
 * root nearest the middle of the range, or a kick. */
static int fallback_event(const rnn_engine *e)
{
    if (e->em->kind == RNN_KIND_DRUMS) return 1;
    int lo = iparam(e, RNN_PARAM_LOWEST), hi = iparam(e, RNN_PARAM_HIGHEST);
    int mid = (lo + hi) / 2, best = -1;
    for (int d = 0; d < 128 && best < 0; d++) {
        int cand[2] = {mid - d, mid + d};
        for (int i = 0; i < 2 && best < 0; i++) {
            int p = cand[i];
            if (p < 0 || p > 127 || e->em->forbidden[RNN_MELODY_NOTE_ON(p)]) continue;
            if ((p - iparam(e, RNN_PARAM_KEY)) % 12 == 0 || d >= 12) best = p;
        }
    }
    if (best < 0) best = 60;
    return RNN_MELODY_NOTE_ON(best);
}

static int all_finite(const float *z, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(z[i])) return 0;
    return 1;
}

/* The pitch the repeat limit bans from the next draw, or -1. A net can
 * fall into striking one pitch on every step for good (rare in the data,
 * but an attractor once it starts): past the limit that pitch is not drawn
 * for one step, which is enough to leave the loop. */
static int banned_pitch(const rnn_engine *e, int fresh)
{
    const int limit = iparam(e, RNN_PARAM_REPEAT_LIMIT);
    return e->em->kind == RNN_KIND_MELODY && !fresh && limit > 0 && e->rep_run >= limit
               ? e->rep_pitch
               : -1;
}

static void key_now(const rnn_engine *e, int fresh, draw_key *k)
{
    static const rnn_engine_param ids[] = {
        RNN_PARAM_TEMPERATURE, RNN_PARAM_TOP_P,  RNN_PARAM_DENSITY, RNN_PARAM_KEY,
        RNN_PARAM_SCALE,       RNN_PARAM_LOWEST, RNN_PARAM_HIGHEST};
    _Static_assert(sizeof ids / sizeof *ids + 2 == DRAW_KEY, "a key entry per setting");
    for (int i = 0; i < DRAW_KEY - 2; i++)
        k->v[i] = e->params[ids[i]];
    k->v[DRAW_KEY - 2] = (float)fresh;
    k->v[DRAW_KEY - 1] = (float)banned_pitch(e, fresh);
}

static int same_key(const draw_key *a, const draw_key *b)
{
    for (int i = 0; i < DRAW_KEY; i++)
        if (a->v[i] != b->v[i]) return 0;
    return 1;
}

/* Prepare in s the draw of the next event from logits (the net's, or
 * first_logits) under the settings k: the density bias, the temperature,
 * top-p and the mask. A fresh net has heard nothing: as a training
 * sequence starts with a note, its first event is a note drawn from the
 * logits after 'no event' from the zero state, and the net then steps from
 * the zero state with that note. */
static void prepare_draw(rnn_engine *e, rnn_sampler *s, const float *logits, const draw_key *k)
{
    rnn_engine_model *m = e->em;
    if (e->mask_dirty) update_mask(e);
    const int fresh = k->v[DRAW_KEY - 2] != 0, banned = (int)k->v[DRAW_KEY - 1];
    float bias = 6.0f * (e->params[RNN_PARAM_DENSITY] - 0.5f);
    for (int c = 0; c < m->V; c++) {
        float b = 0;
        if (m->kind == RNN_KIND_MELODY)
            b = c >= RNN_MELODY_NOTE_ON(0) ? bias : 0;
        else
            b = bias * (float)__builtin_popcount((unsigned)c);
        m->scratch[c] = logits[c] + b;
    }
    if (fresh) {
        m->scratch[0] = -INFINITY; /* non-finite logits are never drawn */
        if (m->kind == RNN_KIND_MELODY) m->scratch[RNN_MELODY_NOTE_OFF] = -INFINITY;
    }
    if (banned >= 0) m->scratch[RNN_MELODY_NOTE_ON(banned)] = -INFINITY;
    rnn_sample_prepare(s, m->scratch, m->V, e->params[RNN_PARAM_TEMPERATURE],
                       e->params[RNN_PARAM_TOP_P], m->forbidden);
}

/* Prepare the draw from first under the current settings, unless it is
 * already (at prepare, in touch, for the default settings; or by an
 * earlier start). */
static void ready_first(rnn_engine *e)
{
    rnn_engine_model *m = e->em;
    draw_key k;
    key_now(e, 1, &k);
    if (m->first_ready && same_key(&k, &m->first_drawn)) return;
    prepare_draw(e, m->first_sampler, m->first, &k);
    m->first_drawn = k;
    m->first_ready = 1;
}

/* The step in progress is finished: prepare the draw from its logits for
 * the next tick, which then only draws (unless a setting changes first). */
static void prepare_next(rnn_engine *e)
{
    e->prep_due = 0;
    const float *logits = rnn_net_logits(e->em->net);
    if (!all_finite(logits, e->em->V)) return; /* the tick ends the notes */
    key_now(e, e->first_wait == FIRST_BEGUN, &e->next_drawn);
    prepare_draw(e, e->em->sampler, logits, &e->next_drawn);
    e->next_ready = 1;
}

/* Draw the next event from logits (the net's, or first_logits): from the
 * draw prepared ahead when the settings are those it was prepared under,
 * else prepared here. Either gives the same event. */
static int sample_event(rnn_engine *e, const float *logits, int fresh)
{
    rnn_engine_model *m = e->em;
    rnn_sampler *s = m->sampler;
    if (logits == m->first) {
        ready_first(e);
        s = m->first_sampler;
    } else {
        draw_key k;
        key_now(e, fresh, &k);
        if (!e->next_ready || !same_key(&k, &e->next_drawn)) prepare_draw(e, s, logits, &k);
        e->next_ready = 0;
    }
    int c = rnn_sample_draw(s, &e->rng);
    if (c < 0) return fresh ? fallback_event(e) : 0;
    return c;
}

static void play_event(rnn_engine *e, int ev, uint32_t t)
{
    rnn_engine_model *m = e->em;
    int64_t abs = e->abs_frame + t;
    if (m->kind == RNN_KIND_MELODY) {
        if (ev == RNN_MELODY_NOTE_OFF) {
            held_off(e, t);
        } else if (ev >= RNN_MELODY_NOTE_ON(0)) {
            held_off(e, t);
            note_on(e, t, iparam(e, RNN_PARAM_CHANNEL) - 1, ev - RNN_MELODY_NOTE_ON(0), NO_FRAME);
        }
        return;
    }
    double step_frames = e->spf > 0 ? 1.0 / e->spf : e->sr / 8.0;
    double lenf = e->params[RNN_PARAM_GATE] * step_frames;
    int64_t len = lenf < MAX_FRAMES ? (int64_t)lenf : (int64_t)MAX_FRAMES;
    if (len < 1) len = 1;
    for (int c = 0; c < RNN_DRUM_CLASSES; c++)
        if (ev >> c & 1) note_on(e, t, RNN_DRUMS_CHANNEL, rnn_drum_pitch_of_class(c), abs + len);
}

static void start_generating(rnn_engine *e, int64_t k, int64_t len)
{
    e->generating = 1;
    e->gen_end = k + len;
    e->silent_steps = 0; /* the rest that kept the net waiting is over */
}

/* Grid tick k at frame t: decide whether to play, then sample and play. */
static void do_tick(rnn_engine *e, int64_t k, uint32_t t)
{
    e->last_tick = k;
    e->stats.steps++;
    e->gen_step = NO_STEP;
    if (!e->em) return;
    int mode = iparam(e, RNN_PARAM_MODE);
    int64_t gap = (int64_t)ceil(e->params[RNN_PARAM_LISTEN_GAP] * steps_per_beat(e) - POS_EPS);
    int64_t resp = (int64_t)iparam(e, RNN_PARAM_RESPONSE_BARS) * bar_steps(e);

    if (mode == RNN_MODE_ACCOMPANY) {
        if (!e->generating) start_generating(e, k, INT64_MAX / 4);
    } else {
        if (e->generating && k >= e->gen_end) {
            stop_generating(e, t);
            e->have_phrase = 0;
        }
        int quiet = e->have_phrase && rnn_listen_sounding(&e->listen) == 0 &&
                    k - e->last_player_step - 1 >= gap;
        if (!e->generating && quiet) {
            if (mode == RNN_MODE_CONTINUE) {
                start_generating(e, k, resp);
            } else if (bar_line(e, k)) {
                int64_t beat = (int64_t)floor(steps_per_beat(e) + 0.5);
                if (beat < 1) beat = 1;
                int64_t len = e->last_player_step + 1 - e->phrase_start;
                len = (len + beat - 1) / beat * beat;
                if (len < beat) len = beat;
                if (len > resp) len = resp;
                start_generating(e, k, len);
            }
        }
    }
    if (!e->generating) return;
    if (!computed(e, k)) {
        skip_step(e, k); /* no new event: what sounds goes on, or ends at its gate */
        return;
    }

    if (e->mask_dirty) update_mask(e);
    const float *first = NULL;
    if (e->net_fresh) {
        first = first_logits(e, k);
        if (!first) {
            e->first_wait = FIRST_WAIT; /* the note comes a step later */
            return;
        }
    }
    if (e->pending && !e->net_fresh) {
        finish_step(e);
        e->stats.late_steps++;
    }
    if (!e->net_fresh && !all_finite(rnn_net_logits(e->em->net), e->em->V)) {
        /* The net has left the range of float (a state set from outside, a
         * model the probe missed): end what sounds, play nothing, start
         * afresh. Nothing is drawn from these logits. */
        e->stats.nonfinite_steps++;
        all_off(e, t);
        fresh_net(e);
        e->pending = 0;
        e->spec = 0;
        return;
    }
    const int begun = e->first_wait == FIRST_BEGUN;
    int ev = sample_event(e, first ? first : rnn_net_logits(e->em->net), first || begun);
    /* The first note, drawn: the net steps with it from the state the 'no
     * event' step it was drawn from left, as rnnmidi-gen and
     * rnnmidi-musicality play a take (from the zero state, a net trained on
     * windows that start anywhere in a sequence hears the note as the middle
     * of a part: a drum net then plays twice the hits a bar). Begun, that
     * state is the net's; drawn from first, it is first's. */
    if (begun) e->first_wait = FIRST_NONE;
    if (first) rnn_net_state_set(e->em->net, e->em->first_state);
    play_event(e, ev, t);
    if (e->em->kind == RNN_KIND_MELODY && ev >= RNN_MELODY_NOTE_ON(0)) {
        int p = ev - RNN_MELODY_NOTE_ON(0);
        e->rep_run = p == e->rep_pitch ? e->rep_run + 1 : 1;
        e->rep_pitch = p;
    }
    e->gen_event = ev;
    e->gen_step = k;

    /* The generated event is most likely this step's input: begin the step
     * now, spread over the whole interval to the next tick; the commit at
     * k + 0.5 keeps it, or restarts it when the player changed the input. */
    net_conditions(e, k, &e->spec_cond);
    begin_step(e, ev, &e->spec_cond, 1);
    e->pending = 1;
    e->spec = 1;
    e->spec_event = ev;
    e->chunks_done = 0;
    e->begun_here = 1;
    e->work_from = (double)k;
    e->work_span = (double)e->stride; /* due at the next computed tick */
    e->net_fresh = 0;
}

/* Commit of step k at position k + 0.5: its input is now known; begin the
 * network step that gives the logits of step k + 1. */
static void do_commit(rnn_engine *e, int64_t k)
{
    e->last_commit = k;
    if (!e->em) {
        rnn_held_clear(&e->struck);
        return;
    }
    /* the player's event for step k, from the notes of its window, the
     * step's conditions and those the net hears beside it */
    int struck = rnn_listen_struck(&e->listen);
    int pev = rnn_listen_step(&e->listen, e->em->kind);
    step_cond c, in;
    conditions_at(e, k, &c);
    net_conditions(e, k, &in);
    rnn_held_clear(&e->struck);
    e->last_cond = c;
    e->cond_step = k;
    if (struck) {
        if (e->silent_steps >= RNN_SPLIT_GAP_STEPS && !e->net_fresh) {
            /* the first note after a split: a new sequence, and a new phrase
             * (the one kept for its answer is dropped unanswered) */
            finish_step(e);
            fresh_net(e);
            e->have_phrase = 0;
        }
        if (!e->have_phrase) e->phrase_start = k;
        e->have_phrase = 1;
    }
    int held = rnn_listen_sounding(&e->listen) > 0;
    if (struck || held) e->last_player_step = k;

    /* what the player played wins: accompany hears it (unless the net
     * hears the player as harmony), the other modes hand over */
    int x = player_primes(e) ? pev : 0;
    if (x == 0 && e->gen_step == k) x = e->gen_event;
    e->gen_step = NO_STEP;

    if (e->spec) {
        e->spec = 0;
        if (x == e->spec_event && same_columns(e->em, &e->spec_cond, &in) &&
            (!e->em->lookback || look_bar(e->em, &e->spec_cond) == look_bar(e->em, &in))) {
            /* the step begun at the tick stands: the net's own event */
            record_step(e, 0, 0, NULL);
            e->stats.net_steps++;
            return;
        }
        /* unfinished (spread_work keeps it so until here): begin abandons it,
         * and the lookback does not hear it */
        e->pending = 0;
        look_undo(e);
    }

    /* A silent step, as the trainer counts a gap: nothing sounds (a melody's
     * note-off step is the first of its rest; a held note is no rest). */
    int silent = !e->generating &&
                 (e->em->kind == RNN_KIND_DRUMS ? x == 0 : x <= RNN_MELODY_NOTE_OFF && !held);
    if (silent) {
        if (e->net_fresh) return; /* nothing heard yet: a sequence starts with a note */
        if (e->silent_steps < RNN_SPLIT_GAP_STEPS) e->silent_steps++;
        if (e->silent_steps >= RNN_SPLIT_GAP_STEPS) {
            /* A rest this long splits training sequences: the net hears no
             * more of it. A phrase still owed its answer (or continuation)
             * keeps the net as it is, primed with the phrase and the longest
             * rest a training sequence holds; otherwise start afresh. The
             * phrase itself stays owed: the split is about what the net
             * hears, not about whether the player was heard. */
            finish_step(e);
            record_step(e, 0, 0, NULL);
            if (!e->have_phrase) fresh_net(e);
            return;
        }
    } else {
        e->silent_steps = 0;
    }
    if (!computed(e, k)) {
        skip_step(e, k); /* the net does not hear this step */
        record_step(e, 0, 0, NULL);
        return;
    }
    finish_step(e);
    /* 'no event' on the fresh net of a first note that waits is the step
     * its logits come from (first_logits); a note of the player's is not */
    const int first = e->net_fresh && e->first_wait == FIRST_WAIT && x == 0;
    const float *cols = begin_step(e, x, &in, !first);
    /* the player's line: what the net hears while it does not play */
    record_step(e, !first && !e->generating, x, cols);
    e->first_wait = first ? FIRST_BEGUN : FIRST_NONE;
    e->pending = 1;
    e->chunks_done = 0;
    e->begun_here = 1;
    e->work_from = (double)k + 0.5;
    e->work_span = (double)e->stride - 0.5;
    e->net_fresh = 0;
    e->stats.net_steps++;
}

static void handle_input(rnn_engine *e, const rnn_engine_event *ev, uint32_t t)
{
    if (e->params[RNN_PARAM_THRU] > 0.5f && !(ev->flags & RNN_EVENT_NO_THRU))
        emit(e, t, ev->data[0], ev->data[1], ev->data[2], ev->size, 0);
    if (ev->size < 3 || ev->flags & RNN_EVENT_NO_LISTEN) return;
    uint8_t st = ev->data[0] & 0xf0, p = ev->data[1] & 0x7f;
    int on = st == 0x90 && ev->data[2] > 0;
    int off = st == 0x80 || (st == 0x90 && ev->data[2] == 0);
    int drum_channel = (ev->data[0] & 0x0f) == RNN_DRUMS_CHANNEL;
    if (st == 0xB0 && (p == 120 || p == 123)) {
        /* all sound off, all notes off: no key is down any more */
        for (int q = 0; q < 128; q++)
            if (e->held.down[q >> 5] >> (q & 31) & 1) rnn_listen_note_off(&e->listen, q);
        rnn_held_clear(&e->held);
        return;
    }
    if (!drum_channel && on) {
        rnn_held_note_on(&e->held, p);
        rnn_held_note_on(&e->struck, p);
    } else if (!drum_channel && off) {
        rnn_held_note_off(&e->held, p);
    }
    if (off) {
        /* A key held down is released whatever model now runs (it may have
         * been pressed for a melody model swapped out since). */
        if (!drum_channel) rnn_listen_note_off(&e->listen, p);
        return;
    }
    if (!on) return;
    if (e->em && e->em->kind == RNN_KIND_DRUMS) {
        if (rnn_listen_drum(&e->listen, p) < 0) return;
    } else {
        if (drum_channel) return;
        rnn_listen_key_on(&e->listen, p);
    }
    /* In continue and call-and-response the player takes the lead back. */
    if (e->generating && iparam(e, RNN_PARAM_MODE) != RNN_MODE_ACCOMPANY) {
        stop_generating(e, t);
        e->have_phrase = 0;
    }
}

/* ------------------------------------------------------------------ engine */

rnn_engine *rnn_engine_create(double sample_rate, uint32_t max_block, char *err, size_t errlen)
{
    if (!(sample_rate >= 1000 && sample_rate <= 1536000)) {
        snprintf(err, errlen, "unsupported sample rate %g", sample_rate);
        return NULL;
    }
    rnn_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->sr = sample_rate;
    e->max_block = max_block;
    for (int i = 0; i < RNN_PARAM_COUNT; i++)
        e->params[i] = params_table[i].def;
    e->entropy = (uint64_t)(uintptr_t)e ^ ((uint64_t)time(NULL) << 20) ^ ((uint64_t)clock() << 40) ^
                 0x243f6a8885a308d3ull;
    rnn_engine_reset(e);
    return e;
}

void rnn_engine_free(rnn_engine *e)
{
    if (!e) return;
    rnn_engine_model_free(e->em);
    free(e);
}

void rnn_engine_reset(rnn_engine *e)
{
    e->flush_pending = e->n_sounding > 0;
    e->host_seen = 0;
    e->bpm = 120;
    e->beats_per_bar = 4;
    e->beat_unit = 4;
    e->speed = 0;
    e->rolling = 1; /* free-running until the host speaks */
    e->abs_frame = 0;
    rnn_listen_init(&e->listen);
    rnn_held_clear(&e->held);
    rnn_held_clear(&e->struck);
    e->bar_offset = 0;
    e->cond_step = NO_STEP;
    e->last_tick = e->last_commit = INT64_MIN / 4;
    e->last_skipped = INT64_MIN;
    restart(e);
    reanchor(e, 0, 0.0, 1);
    e->mask_dirty = 1;
}

rnn_engine_model *rnn_engine_set_model(rnn_engine *e, rnn_engine_model *em)
{
    rnn_engine_model *old = e->em;
    if (e->n_sounding > 0) e->flush_pending = 1;
    double pos = pos_at(e, e->abs_frame);
    int old_spq = old ? old->spq : RNN_DEFAULT_STEPS_PER_QUARTER;
    e->em = em;
    e->mask_dirty = 1;
    restart(e);
    /* The grid may change resolution: keep the musical position. */
    int new_spq = em ? em->spq : RNN_DEFAULT_STEPS_PER_QUARTER;
    e->bar_offset = e->bar_offset * new_spq / old_spq;
    e->cond_step = NO_STEP;
    reanchor(e, e->abs_frame, pos * new_spq / old_spq, 1);
    return old;
}

rnn_rec *rnn_engine_set_record(rnn_engine *e, rnn_rec *rec)
{
    rnn_rec *old = e->rec;
    if (old) rnn_rec_break(old);
    e->rec = rec;
    if (rec) rnn_rec_break(rec);
    return old;
}

const rnn_engine_model *rnn_engine_get_model(const rnn_engine *e)
{
    return e->em;
}

void rnn_engine_set_param(rnn_engine *e, rnn_engine_param id, float value)
{
    if ((int)id < 0 || id >= RNN_PARAM_COUNT) return;
    float v = clamp_param(id, value);
    if (v == e->params[id]) return;
    e->params[id] = v;
    switch (id) {
    case RNN_PARAM_MODE:
        if (e->n_sounding > 0) e->flush_pending = 1;
        e->generating = 0;
        e->have_phrase = 0;
        break;
    case RNN_PARAM_KEY:
    case RNN_PARAM_SCALE:
    case RNN_PARAM_LOWEST:
    case RNN_PARAM_HIGHEST:
        e->mask_dirty = 1;
        break;
    case RNN_PARAM_TEMPO:
        if (!e->host_seen) reanchor(e, e->abs_frame, pos_at(e, e->abs_frame), 0);
        break;
    case RNN_PARAM_SEED:
        rnn_rng_seed(&e->rng, (uint64_t)v);
        break;
    default:
        break;
    }
}

float rnn_engine_get_param(const rnn_engine *e, rnn_engine_param id)
{
    if ((int)id < 0 || id >= RNN_PARAM_COUNT) return 0;
    return e->params[id];
}

void rnn_engine_all_notes_off(rnn_engine *e)
{
    if (e->n_sounding > 0) e->flush_pending = 1;
    e->generating = 0;
}

int rnn_engine_last_cond(const rnn_engine *e, rnn_engine_cond *c, float *cols)
{
    const rnn_engine_model *m = e->em;
    if (!m || e->cond_step == NO_STEP) return 0;
    if (c) {
        c->step = e->cond_step;
        c->pos = e->last_cond.pos;
        c->harmony = e->last_cond.harmony;
    }
    if (cols) {
        rnn_cond_metric_fill(&e->last_cond.pos, m->spq, cols);
        rnn_cond_harmony_fill(e->last_cond.harmony, cols + m->metric_cols);
    }
    return m->metric_cols + RNN_COND_HARMONY_COLUMNS;
}

void rnn_engine_get_stats(const rnn_engine *e, rnn_engine_stats *st)
{
    *st = e->stats;
    st->generating = e->generating;
    st->rolling = e->rolling;
    st->host_transport = e->host_seen;
}

/* Spread the step in progress evenly over the blocks before its deadline
 * k + 1, ending one block early (blocks are assumed as long as this one) so
 * that the block holding the tick finds the step done. */
static void spread_work(rnn_engine *e, int64_t end_abs, uint32_t frames)
{
    rnn_engine_model *m = e->em;
    if (e->begun_here) {
        /* The block that begins a step is the dearest of the step's blocks
         * when its tick drew a note: the work starts with the next block,
         * spread over the rest of the time to the same deadline, when that
         * leaves a few blocks. */
        e->begun_here = 0;
        const double end = pos_at(e, end_abs), left = e->work_span - (end - e->work_from);
        if (e->spf > 0 && left > 4.0 * (double)frames * e->spf) {
            e->work_span = left;
            e->work_from = end;
            return;
        }
    }
    double span = e->work_span - (double)frames * e->spf;
    double frac = e->spf > 0 && span > 0 ? (pos_at(e, end_abs) - e->work_from) / span : 1.0;
    if (frac > 1) frac = 1;
    /* the net's chunks, then the draw's preparation as prep_units more */
    const int total = m->chunks + m->prep_units;
    int target = (int)ceil(frac * total);
    if (target < 1) target = 1;
    if (e->spec && target > m->chunks - 1) target = m->chunks - 1; /* not before its commit */
    while (e->pending && e->chunks_done < target) {
        e->chunks_done++;
        if (rnn_net_step_work(m->net, 1)) e->pending = 0;
    }
    if (!e->pending && e->prep_due && target >= total) prepare_next(e);
}

/* Everything due at frame t of the block, in position order. */
static void run_due(rnn_engine *e, uint32_t t)
{
    int64_t abs = e->abs_frame + t;
    for (int i = e->n_sounding - 1; i >= 0; i--)
        if (e->sounding[i].off_frame <= abs) note_off_at(e, i, t);
    /* At most one step a frame comes due (MAX_SPF), so a tick and a commit,
     * and one more after a tempo change; anything beyond is handled at the
     * next frame. */
    for (int n = 0; n < MAX_DUE && e->rolling; n++) {
        int64_t fc = frame_of(e, (double)e->next_commit + 0.5);
        int64_t ft = frame_of(e, (double)e->next_tick);
        if (fc <= abs && (double)e->next_commit + 0.5 < (double)e->next_tick)
            do_commit(e, e->next_commit++);
        else if (ft <= abs)
            do_tick(e, e->next_tick++, t);
        else if (fc <= abs)
            do_commit(e, e->next_commit++);
        else
            break;
    }
}

uint32_t rnn_engine_run(rnn_engine *e, uint32_t frames, const rnn_engine_event *in, uint32_t n_in,
                        const rnn_transport *transport, uint32_t n_transport, rnn_engine_event *out,
                        uint32_t max_out)
{
    e->out = out;
    e->n_out = 0;
    e->max_out = max_out;
    if (!transport) n_transport = 0;
    if (!in) n_in = 0;
    e->block_frames = frames;
    if (e->flush_pending) all_off(e, 0);
    uint32_t last = frames > 0 ? frames - 1 : 0;
    uint32_t ti = 0, ii = 0, t = 0;
    /* Bounded work: t only grows, so at most `frames` visits, each handling
     * at most MAX_DUE grid events and MAX_SOUNDING notes; every transport and
     * input event once; the network steps the budget allows (spread_work). */
    for (;;) {
        while (ti < n_transport && (transport[ti].frame <= t || transport[ti].frame > last))
            apply_transport(e, &transport[ti++], t);
        int64_t abs = e->abs_frame + t;
        if (frames > 0) run_due(e, t);
        while (ii < n_in && (in[ii].frame <= t || in[ii].frame > last))
            handle_input(e, &in[ii++], t);
        if (t >= last) break;

        int64_t next = e->abs_frame + last;
        if (ti < n_transport && e->abs_frame + transport[ti].frame < next)
            next = e->abs_frame + transport[ti].frame;
        if (ii < n_in && e->abs_frame + in[ii].frame < next) next = e->abs_frame + in[ii].frame;
        if (e->rolling) {
            int64_t fc = frame_of(e, (double)e->next_commit + 0.5);
            int64_t ft = frame_of(e, (double)e->next_tick);
            if (fc < next) next = fc;
            if (ft < next) next = ft;
        }
        for (int i = 0; i < e->n_sounding; i++)
            if (e->sounding[i].off_frame < next) next = e->sounding[i].off_frame;
        if (next <= abs) next = abs + 1;
        t = (uint32_t)(next - e->abs_frame);
    }
    e->abs_frame += frames;
    if (e->pending || e->prep_due) {
        if (e->rolling)
            spread_work(e, e->abs_frame, frames);
        else
            finish_step(e);
    }
    /* stopped, a start's first draw is made ready for the settings now */
    if (!e->rolling && e->em) ready_first(e);
    e->out = NULL;
    return e->n_out;
}
