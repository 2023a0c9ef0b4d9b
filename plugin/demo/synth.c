/* SPDX-License-Identifier: MIT */
/* rnnmidi demo synth: voices, drums, echo and the output limiter.
 *
 * Per-sample envelopes are one-pole exponentials (multiply by a decay
 * coefficient), filters are Zavalishin/Cytomic TPT state-variable filters,
 * saws are band-limited with polyBLEP. All memory is taken in
 * demo_synth_create; the audio-thread functions only touch that. */
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.28318530717958647692f
#define ECHO_SECONDS 0.5
#define MASTER_GAIN 0.7f /* about 3 dB of headroom before the limiter */

typedef enum { ENV_OFF = 0, ENV_ATTACK, ENV_DECAY, ENV_RELEASE } env_stage;

/* A linear-attack, exponential decay/release envelope. */
typedef struct {
    env_stage stage;
    float value;
    float attack_step; /* per sample, linear */
    float decay_coef;  /* towards sustain */
    float sustain;
    float release_coef;
} envelope;

/* Cytomic TPT state-variable filter state and coefficients. */
typedef struct {
    float ic1, ic2;
    float a1, a2, a3, k;
} svf;

typedef struct {
    int active;
    int channel, pitch;
    demo_timbre timbre;
    uint32_t age;
    float gain; /* from velocity */
    float pan_l, pan_r;
    float freq, dt; /* Hz, cycles per sample */
    float ph1, ph2, ph_mod;
    envelope amp, mod;
    svf lp;
    float cutoff_base, cutoff_depth;
    int coef_countdown;
} voice;

typedef enum {
    DRUM_KICK,
    DRUM_SNARE,
    DRUM_RIM,
    DRUM_CLAP,
    DRUM_HAT_CLOSED,
    DRUM_HAT_PEDAL,
    DRUM_HAT_OPEN,
    DRUM_TOM,
    DRUM_CRASH,
    DRUM_RIDE,
    DRUM_PERC
} drum_kind;

typedef struct {
    int active;
    int pitch;
    drum_kind kind;
    uint32_t age;
    float gain, pan_l, pan_r;
    float t; /* seconds since the hit */
    /* tone: a sine whose pitch falls from f0 to f1 */
    float tone_phase, tone_f1, tone_df, pitch_env, pitch_coef;
    float tone_env, tone_coef, tone_level;
    /* noise through a filter */
    float noise_env, noise_coef, noise_level;
    svf noise_f;
    int noise_mode; /* 0 low-pass, 1 band-pass, 2 high-pass */
    /* six square oscillators (cymbal metal) */
    float metal_ph[6];
    float metal_env, metal_coef, metal_level, metal_scale;
    svf metal_f;
} drum_voice;

struct demo_synth {
    float sr;
    uint32_t rng;
    uint32_t clock;
    demo_timbre timbre[16];
    voice voices[DEMO_SYNTH_VOICES];
    drum_voice drums[DEMO_SYNTH_DRUM_VOICES];
    /* ping-pong echo on the lead */
    float *echo_l, *echo_r;
    size_t echo_len, echo_pos, echo_delay;
    float echo_damp_l, echo_damp_r;
    /* DC blocker (one-pole high-pass) and limiter on the master */
    float dc_x[2], dc_y[2], dc_r;
    float lim_gain, lim_release;
};

/* ---- helpers ------------------------------------------------------------ */

static float coef_for(float seconds, float sr)
{
    if (seconds <= 0.0f) return 0.0f;
    return expf(-1.0f / (seconds * sr));
}

static float noise(demo_synth *s)
{
    uint32_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s->rng = x;
    return (float)(int32_t)x * (1.0f / 2147483648.0f);
}

static void svf_set(svf *f, float cutoff, float q, float sr)
{
    float fc = cutoff;
    if (fc < 20.0f) fc = 20.0f;
    if (fc > 0.45f * sr) fc = 0.45f * sr;
    float g = tanf(3.14159265f * fc / sr);
    f->k = 1.0f / q;
    f->a1 = 1.0f / (1.0f + g * (g + f->k));
    f->a2 = g * f->a1;
    f->a3 = g * f->a2;
}

/* Returns the low-pass output; *band and *high receive the other two. */
static float svf_run(svf *f, float v0, float *band, float *high)
{
    float v3 = v0 - f->ic2;
    float v1 = f->a1 * f->ic1 + f->a2 * v3;
    float v2 = f->ic2 + f->a2 * f->ic1 + f->a3 * v3;
    f->ic1 = 2.0f * v1 - f->ic1;
    f->ic2 = 2.0f * v2 - f->ic2;
    if (band) *band = v1;
    if (high) *high = v0 - f->k * v1 - v2;
    return v2;
}

static float polyblep(float t, float dt)
{
    if (t < dt) {
        t /= dt;
        return t + t - t * t - 1.0f;
    }
    if (t > 1.0f - dt) {
        t = (t - 1.0f) / dt;
        return t * t + t + t + 1.0f;
    }
    return 0.0f;
}

static float env_run(envelope *e)
{
    switch (e->stage) {
    case ENV_ATTACK:
        e->value += e->attack_step;
        if (e->value >= 1.0f) {
            e->value = 1.0f;
            e->stage = ENV_DECAY;
        }
        break;
    case ENV_DECAY:
        e->value = e->sustain + (e->value - e->sustain) * e->decay_coef;
        break;
    case ENV_RELEASE:
        e->value *= e->release_coef;
        if (e->value < 1e-5f) {
            e->value = 0.0f;
            e->stage = ENV_OFF;
        }
        break;
    case ENV_OFF:
        break;
    }
    return e->value;
}

static void env_start(envelope *e, float sr, float attack, float decay, float sustain,
                      float release)
{
    e->stage = ENV_ATTACK;
    e->attack_step = attack > 0.0f ? 1.0f / (attack * sr) : 1.0f;
    e->decay_coef = coef_for(decay, sr);
    e->sustain = sustain;
    e->release_coef = coef_for(release, sr);
}

static void pan_gains(float pan, float *l, float *r)
{
    /* equal power, pan in -1..1 */
    float a = (pan + 1.0f) * 0.25f * 3.14159265f;
    *l = cosf(a);
    *r = sinf(a);
}

/* ---- create / free -------------------------------------------------------- */

demo_synth *demo_synth_create(double sample_rate, uint64_t seed)
{
    if (!(sample_rate >= 8000.0 && sample_rate <= 384000.0)) return NULL;
    demo_synth *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->sr = (float)sample_rate;
    s->rng = (uint32_t)(seed ^ (seed >> 32)) * 2654435761u + 0x9e3779b9u;
    if (s->rng == 0) s->rng = 1;
    for (int c = 0; c < 16; c++)
        s->timbre[c] = DEMO_TIMBRE_LEAD;
    s->timbre[9] = DEMO_TIMBRE_DRUMS;
    s->echo_len = (size_t)(sample_rate * ECHO_SECONDS) + 1;
    s->echo_delay = (size_t)(sample_rate * 0.375); /* a dotted eighth at 120 BPM */
    s->echo_l = calloc(s->echo_len, sizeof(float));
    s->echo_r = calloc(s->echo_len, sizeof(float));
    if (!s->echo_l || !s->echo_r) {
        demo_synth_free(s);
        return NULL;
    }
    s->dc_r = 1.0f - 2.0f * 3.14159265f * 8.0f / s->sr; /* 8 Hz */
    s->lim_gain = 1.0f;
    s->lim_release = coef_for(0.15f, s->sr);
    return s;
}

void demo_synth_free(demo_synth *s)
{
    if (!s) return;
    free(s->echo_l);
    free(s->echo_r);
    free(s);
}

void demo_synth_set_timbre(demo_synth *s, int channel, demo_timbre timbre)
{
    if (channel < 0 || channel > 15) return;
    s->timbre[channel] = timbre;
}

/* ---- melodic voices ------------------------------------------------------- */

static void voice_on(demo_synth *s, int channel, int pitch, int velocity)
{
    voice *v = NULL;
    /* the same note again retriggers its voice */
    for (int i = 0; i < DEMO_SYNTH_VOICES && !v; i++)
        if (s->voices[i].active && s->voices[i].channel == channel && s->voices[i].pitch == pitch)
            v = &s->voices[i];
    for (int i = 0; i < DEMO_SYNTH_VOICES && !v; i++)
        if (!s->voices[i].active) v = &s->voices[i];
    if (!v) {
        /* steal the quietest releasing voice, else the oldest */
        float best = 2.0f;
        for (int i = 0; i < DEMO_SYNTH_VOICES; i++)
            if (s->voices[i].amp.stage == ENV_RELEASE && s->voices[i].amp.value < best) {
                best = s->voices[i].amp.value;
                v = &s->voices[i];
            }
        if (!v) {
            v = &s->voices[0];
            for (int i = 1; i < DEMO_SYNTH_VOICES; i++)
                if (s->clock - s->voices[i].age > s->clock - v->age) v = &s->voices[i];
        }
    }
    int retrigger = v->active && v->channel == channel && v->pitch == pitch;
    float vel = (float)velocity / 127.0f;
    v->active = 1;
    v->channel = channel;
    v->pitch = pitch;
    v->timbre = s->timbre[channel];
    v->age = s->clock++;
    v->freq = 440.0f * powf(2.0f, ((float)pitch - 69.0f) / 12.0f);
    v->dt = v->freq / s->sr;
    if (!retrigger) {
        v->ph1 = 0.0f;
        v->ph2 = 0.37f;
        v->ph_mod = 0.0f;
        memset(&v->lp, 0, sizeof v->lp);
    }
    /* spread pitches a little across the stereo field */
    pan_gains(((float)pitch - 64.0f) / 64.0f * 0.5f, &v->pan_l, &v->pan_r);
    v->coef_countdown = 0;
    if (v->timbre == DEMO_TIMBRE_KEYS) {
        v->gain = 0.16f * (0.3f + 0.7f * vel * vel);
        env_start(&v->amp, s->sr, 0.002f, 1.2f, 0.25f, 0.35f);
        env_start(&v->mod, s->sr, 0.001f, 0.35f, 0.15f, 0.3f);
    } else {
        v->gain = 0.11f * (0.35f + 0.65f * vel * vel);
        env_start(&v->amp, s->sr, 0.004f, 0.25f, 0.6f, 0.16f);
        env_start(&v->mod, s->sr, 0.002f, 0.22f, 0.2f, 0.2f);
        v->cutoff_base = 2.5f * v->freq + 300.0f;
        v->cutoff_depth = 2500.0f + 4500.0f * vel;
    }
}

static void voice_off(demo_synth *s, int channel, int pitch)
{
    for (int i = 0; i < DEMO_SYNTH_VOICES; i++) {
        voice *v = &s->voices[i];
        if (v->active && v->channel == channel && v->pitch == pitch &&
            v->amp.stage != ENV_RELEASE) {
            v->amp.stage = ENV_RELEASE;
            v->mod.stage = ENV_RELEASE;
        }
    }
}

/* Adds the voice into the dry (l, r) and echo-send (el, er) buses. */
static void voice_render(demo_synth *s, voice *v, float *l, float *r, float *send, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = env_run(&v->amp);
        float m = env_run(&v->mod);
        float x;
        if (v->timbre == DEMO_TIMBRE_KEYS) {
            /* two-operator FM, modulator at the carrier's frequency */
            float mod = sinf(TWO_PI * v->ph_mod) * (0.4f + 2.6f * m);
            x = sinf(TWO_PI * v->ph1 + mod);
            v->ph_mod += v->dt;
            if (v->ph_mod >= 1.0f) v->ph_mod -= 1.0f;
            v->ph1 += v->dt;
            if (v->ph1 >= 1.0f) v->ph1 -= 1.0f;
        } else {
            /* two saws 8 cents apart */
            float dt1 = v->dt * 1.0023f, dt2 = v->dt * 0.9977f;
            float s1 = 2.0f * v->ph1 - 1.0f - polyblep(v->ph1, dt1);
            float s2 = 2.0f * v->ph2 - 1.0f - polyblep(v->ph2, dt2);
            v->ph1 += dt1;
            if (v->ph1 >= 1.0f) v->ph1 -= 1.0f;
            v->ph2 += dt2;
            if (v->ph2 >= 1.0f) v->ph2 -= 1.0f;
            if (v->coef_countdown-- <= 0) {
                svf_set(&v->lp, v->cutoff_base + v->cutoff_depth * m, 1.4f, s->sr);
                v->coef_countdown = 8;
            }
            x = svf_run(&v->lp, 0.5f * (s1 + s2), NULL, NULL);
        }
        x *= a * v->gain;
        l[i] += x * v->pan_l;
        r[i] += x * v->pan_r;
        if (v->timbre == DEMO_TIMBRE_LEAD) send[i] += x;
    }
    if (v->amp.stage == ENV_OFF) v->active = 0;
}

/* ---- drums ---------------------------------------------------------------- */

static drum_kind drum_kind_of(int pitch)
{
    switch (pitch) {
    case 35:
    case 36:
        return DRUM_KICK;
    case 38:
    case 40:
        return DRUM_SNARE;
    case 37:
        return DRUM_RIM;
    case 39:
        return DRUM_CLAP;
    case 42:
        return DRUM_HAT_CLOSED;
    case 44:
        return DRUM_HAT_PEDAL;
    case 46:
        return DRUM_HAT_OPEN;
    case 41:
    case 43:
    case 45:
    case 47:
    case 48:
    case 50:
        return DRUM_TOM;
    case 49:
    case 52:
    case 55:
    case 57:
        return DRUM_CRASH;
    case 51:
    case 53:
    case 59:
        return DRUM_RIDE;
    default:
        return DRUM_PERC;
    }
}

static void drum_on(demo_synth *s, int pitch, int velocity)
{
    drum_kind kind = drum_kind_of(pitch);
    if (kind == DRUM_HAT_CLOSED || kind == DRUM_HAT_PEDAL) {
        /* a closed hat chokes the open one */
        for (int i = 0; i < DEMO_SYNTH_DRUM_VOICES; i++)
            if (s->drums[i].active && s->drums[i].kind == DRUM_HAT_OPEN) {
                s->drums[i].noise_coef = coef_for(0.012f, s->sr);
                s->drums[i].metal_coef = coef_for(0.012f, s->sr);
            }
    }
    drum_voice *d = NULL;
    for (int i = 0; i < DEMO_SYNTH_DRUM_VOICES && !d; i++)
        if (!s->drums[i].active) d = &s->drums[i];
    if (!d) {
        d = &s->drums[0];
        for (int i = 1; i < DEMO_SYNTH_DRUM_VOICES; i++)
            if (s->clock - s->drums[i].age > s->clock - d->age) d = &s->drums[i];
    }
    float vel = (float)velocity / 127.0f;
    float sr = s->sr;
    memset(d, 0, sizeof *d);
    d->active = 1;
    d->pitch = pitch;
    d->kind = kind;
    d->age = s->clock++;
    d->gain = 0.25f + 0.75f * vel * vel;
    float pan = 0.0f;
    float f0 = 0, f1 = 0;
    switch (kind) {
    case DRUM_KICK:
        f0 = 165.0f, f1 = 48.0f;
        d->pitch_coef = coef_for(0.035f, sr);
        d->tone_coef = coef_for(0.25f, sr), d->tone_level = 0.75f;
        d->noise_coef = coef_for(0.004f, sr), d->noise_level = 0.25f, d->noise_mode = 0;
        svf_set(&d->noise_f, 3000.0f, 0.7f, sr);
        break;
    case DRUM_SNARE:
        f0 = 260.0f, f1 = 185.0f;
        d->pitch_coef = coef_for(0.02f, sr);
        d->tone_coef = coef_for(0.07f, sr), d->tone_level = 0.32f;
        d->noise_coef = coef_for(0.16f, sr), d->noise_level = 0.38f, d->noise_mode = 2;
        svf_set(&d->noise_f, 1400.0f, 0.8f, sr);
        pan = 0.08f;
        break;
    case DRUM_RIM:
        f0 = 1700.0f, f1 = 1650.0f;
        d->pitch_coef = coef_for(0.01f, sr);
        d->tone_coef = coef_for(0.018f, sr), d->tone_level = 0.3f;
        d->noise_coef = coef_for(0.01f, sr), d->noise_level = 0.2f, d->noise_mode = 1;
        svf_set(&d->noise_f, 3500.0f, 2.0f, sr);
        pan = 0.15f;
        break;
    case DRUM_CLAP:
        d->noise_coef = coef_for(0.12f, sr), d->noise_level = 0.5f, d->noise_mode = 1;
        svf_set(&d->noise_f, 1200.0f, 1.5f, sr);
        pan = -0.1f;
        break;
    case DRUM_HAT_CLOSED:
    case DRUM_HAT_PEDAL:
    case DRUM_HAT_OPEN:
        d->noise_coef = coef_for(kind == DRUM_HAT_OPEN ? 0.18f : 0.04f, sr);
        d->noise_level = 0.09f, d->noise_mode = 2;
        svf_set(&d->noise_f, 8000.0f, 0.9f, sr);
        d->metal_coef = d->noise_coef, d->metal_level = 0.12f, d->metal_scale = 1.0f;
        svf_set(&d->metal_f, 7500.0f, 0.7f, sr);
        if (kind == DRUM_HAT_PEDAL) d->gain *= 0.6f;
        pan = 0.3f;
        break;
    case DRUM_TOM: {
        /* GM toms from low (41) to high (50) */
        float idx = (float)(pitch - 41) / 9.0f;
        f1 = 80.0f + 130.0f * idx, f0 = f1 * 1.6f;
        d->pitch_coef = coef_for(0.06f, sr);
        d->tone_coef = coef_for(0.3f, sr), d->tone_level = 0.55f;
        d->noise_coef = coef_for(0.03f, sr), d->noise_level = 0.08f, d->noise_mode = 0;
        svf_set(&d->noise_f, 2000.0f, 0.7f, sr);
        pan = -0.4f + 0.8f * idx;
        break;
    }
    case DRUM_CRASH:
        d->noise_coef = coef_for(0.45f, sr), d->noise_level = 0.10f, d->noise_mode = 2;
        svf_set(&d->noise_f, 5000.0f, 0.7f, sr);
        d->metal_coef = coef_for(0.55f, sr), d->metal_level = 0.10f, d->metal_scale = 1.3f;
        svf_set(&d->metal_f, 4000.0f, 0.7f, sr);
        pan = -0.35f;
        break;
    case DRUM_RIDE:
        d->noise_coef = coef_for(0.15f, sr), d->noise_level = 0.04f, d->noise_mode = 2;
        svf_set(&d->noise_f, 6000.0f, 0.7f, sr);
        d->metal_coef = coef_for(0.4f, sr), d->metal_level = 0.08f, d->metal_scale = 2.1f;
        svf_set(&d->metal_f, 3000.0f, 2.5f, sr);
        pan = 0.35f;
        break;
    case DRUM_PERC:
        f0 = 600.0f + 20.0f * (float)(pitch % 24), f1 = f0 * 0.9f;
        d->pitch_coef = coef_for(0.02f, sr);
        d->tone_coef = coef_for(0.06f, sr), d->tone_level = 0.25f;
        d->noise_coef = coef_for(0.02f, sr), d->noise_level = 0.1f, d->noise_mode = 1;
        svf_set(&d->noise_f, 2.0f * f0, 2.0f, sr);
        pan = ((float)(pitch % 7) - 3.0f) / 6.0f;
        break;
    }
    d->tone_f1 = f1;
    d->tone_df = f0 - f1;
    d->pitch_env = 1.0f;
    d->tone_env = d->tone_level > 0.0f ? 1.0f : 0.0f;
    d->noise_env = d->noise_level > 0.0f ? 1.0f : 0.0f;
    d->metal_env = d->metal_level > 0.0f ? 1.0f : 0.0f;
    for (int k = 0; k < 6; k++)
        d->metal_ph[k] = 0.13f * (float)k;
    pan_gains(pan, &d->pan_l, &d->pan_r);
}

/* The TR-808's six cymbal oscillators (Hz). */
static const float metal_freqs[6] = {205.3f, 304.4f, 369.6f, 522.7f, 540.0f, 800.0f};

static void drum_render(demo_synth *s, drum_voice *d, float *l, float *r, size_t n)
{
    float inv_sr = 1.0f / s->sr;
    for (size_t i = 0; i < n; i++) {
        float x = 0.0f;
        if (d->tone_env > 0.0f) {
            float f = d->tone_f1 + d->tone_df * d->pitch_env;
            d->pitch_env *= d->pitch_coef;
            x += sinf(TWO_PI * d->tone_phase) * d->tone_env * d->tone_level;
            d->tone_phase += f * inv_sr;
            if (d->tone_phase >= 1.0f) d->tone_phase -= 1.0f;
            d->tone_env *= d->tone_coef;
            if (d->tone_env < 1e-4f) d->tone_env = 0.0f;
        }
        if (d->noise_env > 0.0f) {
            float band, high, low = svf_run(&d->noise_f, noise(s), &band, &high);
            float y = d->noise_mode == 0 ? low : d->noise_mode == 1 ? band : high;
            float env = d->noise_env;
            if (d->kind == DRUM_CLAP) {
                /* three quick bursts before the tail */
                float t = d->t;
                if (t < 0.03f) env = 1.0f - fmodf(t, 0.01f) * 80.0f;
                if (env < 0.0f) env = 0.0f;
            }
            x += y * env * d->noise_level;
            d->noise_env *= d->noise_coef;
            if (d->noise_env < 1e-4f) d->noise_env = 0.0f;
        }
        if (d->metal_env > 0.0f) {
            float m = 0.0f;
            for (int k = 0; k < 6; k++) {
                m += d->metal_ph[k] < 0.5f ? 1.0f : -1.0f;
                d->metal_ph[k] += metal_freqs[k] * d->metal_scale * inv_sr;
                if (d->metal_ph[k] >= 1.0f) d->metal_ph[k] -= 1.0f;
            }
            float high;
            svf_run(&d->metal_f, m * (1.0f / 6.0f), NULL, &high);
            x += high * d->metal_env * d->metal_level;
            d->metal_env *= d->metal_coef;
            if (d->metal_env < 1e-4f) d->metal_env = 0.0f;
        }
        x *= d->gain;
        l[i] += x * d->pan_l;
        r[i] += x * d->pan_r;
        d->t += inv_sr;
    }
    if (d->tone_env == 0.0f && d->noise_env == 0.0f && d->metal_env == 0.0f) d->active = 0;
}

/* ---- MIDI in -------------------------------------------------------------- */

void demo_synth_midi(demo_synth *s, const uint8_t *msg, size_t len)
{
    if (len < 1) return;
    int status = msg[0] & 0xF0, ch = msg[0] & 0x0F;
    if ((status == 0x90 || status == 0x80) && len >= 3) {
        int pitch = msg[1] & 0x7F, vel = msg[2] & 0x7F;
        demo_timbre t = s->timbre[ch];
        if (t == DEMO_TIMBRE_MUTE) return;
        if (status == 0x90 && vel > 0) {
            if (t == DEMO_TIMBRE_DRUMS)
                drum_on(s, pitch, vel);
            else
                voice_on(s, ch, pitch, vel);
        } else if (t != DEMO_TIMBRE_DRUMS) {
            voice_off(s, ch, pitch); /* drums ring out; their note-offs mean nothing */
        }
    } else if (status == 0xB0 && len >= 3 && (msg[1] == 120 || msg[1] == 123)) {
        for (int i = 0; i < DEMO_SYNTH_VOICES; i++) {
            voice *v = &s->voices[i];
            if (v->active && v->channel == ch) {
                v->amp.stage = ENV_RELEASE;
                v->mod.stage = ENV_RELEASE;
                if (msg[1] == 120) v->amp.release_coef = coef_for(0.005f, s->sr);
            }
        }
    }
}

void demo_synth_all_notes_off(demo_synth *s)
{
    for (int c = 0; c < 16; c++) {
        uint8_t m[3] = {(uint8_t)(0xB0 | c), 123, 0};
        demo_synth_midi(s, m, 3);
    }
}

/* ---- render --------------------------------------------------------------- */

#define BLOCK 64

void demo_synth_render(demo_synth *s, float *out, size_t frames)
{
    demo_synth_render_mix(s, out, frames, NULL, 0.0f);
}

void demo_synth_render_mix(demo_synth *s, float *out, size_t frames, const float *in, float gain)
{
    float l[BLOCK], r[BLOCK], send[BLOCK];
    size_t done = 0;
    while (done < frames) {
        size_t n = frames - done < BLOCK ? frames - done : BLOCK;
        memset(l, 0, sizeof l);
        memset(r, 0, sizeof r);
        memset(send, 0, sizeof send);
        for (int i = 0; i < DEMO_SYNTH_VOICES; i++)
            if (s->voices[i].active) voice_render(s, &s->voices[i], l, r, send, n);
        for (int i = 0; i < DEMO_SYNTH_DRUM_VOICES; i++)
            if (s->drums[i].active) drum_render(s, &s->drums[i], l, r, n);
        float *o = out + 2 * done;
        if (in && gain != 0.0f)
            for (size_t i = 0; i < n; i++) {
                float x = in[done + i];
                if (!(x > -2.0f && x < 2.0f)) x = 0.0f; /* NaN and wild samples */
                l[i] += gain * x;
                r[i] += gain * x;
            }
        for (size_t i = 0; i < n; i++) {
            /* ping-pong echo: the left tap feeds the right line and back */
            size_t rd = (s->echo_pos + s->echo_len - s->echo_delay) % s->echo_len;
            float dl = s->echo_l[rd], dr = s->echo_r[rd];
            s->echo_damp_l += 0.35f * (dl - s->echo_damp_l);
            s->echo_damp_r += 0.35f * (dr - s->echo_damp_r);
            s->echo_l[s->echo_pos] = send[i] * 0.5f + s->echo_damp_r * 0.42f;
            s->echo_r[s->echo_pos] = s->echo_damp_l * 0.42f;
            s->echo_pos = (s->echo_pos + 1) % s->echo_len;
            float xl = MASTER_GAIN * (l[i] + 0.5f * dl);
            float xr = MASTER_GAIN * (r[i] + 0.5f * dr);
            float yl = xl - s->dc_x[0] + s->dc_r * s->dc_y[0];
            float yr = xr - s->dc_x[1] + s->dc_r * s->dc_y[1];
            s->dc_x[0] = xl, s->dc_x[1] = xr, s->dc_y[0] = yl, s->dc_y[1] = yr;
            xl = yl, xr = yr;
            /* limiter: instant attack, smooth release, so |y| <= ceiling always */
            float peak = fabsf(xl) > fabsf(xr) ? fabsf(xl) : fabsf(xr);
            float g = 1.0f - (1.0f - s->lim_gain) * s->lim_release;
            if (peak * g > DEMO_SYNTH_CEILING) g = DEMO_SYNTH_CEILING / peak;
            s->lim_gain = g;
            o[2 * i] = xl * g;
            o[2 * i + 1] = xr * g;
        }
        done += n;
    }
}

int demo_synth_active_voices(const demo_synth *s)
{
    int n = 0;
    for (int i = 0; i < DEMO_SYNTH_VOICES; i++)
        n += s->voices[i].active != 0;
    for (int i = 0; i < DEMO_SYNTH_DRUM_VOICES; i++)
        n += s->drums[i].active != 0;
    return n;
}
