/* SPDX-License-Identifier: MIT */
/* Soak test of the LV2 plugin (`make soak`; not part of `make test`).
 *
 * A host (tests/support/lv2/lv2_host.h) drives the plugin's release objects, the
 * ones build/rnnmidi.lv2/rnnmidi.so is linked from, through SOAK_HOURS (10)
 * hours of audio time, split into runs of one instance each at a random
 * sample rate (22050..192000): blocks of 0..8192 frames; tempo, meter and
 * speed changes, absurd ones among them (1e6 BPM, 0, negative, NaN, inf);
 * stops, starts and jumps; MIDI floods of thousands of events a block and
 * held notes; the input source (MIDI, audio, both, with a sung tone) and
 * thru toggled; settings changed (out-of-range values too); a model swapped
 * by patch:Set every few seconds, among the shipped presets, a large valid
 * preset and corrupt, truncated and oversized files made here; the worker's
 * queue held back or full; deactivate/activate; state save and restore.
 * Everything comes from one seed (SOAK_SEED, printed; the plugin's own seed
 * control is kept non-zero, so its draws repeat too). SOAK_THRU_TOGGLES=0
 * keeps the thru switch still through a run; SOAK_ABSURD_HOLD=1 leaves an
 * absurd transport in place until the host's next change.
 *
 * This executable defines malloc, calloc, realloc, free, the aligned
 * allocators and pthread_mutex_lock, so every call to them counts, whoever
 * makes it: the plugin's code, libaubio and libfftw3f under the detector,
 * glibc itself. They count while run() or work_response() runs; a self-check
 * shows the count sees a call made inside libaubio and one inside glibc.
 *
 * Figures are printed as `SOAK name value`. Invariants (the exit status is 1
 * when one fails): no note left sounding on the output after each run's final
 * stop, the player's keys released (counted apart for notes the engine made
 * and notes passed through); every output event well-formed (a MIDI status
 * byte, data bytes under 128, the length of its status, note-on velocity
 * 1..127, inside its block, in time order); no malformed notify sequence; no
 * allocation or lock in run() or work_response(); every load answered as the
 * file deserves (a valid preset loads, a damaged one is refused); and notes
 * were played at all. */
#define _GNU_SOURCE
#include <lv2/state/state.h>
#include <lv2/time/time.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <aubio/aubio.h>

#include "../../core/engine.h"
#include "../support/lv2/lv2_host.h"

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index);

/* ------------------------------------------------ the allocation counter */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static volatile int rt_armed;
static volatile long rt_calls;

void *malloc(size_t n)
{
    if (rt_armed) rt_calls++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (rt_armed) rt_calls++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (rt_armed) rt_calls++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (rt_armed) rt_calls++;
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (rt_armed) rt_calls++;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (rt_armed) rt_calls++;
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    if (rt_armed) rt_calls++;
    return __libc_memalign(align, n);
}

typedef int (*lock_fn)(pthread_mutex_t *);
static lock_fn real_lock;

int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (rt_armed) rt_calls++;
    if (!real_lock) real_lock = (lock_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
    return real_lock(m);
}

/* The count sees a call made inside libaubio, one inside glibc, and the
 * plugin's own (its instantiate allocates). */
static int counter_self_check(const char *bundle)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m); /* resolve the real lock before arming */
    pthread_mutex_unlock(&m);
    rt_calls = 0;
    rt_armed = 1;
    fvec_t *v = new_fvec(16);
    long in_aubio = rt_calls;
    del_fvec(v);
    rt_calls = 0;
    char *s = strdup("soak");
    long in_libc = rt_calls;
    __libc_free(s);
    rt_calls = 0;
    pthread_mutex_lock(&m);
    long locks = rt_calls;
    pthread_mutex_unlock(&m);
    rt_armed = 0;
    host_plugin *hp = host_new();
    const LV2_Descriptor *d = lv2_descriptor(0);
    if (!hp || !d) return -1;
    rt_calls = 0;
    rt_armed = 1;
    LV2_Handle h = d->instantiate(d, 48000, bundle, hp->features);
    rt_armed = 0;
    long in_plugin = rt_calls;
    rt_calls = 0;
    if (h) d->cleanup(h);
    host_free(hp);
    return in_aubio > 0 && in_libc > 0 && locks == 1 && in_plugin > 0 ? 0 : -1;
}

/* ------------------------------------------- the engine's counters */

/* The plugin's engines, caught as they are created (the link wraps
 * rnn_engine_create), so the soak can read their counters. */
rnn_engine *__real_rnn_engine_create(double sample_rate, uint32_t max_block, char *err,
                                     size_t errlen);
rnn_engine *__wrap_rnn_engine_create(double sample_rate, uint32_t max_block, char *err,
                                     size_t errlen);
static rnn_engine *current_engine;

rnn_engine *__wrap_rnn_engine_create(double sample_rate, uint32_t max_block, char *err,
                                     size_t errlen)
{
    current_engine = __real_rnn_engine_create(sample_rate, max_block, err, errlen);
    return current_engine;
}

/* Steps the engine's compute budget skipped, as its counters say. */
static long long engine_steps_skipped(const rnn_engine_stats *st)
{
    return (long long)st->steps_skipped;
}

/* ------------------------------------------------------------- random */

static uint64_t rng_state;
static int thru_toggles = 1; /* SOAK_THRU_TOGGLES=0: thru keeps its value through a run */
static int absurd_hold; /* SOAK_ABSURD_HOLD=1: an absurd transport stays until the next change */

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return n ? (uint32_t)(rnd() % n) : 0;
}

static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd() >> 11) * 0x1.0p-53;
}

static int chance(double p)
{
    return uniform(0, 1) < p;
}

/* ------------------------------------------------------------- models */

typedef struct {
    char path[640];
    const char *what;
    int valid; /* 1: must load, 0: must be refused */
} model_file;

#define MAX_MODELS 24
static model_file models[MAX_MODELS];
static int n_models;

static void add_model(const char *path, const char *what, int valid)
{
    model_file *m = &models[n_models++];
    snprintf(m->path, sizeof m->path, "%s", path);
    m->what = what;
    m->valid = valid;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = len > 0 ? malloc((size_t)len) : NULL;
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = b ? (size_t)len : 0;
    return b;
}

/* A preset with random weights (a large one, to weigh on the step budget). */
static int write_random_preset(const char *path, rnn_kind kind, rnn_cell cell, int layers,
                               int embed, int hidden)
{
    rnn_model_config cfg = {kind, 4, cell, layers, embed, hidden, rnn_kind_vocab(kind), 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(&cfg, specs);
    if (n < 0) return -1;
    float *t[RNN_MAX_TENSORS] = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!(t[i] = malloc(specs[i].count * sizeof(float)))) rc = -1;
        float scale = 1.5f / sqrtf((float)specs[i].shape[1]);
        for (size_t j = 0; rc == 0 && j < specs[i].count; j++)
            t[i][j] = (float)uniform(-scale, scale);
    }
    const rnn_meta meta[] = {{"name", "soak: random weights, not a model"}};
    char err[512];
    if (rc == 0 &&
        rnn_model_write(path, &cfg, meta, 1, (const float *const *)t, err, sizeof err) < 0) {
        fprintf(stderr, "soak: %s\n", err);
        rc = -1;
    }
    for (int i = 0; i < n; i++)
        free(t[i]);
    return rc;
}

/* The shipped presets, then files made in dir: a large valid preset and
 * damaged ones of every kind the reader must refuse. */
static int make_models(const char *dir, const char *presets)
{
    static const char *shipped[] = {"melody-lstm", "melody-gru", "melody-rnn", "drums-gru"};
    char p[600];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s.rnnw", presets, shipped[i]);
        if (access(p, R_OK) != 0) {
            fprintf(stderr, "soak: %s: missing\n", p);
            return -1;
        }
        add_model(p, "shipped", 1);
    }
    snprintf(p, sizeof p, "%s/big-gru.rnnw", dir);
    if (write_random_preset(p, RNN_KIND_MELODY, RNN_CELL_GRU, 2, 64, 768) < 0) return -1;
    add_model(p, "large", 1);
    snprintf(p, sizeof p, "%s/big-drums-lstm.rnnw", dir);
    if (write_random_preset(p, RNN_KIND_DRUMS, RNN_CELL_LSTM, 3, 32, 256) < 0) return -1;
    add_model(p, "large", 1);

    size_t n;
    uint8_t *src = read_all(models[2].path, &n);
    if (!src || n < 4096) return -1;
    src[n / 2] ^= 0x40; /* one bit in the weights */
    snprintf(p, sizeof p, "%s/bitflip.rnnw", dir);
    if (write_bytes(p, src, n) < 0) return -1;
    add_model(p, "bit flip", 0);
    src[n / 2] ^= 0x40;
    snprintf(p, sizeof p, "%s/truncated.rnnw", dir);
    if (write_bytes(p, src, n / 3) < 0) return -1;
    add_model(p, "truncated", 0);
    uint8_t *longer = malloc(n + 1);
    if (!longer) return -1;
    memcpy(longer, src, n);
    longer[n] = 0;
    snprintf(p, sizeof p, "%s/trailing.rnnw", dir);
    int rc = write_bytes(p, longer, n + 1);
    free(longer);
    if (rc < 0) return -1;
    add_model(p, "trailing byte", 0);
    /* a header asking for 4 LSTM layers of 4096: over the size limit */
    memcpy(src + 24, "\x01\0\0\0\x04\0\0\0\0\0\0\0\0\x10\0\0", 16);
    snprintf(p, sizeof p, "%s/huge-header.rnnw", dir);
    if (write_bytes(p, src, 4096) < 0) return -1;
    add_model(p, "huge header", 0);
    free(src);

    /* over 512 MiB (sparse: no disk used), starting like a preset */
    snprintf(p, sizeof p, "%s/oversized.rnnw", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "RNNW\0\r\n\x1a", 8) != 8 || ftruncate(fd, (off_t)600 << 20) != 0)
        return -1;
    close(fd);
    add_model(p, "oversized", 0);
    snprintf(p, sizeof p, "%s/garbage.rnnw", dir);
    if (write_bytes(p, "RNNW but not really a preset", 28) < 0) return -1;
    add_model(p, "garbage", 0);
    snprintf(p, sizeof p, "%s/empty.rnnw", dir);
    if (write_bytes(p, "", 0) < 0) return -1;
    add_model(p, "empty", 0);
    add_model(dir, "a folder", 0);
    snprintf(p, sizeof p, "%s/missing.rnnw", dir);
    add_model(p, "missing", 0);
    return 0;
}

/* --------------------------------------------------------- the figures */

typedef struct {
    uint64_t blocks, frames, runs, notes_on, notes_off, thru_on;
    uint64_t stuck_generated, stuck_thru, bad_events, malformed;
    uint64_t rt_calls, loads_ok, loads_refused, load_mismatch, swaps, restores, saves;
    uint64_t floods, flood_events, absurd_transport, relocations_sent, stops;
    uint64_t steps, net_steps, late_steps, dropped, relocations;
    long long steps_skipped;
    uint64_t nonfinite_steps;
    double audio_seconds;
    double cpu_seconds[2], input_seconds[2]; /* run() CPU time, audio time: [1] detector on */
    /* the worst block of 64 frames or more, CPU time over its period */
    double worst_fraction, worst_fraction_sane, worst_fraction_midi, worst_fraction_wall;
    double worst_us; /* CPU time of the costliest block, any size */
    uint32_t worst_frames;
    double worst_rate;
    int worst_heavy, worst_audio;
    uint64_t worst_steps, worst_net_steps, worst_late, worst_block; /* in that block */
    uint32_t worst_events_in;
    char worst_model[640];
} soak_figures;

static soak_figures fig;

/* --------------------------------------------------------- the host */

/* Player channels (12..16 without 10); the engine plays on 1..11. */
#define PLAYER_CH0 11
#define PLAYER_CHANNELS 5
#define OUT_CHANNELS 11

typedef struct {
    host_plugin *hp;
    const LV2_Descriptor *d;
    LV2_Handle h;
    const LV2_State_Interface *state;
    rnn_engine *engine;
    double rate;
    /* the transport as the host sees it */
    int rolling, absurd;
    uint32_t events_in;    /* MIDI events the host sent in this block */
    double bpm, bpb, beat; /* beat: position in beats (of the beat unit) */
    int unit;
    /* the player */
    uint8_t held[16][128];
    /* the output: note sounding per channel and pitch, 1 generated, 2 thru */
    uint8_t sounding[16][128];
    /* a load whose answer is checked a block later */
    int check_load, expect_valid;
    int swap_model;
    double next_swap, next_params, next_transport, next_flood, next_source, next_state;
    double t; /* seconds of audio in this run */
    char saved[512];
    float phase, tone, tone_amp;
    double run_start_ns;
} soak_run;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* CPU time of this thread: on a shared machine the wall time of a block
 * counts the time other processes had the core. */
static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int audio_phase; /* 1: run(), 2: work_response() */
static double t_enter, t_run, c_enter, c_run;

static void arm(void)
{
    audio_phase++;
    rt_calls = 0;
    t_enter = now_ns();
    c_enter = cpu_ns();
    rt_armed = 1;
}

static void disarm(void)
{
    rt_armed = 0;
    double c = cpu_ns() - c_enter, t = now_ns() - t_enter;
    if (audio_phase == 1) t_run = t, c_run = c;
    fig.rt_calls += (uint64_t)rt_calls;
    rt_calls = 0;
}

/* time:Position with every field, as doubles and longs where LV2 allows. */
static void send_position(soak_run *r, uint32_t frame, double speed, double bpm, double bpb,
                          int unit, double beat)
{
    host_plugin *hp = r->hp;
    LV2_Atom_Forge *f = &hp->forge;
    LV2_Atom_Forge_Frame obj;
    double bar = isfinite(beat) && isfinite(bpb) && bpb > 0 ? floor(beat / bpb) : 0;
    double bar_beat = isfinite(beat) && isfinite(bpb) && bpb > 0 ? beat - bar * bpb : beat;
    lv2_atom_forge_frame_time(f, frame);
    lv2_atom_forge_object(f, &obj, 0, host_map(NULL, LV2_TIME__Position));
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__frame));
    lv2_atom_forge_long(f, hp->pos + frame);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__speed));
    lv2_atom_forge_float(f, (float)speed);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__bar));
    lv2_atom_forge_long(f, fabs(bar) < 9e18 ? (int64_t)bar : 0);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__barBeat));
    lv2_atom_forge_float(f, (float)bar_beat);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__beatUnit));
    lv2_atom_forge_int(f, unit);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__beatsPerBar));
    lv2_atom_forge_float(f, (float)bpb);
    lv2_atom_forge_key(f, host_map(NULL, LV2_TIME__beatsPerMinute));
    if (chance(0.5))
        lv2_atom_forge_double(f, bpm);
    else
        lv2_atom_forge_float(f, (float)bpm);
    lv2_atom_forge_pop(f, &obj);
}

static const double absurd_values[] = {1e6, 0, -120, NAN, INFINITY, -INFINITY, 1e-9, 3e38};

/* The host's transport for this block: changes, stops, jumps, absurd values. */
static void block_transport(soak_run *r, uint32_t *frames, int *heavy)
{
    if (r->absurd && !absurd_hold) { /* the host comes back to its senses */
        r->absurd = 0;
        send_position(r, 0, r->rolling, r->bpm, r->bpb, r->unit, r->beat);
        return;
    }
    if (r->t >= r->next_transport) {
        r->next_transport = r->t + uniform(0.5, 30);
        uint32_t what = below(10);
        if (what == 0 && r->rolling) { /* stop */
            r->rolling = 0;
            fig.stops++;
        } else if (what <= 1) { /* start, or a jump while rolling */
            if (r->rolling) fig.relocations_sent++;
            r->rolling = 1;
            r->beat = floor(uniform(-8, 2000));
        } else if (what == 2) {
            r->beat += uniform(-64, 64); /* a jump off the grid */
            fig.relocations_sent++;
        } else if (what <= 5) {
            r->bpm = uniform(30, 300);
        } else if (what <= 7) {
            static const double bpbs[] = {2, 3, 4, 5, 6, 7, 9, 12, 0.5, 1};
            static const int units[] = {4, 4, 8, 2, 16, 1};
            r->bpb = bpbs[below(10)];
            r->unit = units[below(6)];
        } else if (what == 8) { /* absurd values, for this one block */
            double v = absurd_values[below(8)];
            fig.absurd_transport++;
            uint32_t field = below(4);
            /* a tempo or speed that asks for a step every frame */
            *heavy = (field == 0 || field == 3) && v > 1000 && isfinite(v);
            r->absurd = 1;
            if (*heavy && *frames > 1024 && !absurd_hold) *frames = 1024; /* keep it short */
            send_position(r, below(*frames + 1), field == 3 ? v : r->rolling,
                          field == 0 ? v : r->bpm, field == 1 ? v : r->bpb,
                          field == 2 ? (int)below(3) * -4 : r->unit, r->beat);
            return;
        } else if (r->rolling) {
            r->bpm = uniform(40, 200);
        }
        send_position(r, 0, r->rolling, r->bpm, r->bpb, r->unit, r->beat);
        return;
    }
    /* a rolling host mostly says where it is every block */
    if (r->rolling && chance(0.8)) send_position(r, 0, 1, r->bpm, r->bpb, r->unit, r->beat);
}

static void play_note(soak_run *r, uint32_t frame, int on, int ch, int pitch, int vel)
{
    r->events_in++;
    host_midi(r->hp, frame, (uint8_t)((on ? 0x90 : 0x80) | ch), (uint8_t)pitch,
              (uint8_t)(on ? vel : 0));
    r->held[ch][pitch] = (uint8_t)on;
}

/* The player: a few notes and releases, now and then a flood. */
static void block_player(soak_run *r, uint32_t frames)
{
    if (frames == 0) return;
    if (r->t >= r->next_flood) {
        r->next_flood = r->t + uniform(5, 120);
        uint32_t n = 1000 + below(4000);
        fig.floods++;
        fig.flood_events += n;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t frame = (uint32_t)((uint64_t)i * frames / n);
            int ch = PLAYER_CH0 + (int)below(PLAYER_CHANNELS);
            uint32_t kind = below(8);
            if (kind < 5) {
                int pitch = 24 + (int)below(80);
                play_note(r, frame, !r->held[ch][pitch], ch, pitch, 1 + (int)below(127));
            } else if (kind == 5) {
                r->events_in++;
                host_midi(r->hp, frame, (uint8_t)(0xb0 | ch), (uint8_t)below(120),
                          (uint8_t)below(128));
            } else if (kind == 6) {
                r->events_in++;
                host_midi(r->hp, frame, (uint8_t)(0xe0 | ch), (uint8_t)below(128),
                          (uint8_t)below(128));
            } else {
                r->events_in++;
                host_midi(r->hp, frame, 0x90 | (uint8_t)ch, (uint8_t)(24 + below(80)), 0);
                /* a note-on of velocity 0 is a note-off */
            }
        }
        return;
    }
    uint32_t n = chance(0.3) ? below(6) : 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t frame = (uint32_t)((uint64_t)i * frames / n);
        int ch = PLAYER_CH0 + (int)below(PLAYER_CHANNELS);
        int pitch = 36 + (int)below(60);
        /* held notes: a key stays down a while (released by a later block) */
        play_note(r, frame, !r->held[ch][pitch] && chance(0.7), ch, pitch, 1 + (int)below(127));
    }
}

static void release_all(soak_run *r, uint32_t frame)
{
    for (int ch = 0; ch < 16; ch++)
        for (int p = 0; p < 128; p++)
            if (r->held[ch][p]) play_note(r, frame, 0, ch, p, 0);
}

/* Settings: every control now and then, out-of-range and NaN values too;
 * the seed stays non-zero (a zero seed draws from the clock). */
static void block_params(soak_run *r)
{
    if (r->t < r->next_params) return;
    r->next_params = r->t + uniform(1, 20);
    float *c = r->hp->controls;
    int port = RNNMIDI_FIRST_CONTROL + (int)below(RNNMIDI_N_PORTS - RNNMIDI_FIRST_CONTROL);
    if (port == RNNMIDI_INPUT_SOURCE) return; /* block_source's */
    if (port == RNNMIDI_THRU && !thru_toggles) return;
    float v;
    switch (below(12)) {
    case 0:
        v = NAN;
        break;
    case 1:
        v = (float)uniform(-1e6, 1e6);
        break;
    default:
        v = (float)uniform(-0.5, 1.5);
        break;
    }
    switch (port) {
    case RNNMIDI_MODE:
        v = (float)below(3);
        break;
    case RNNMIDI_SEED:
        v = (float)(1 + below(16777214));
        break;
    case RNNMIDI_CHANNEL:
        v = (float)(1 + below(OUT_CHANNELS));
        break;
    case RNNMIDI_THRU:
        v = (float)below(2);
        break;
    case RNNMIDI_KEY:
    case RNNMIDI_SCALE:
        v = isfinite(v) ? v * 12 : v;
        break;
    case RNNMIDI_LOWEST:
    case RNNMIDI_HIGHEST:
    case RNNMIDI_VELOCITY:
        v = isfinite(v) ? v * 127 : v;
        break;
    case RNNMIDI_TEMPO:
        v = isfinite(v) ? v * 300 : v;
        break;
    case RNNMIDI_RESPONSE_BARS:
    case RNNMIDI_REPEAT_LIMIT:
        v = isfinite(v) ? v * 20 : v;
        break;
    default:
        break;
    }
    c[port] = v;
}

/* The input source and the sung tone. */
static void block_source(soak_run *r, uint32_t frames)
{
    float *c = r->hp->controls;
    if (r->t >= r->next_source) {
        /* mostly MIDI: the detector is the slow part of an audio-time hour */
        c[RNNMIDI_INPUT_SOURCE] = chance(0.95) ? RNNMIDI_SOURCE_MIDI : 1 + (float)below(2);
        r->next_source = r->t + uniform(2, 60);
        r->tone = (float)(110.0 * pow(2.0, below(36) / 12.0));
    }
    if (c[RNNMIDI_INPUT_SOURCE] == RNNMIDI_SOURCE_MIDI) {
        memset(r->hp->audio, 0, frames * sizeof(float));
        return;
    }
    const float w = 2 * 3.14159265f * r->tone / (float)r->rate;
    for (uint32_t i = 0; i < frames; i++) {
        if (i % 4096 == 0 && chance(0.05)) r->tone_amp = r->tone_amp > 0 ? 0 : 0.3f;
        r->hp->audio[i] = r->tone_amp * sinf(r->phase);
        r->phase += w;
        if (r->phase > 2 * 3.14159265f) r->phase -= 2 * 3.14159265f;
    }
}

/* A patch:Set of a model every few seconds; its answer is checked in the
 * block after the worker has answered. */
static void block_swap(soak_run *r, uint32_t frames)
{
    host_plugin *hp = r->hp;
    hp->queue_full = 0;
    hp->hold = 0;
    if (r->check_load) return;
    if (r->t < r->next_swap) {
        /* the host's worker queue, now and then full or slow */
        hp->queue_full = chance(0.002);
        hp->hold = !hp->queue_full && chance(0.002);
        return;
    }
    r->next_swap = r->t + uniform(2, 15);
    /* the large presets and the damaged ones less often than the shipped */
    int i = chance(0.6) ? (int)below(4) : (int)below((uint32_t)n_models);
    host_set_model(hp, below(frames + 1), models[i].path);
    r->swap_model = i;
    r->check_load = 2;
    r->expect_valid = models[i].valid;
    fig.swaps++;
}

static void check_load(soak_run *r)
{
    host_plugin *hp = r->hp;
    int loaded = strncmp(hp->status, "loaded", 6) == 0;
    int refused = strncmp(hp->status, "error:", 6) == 0;
    if (loaded) fig.loads_ok++;
    if (refused) fig.loads_refused++;
    if (loaded != r->expect_valid || loaded == refused) {
        fig.load_mismatch++;
        fprintf(stderr, "soak: %s preset %s: status '%s'\n", models[r->swap_model].what,
                models[r->swap_model].path, hp->status);
    }
    r->check_load = 0;
}

/* State: save what plays, and now and then restore a state saved earlier
 * (as a host loading a session; never during run()). */
typedef struct {
    char value[512];
    uint32_t type;
    size_t size;
} state_slot;

static LV2_State_Status store_cb(LV2_State_Handle handle, uint32_t key, const void *value,
                                 size_t size, uint32_t type, uint32_t flags)
{
    (void)key, (void)flags;
    state_slot *s = handle;
    if (size > sizeof s->value) return LV2_STATE_ERR_NO_SPACE;
    memcpy(s->value, value, size);
    s->size = size;
    s->type = type;
    return LV2_STATE_SUCCESS;
}

static const void *retrieve_cb(LV2_State_Handle handle, uint32_t key, size_t *size, uint32_t *type,
                               uint32_t *flags)
{
    (void)key;
    state_slot *s = handle;
    if (!s->size) return NULL;
    *size = s->size;
    *type = s->type;
    *flags = LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE;
    return s->value;
}

static state_slot saved_state;

static void between_blocks(soak_run *r)
{
    if (r->t < r->next_state || r->check_load) return;
    r->next_state = r->t + uniform(30, 600);
    state_slot now = {0};
    if (r->state->save(r->h, store_cb, &now, LV2_STATE_IS_POD, r->hp->features) ==
            LV2_STATE_SUCCESS &&
        now.size)
        fig.saves++;
    if (saved_state.size && chance(0.5)) {
        r->state->restore(r->h, retrieve_cb, &saved_state, 0, r->hp->features);
        fig.restores++;
    }
    if (now.size) saved_state = now;
    if (chance(0.2)) { /* a host's bypass */
        r->d->deactivate(r->h);
        r->d->activate(r->h);
    }
}

/* The block's output: well-formed events in time order, notes tracked. */
static void block_output(soak_run *r, uint32_t frames)
{
    host_plugin *hp = r->hp;
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < hp->n_ev; i++) {
        const host_ev *e = &hp->ev[i];
        const uint8_t st = e->d[0] & 0xf0, ch = e->d[0] & 0x0f;
        int bad = e->frame < 0 || e->frame < prev || !(e->d[0] & 0x80);
        prev = e->frame;
        if (st == 0x80 || st == 0x90 || st == 0xa0 || st == 0xb0 || st == 0xe0)
            bad |= (e->d[1] | e->d[2]) >= 0x80;
        else if (st == 0xc0 || st == 0xd0)
            bad |= e->d[1] >= 0x80;
        if (st == 0x90 && e->d[2] > 0) {
            fig.notes_on++;
            if (ch >= PLAYER_CH0) fig.thru_on++;
            r->sounding[ch][e->d[1]] = ch >= PLAYER_CH0 ? 2 : 1;
        } else if (st == 0x80 || st == 0x90) {
            fig.notes_off++;
            r->sounding[ch][e->d[1]] = 0;
        }
        if (bad) {
            if (fig.bad_events < 10)
                fprintf(stderr, "soak: bad event %02x %02x %02x at frame %lld\n", e->d[0], e->d[1],
                        e->d[2], (long long)e->frame);
            fig.bad_events++;
        }
    }
    (void)frames;
    hp->n_ev = 0;
}

static uint32_t block_size(void)
{
    uint32_t k = below(100);
    if (k < 2) return 0;
    if (k < 10) return 1 + below(16);
    if (k < 40) return 64u << below(8); /* 64 .. 8192 */
    return 1 + below(8192);
}

static void block_timing(soak_run *r, uint32_t frames, int heavy, const rnn_engine_stats *before)
{
    const int audio = r->hp->controls[RNNMIDI_INPUT_SOURCE] != RNNMIDI_SOURCE_MIDI;
    const double period = frames / r->rate;
    fig.cpu_seconds[audio] += c_run / 1e9;
    fig.input_seconds[audio] += period;
    if (c_run / 1e3 > fig.worst_us) fig.worst_us = c_run / 1e3;
    if (frames < 64) return;
    const double frac = c_run / 1e9 / period, wall = t_run / 1e9 / period;
    if (frac > fig.worst_fraction) {
        fig.worst_fraction = frac;
        fig.worst_frames = frames;
        fig.worst_rate = r->rate;
        fig.worst_heavy = heavy;
        fig.worst_audio = audio;
        rnn_engine_stats after;
        rnn_engine_get_stats(r->engine, &after);
        fig.worst_steps = after.steps - before->steps;
        fig.worst_net_steps = after.net_steps - before->net_steps;
        fig.worst_late = after.late_steps - before->late_steps;
        fig.worst_block = fig.blocks;
        fig.worst_events_in = r->events_in;
        const rnn_engine_model *em = rnn_engine_get_model(r->engine);
        snprintf(fig.worst_model, sizeof fig.worst_model, "%s",
                 em ? rnn_engine_model_path(em) : "none");
    }
    if (!heavy && frac > fig.worst_fraction_sane) fig.worst_fraction_sane = frac;
    if (!audio && !heavy && frac > fig.worst_fraction_midi) fig.worst_fraction_midi = frac;
    if (wall > fig.worst_fraction_wall) fig.worst_fraction_wall = wall;
}

static void add_stats(const rnn_engine_stats *st)
{
    fig.steps += st->steps;
    fig.net_steps += st->net_steps;
    fig.late_steps += st->late_steps;
    fig.dropped += st->dropped;
    fig.relocations += st->relocations;
    long long sk = engine_steps_skipped(st);
    fig.steps_skipped = sk < 0 ? -1 : fig.steps_skipped + sk;
    fig.nonfinite_steps += st->nonfinite_steps;
}

/* One block: the host's events, run(), the worker, the output. */
static void one_block(soak_run *r, uint32_t frames, int final)
{
    host_plugin *hp = r->hp;
    host_begin(hp);
    r->events_in = 0;
    int heavy = 0;
    if (!final) {
        block_transport(r, &frames, &heavy);
        block_player(r, frames);
        block_params(r);
        block_swap(r, frames);
    }
    block_source(r, frames);
    audio_phase = 0;
    rnn_engine_stats before;
    rnn_engine_get_stats(r->engine, &before);
    host_run(hp, frames);
    block_timing(r, frames, heavy, &before);
    block_output(r, frames);
    fig.malformed = (uint64_t)hp->malformed;
    /* the worker answered in this host_run; the status comes with the next run() */
    if (r->check_load == 1) check_load(r);
    if (r->check_load == 2) r->check_load = 1;
    double dt = frames / r->rate;
    r->t += dt;
    fig.audio_seconds += dt;
    fig.frames += frames;
    fig.blocks++;
    if (r->rolling) r->beat += dt * r->bpm / 60.0;
}

/* One instance through `seconds` of audio at a random rate, then a final
 * stop with every key released: nothing may still sound. */
static int one_run(const char *bundle, double seconds)
{
    soak_run r = {0};
    static const double rates[] = {22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000};
    r.rate = chance(0.5) ? rates[below(8)] : floor(uniform(22050, 192000));
    r.hp = host_new();
    if (!r.hp) return -1;
    r.d = lv2_descriptor(0);
    r.h = r.d->instantiate(r.d, r.rate, bundle, r.hp->features);
    if (!r.h) return -1;
    host_attach(r.hp, r.d, r.h);
    r.state = r.d->extension_data(LV2_STATE__interface);
    r.engine = current_engine;
    r.hp->controls[RNNMIDI_SEED] = (float)(1 + below(16777214));
    r.hp->controls[RNNMIDI_CHANNEL] = (float)(1 + below(OUT_CHANNELS));
    r.hp->controls[RNNMIDI_THRU] = (float)below(2);
    r.bpm = 120, r.bpb = 4, r.unit = 4;
    r.rolling = chance(0.7);
    r.next_swap = uniform(0, 5);
    r.next_flood = uniform(0, 60);
    r.next_state = uniform(10, 300);
    host_log_quiet = 1;
    r.d->activate(r.h);

    while (r.t < seconds) {
        one_block(&r, block_size(), 0);
        between_blocks(&r);
    }
    /* the end: answer any load, release every key, stop, and let it settle */
    host_begin(r.hp);
    release_all(&r, 0);
    host_run(r.hp, 256);
    block_output(&r, 256);
    host_begin(r.hp);
    send_position(&r, 0, 0, r.bpm, r.bpb, r.unit, r.beat);
    host_run(r.hp, 256);
    block_output(&r, 256);
    for (int i = 0; i < 4; i++)
        one_block(&r, 512, 1);
    for (int ch = 0; ch < 16; ch++)
        for (int p = 0; p < 128; p++) {
            if (r.sounding[ch][p] == 1) fig.stuck_generated++;
            if (r.sounding[ch][p] == 2) fig.stuck_thru++;
            if (r.sounding[ch][p] && fig.stuck_generated + fig.stuck_thru <= 10)
                fprintf(stderr, "soak: run %llu: note %d on channel %d left sounding (%s)\n",
                        (unsigned long long)fig.runs, p, ch + 1,
                        r.sounding[ch][p] == 1 ? "generated" : "thru");
        }
    rnn_engine_stats st;
    rnn_engine_get_stats(r.engine, &st);
    add_stats(&st);
    r.d->deactivate(r.h);
    r.d->cleanup(r.h);
    host_free(r.hp);
    fig.runs++;
    return 0;
}

/* -------------------------------------------------------------- main */

static double env_num(const char *name, double def)
{
    const char *s = getenv(name);
    return s && *s ? strtod(s, NULL) : def;
}

static void print_figures(double hours, uint64_t seed, double wall)
{
    printf("SOAK seed %llu\n", (unsigned long long)seed);
    printf("SOAK hours %.3f\n", hours);
    printf("SOAK wall_seconds %.1f\n", wall);
    printf("SOAK runs %llu\n", (unsigned long long)fig.runs);
    printf("SOAK blocks %llu\n", (unsigned long long)fig.blocks);
    printf("SOAK notes_on %llu\n", (unsigned long long)fig.notes_on);
    printf("SOAK notes_on_thru %llu\n", (unsigned long long)fig.thru_on);
    printf("SOAK notes_off %llu\n", (unsigned long long)fig.notes_off);
    printf("SOAK stuck_notes %llu\n", (unsigned long long)(fig.stuck_generated + fig.stuck_thru));
    printf("SOAK stuck_notes_generated %llu\n", (unsigned long long)fig.stuck_generated);
    printf("SOAK stuck_notes_thru %llu\n", (unsigned long long)fig.stuck_thru);
    printf("SOAK nan_inf_bad_events %llu\n", (unsigned long long)fig.bad_events);
    printf("SOAK malformed_sequences %llu\n", (unsigned long long)fig.malformed);
    printf("SOAK rt_allocs_locks %llu\n", (unsigned long long)fig.rt_calls);
    printf("SOAK worst_block_fraction %.4f\n", fig.worst_fraction);
    printf("SOAK worst_block_frames %u\n", fig.worst_frames);
    printf("SOAK worst_block_rate %.0f\n", fig.worst_rate);
    printf("SOAK worst_block_absurd_tempo %d\n", fig.worst_heavy);
    printf("SOAK worst_block_audio_input %d\n", fig.worst_audio);
    printf("SOAK worst_block_index %llu\n", (unsigned long long)fig.worst_block);
    printf("SOAK worst_block_midi_in %u\n", fig.worst_events_in);
    printf("SOAK worst_block_ticks %llu\n", (unsigned long long)fig.worst_steps);
    printf("SOAK worst_block_net_steps %llu\n", (unsigned long long)fig.worst_net_steps);
    printf("SOAK worst_block_late_steps %llu\n", (unsigned long long)fig.worst_late);
    printf("SOAK worst_block_model %s\n", fig.worst_model);
    printf("SOAK worst_block_fraction_sane_tempo %.4f\n", fig.worst_fraction_sane);
    printf("SOAK worst_block_fraction_midi_input %.4f\n", fig.worst_fraction_midi);
    printf("SOAK worst_block_fraction_wall %.4f\n", fig.worst_fraction_wall);
    printf("SOAK worst_block_cpu_us %.1f\n", fig.worst_us);
    printf("SOAK mean_load_midi_input %.5f\n",
           fig.input_seconds[0] > 0 ? fig.cpu_seconds[0] / fig.input_seconds[0] : 0);
    printf("SOAK mean_load_audio_input %.5f\n",
           fig.input_seconds[1] > 0 ? fig.cpu_seconds[1] / fig.input_seconds[1] : 0);
    printf("SOAK audio_input_hours %.3f\n", fig.input_seconds[1] / 3600);
    printf("SOAK steps %llu\n", (unsigned long long)fig.steps);
    printf("SOAK net_steps %llu\n", (unsigned long long)fig.net_steps);
    printf("SOAK late_steps %llu\n", (unsigned long long)fig.late_steps);
    if (fig.steps_skipped < 0)
        printf("SOAK steps_skipped n/a\n");
    else
        printf("SOAK steps_skipped %lld\n", fig.steps_skipped);
    printf("SOAK nonfinite_logit_steps %llu\n", (unsigned long long)fig.nonfinite_steps);
    printf("SOAK dropped_events %llu\n", (unsigned long long)fig.dropped);
    printf("SOAK relocations_seen %llu\n", (unsigned long long)fig.relocations);
    printf("SOAK relocations_sent %llu\n", (unsigned long long)fig.relocations_sent);
    printf("SOAK stops %llu\n", (unsigned long long)fig.stops);
    printf("SOAK absurd_transports %llu\n", (unsigned long long)fig.absurd_transport);
    printf("SOAK floods %llu\n", (unsigned long long)fig.floods);
    printf("SOAK flood_events %llu\n", (unsigned long long)fig.flood_events);
    printf("SOAK swaps %llu\n", (unsigned long long)fig.swaps);
    printf("SOAK loads_ok %llu\n", (unsigned long long)fig.loads_ok);
    printf("SOAK loads_refused %llu\n", (unsigned long long)fig.loads_refused);
    printf("SOAK load_mismatches %llu\n", (unsigned long long)fig.load_mismatch);
    printf("SOAK state_saves %llu\n", (unsigned long long)fig.saves);
    printf("SOAK state_restores %llu\n", (unsigned long long)fig.restores);
}

int main(int argc, char **argv)
{
    const char *bundle = argc > 1 ? argv[1] : "build/rnnmidi.lv2/";
    const char *presets = argc > 2 ? argv[2] : "presets";
    const char *dir = argc > 3 ? argv[3] : "build/soak";
    double hours = env_num("SOAK_HOURS", 10);
    thru_toggles = env_num("SOAK_THRU_TOGGLES", 1) != 0;
    absurd_hold = env_num("SOAK_ABSURD_HOLD", 0) != 0;
    uint64_t seed = (uint64_t)env_num("SOAK_SEED", 0);
    if (seed == 0) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng_state = seed;
    printf("SOAK seed %llu (SOAK_SEED=%llu SOAK_HOURS=%g SOAK_THRU_TOGGLES=%d SOAK_ABSURD_HOLD=%d "
           "reproduce this run)\n",
           (unsigned long long)seed, (unsigned long long)seed, hours, thru_toggles, absurd_hold);
    fflush(stdout);

    if (counter_self_check(bundle) != 0) {
        fprintf(stderr, "soak: the allocation counter misses the calls of libaubio, glibc or "
                        "the plugin\n");
        return 1;
    }
    mkdir(dir, 0755);
    if (make_models(dir, presets) < 0) {
        fprintf(stderr, "soak: cannot make the model files in %s\n", dir);
        return 1;
    }
    double wall0 = now_ns();
    host_audio_enter = arm;
    host_audio_leave = disarm;
    double left = hours * 3600;
    while (left > 0) {
        double seconds = uniform(600, 3600);
        if (seconds > left) seconds = left;
        if (one_run(bundle, seconds) < 0) {
            fprintf(stderr, "soak: the plugin did not instantiate\n");
            return 1;
        }
        left -= seconds;
    }
    host_audio_enter = host_audio_leave = NULL;
    host_free_uris();
    print_figures(hours, seed, (now_ns() - wall0) / 1e9);

    int fail = 0;
#define INVARIANT(cond, what)                                                                      \
    if (!(cond)) {                                                                                 \
        fprintf(stderr, "soak: FAILED: %s\n", what);                                               \
        fail = 1;                                                                                  \
    }
    INVARIANT(fig.stuck_generated + fig.stuck_thru == 0, "notes left sounding after the stop");
    INVARIANT(fig.bad_events == 0, "malformed output events");
    INVARIANT(fig.malformed == 0, "malformed notify sequences");
    INVARIANT(fig.rt_calls == 0, "allocations or locks in run() or work_response()");
    INVARIANT(fig.load_mismatch == 0, "a load answered against what the file is");
    INVARIANT(fig.nonfinite_steps == 0, "non-finite logits");
    INVARIANT(hours < 1 || fig.notes_on > fig.thru_on, "the plugin played no note of its own");
    printf("SOAK result %s\n", fail ? "FAIL" : "PASS");
    return fail;
}
