/* SPDX-License-Identifier: MIT */
/* rnnmidi-demo: the engine the LV2 plugin runs, outside a DAW.
 *
 * One core engine per preset (melody and drums can play together) drives a
 * small synth from a PortAudio callback. The player is a primer MIDI file,
 * a live MIDI port (PortMidi) or the microphone (the audio-note detector).
 * On a terminal, keys change the mode, temperature, tempo, key and scale,
 * re-seed and quit, and the notes scroll by as they play. With --render, or
 * when no audio device can be opened, the same session renders offline to a
 * sound file (libsndfile), and what was played is written as MIDI and as a
 * piano-roll picture.
 *
 * Exit status: 0 done, 1 a runtime problem (missing preset, unusable device,
 * failed write), 2 bad arguments. */
#include <errno.h>
#include <math.h>
#include <portmidi.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../core/cli.h"
#include "../../core/file.h"
#include "../../core/midifile.h"
#include "../../core/text.h"
#include "audio.h"
#include "demo.h"
#include "pianoroll.h"
#include "record.h"
#include "song.h"
#include "term.h"

#define DEFAULT_MELODY "presets/melody-lstm.rnnw"
#define DEFAULT_DRUMS "presets/drums-gru.rnnw"
#define DEFAULT_OUT_DIR "build/demo"
#define DEFAULT_SECONDS 30.0
#define DEFAULT_RATE 48000.0
#define DEFAULT_BUFFER 256
#define PPQ 480

typedef struct {
    const char *models[DEMO_MAX_PARTS];
    int n_models;
    const char *primer;
    const char *harmony;
    const char *render;
    const char *midi_out;
    const char *roll;
    const char *out_dir;
    const char *input_file;
    int input_audio;
    int midi_in; /* -1 none, -2 default */
    int device, input_device;
    int list_devices;
    double sample_rate;
    unsigned buffer;
    double seconds;
    int seconds_given;
    long seed;
    int ui; /* -1 auto */
    int quiet;
    float params[RNN_PARAM_COUNT];
    uint8_t param_set[RNN_PARAM_COUNT];
} options;

static volatile sig_atomic_t quit_flag;

static void on_signal(int sig)
{
    (void)sig;
    quit_flag = 1;
}

/* ---- arguments ----------------------------------------------------------- */

/* An error message: it may quote a device's name or a file's text. */
static void say_error(const char *err)
{
    char safe[1024];
    rnn_text_sanitize(safe, sizeof safe, err);
    fprintf(stderr, "rnnmidi-demo: %s\n", safe);
}

static int has_ext(const char *path, const char *ext)
{
    size_t a = strlen(path), b = strlen(ext);
    return a > b && strcasecmp(path + a - b, ext) == 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static int parse_key(const char *s)
{
    static const char *const flats[12] = {"C",  "Db", "D",  "Eb", "E",  "F",
                                          "Gb", "G",  "Ab", "A",  "Bb", "B"};
    char buf[4] = {0};
    if (strlen(s) > 2) return -1;
    for (int i = 0; s[i]; i++)
        buf[i] = i == 0 ? (char)(s[i] & ~0x20) : s[i];
    int k = find_name(demo_key_names, 12, buf);
    return k >= 0 ? k : find_name(flats, 12, buf);
}

/* Setters of the table's odd rows: each takes the options as row->target
 * and writes its own message. */
static void set_engine_param(options *o, rnn_engine_param id, float v)
{
    o->params[id] = v;
    o->param_set[id] = 1;
}

/* An engine setting as the plugin's control: a number in its range. */
static int take_param(options *o, rnn_engine_param id, const char *opt, const char *v, char *msg,
                      size_t msglen)
{
    double x;
    float lo, hi;
    if (parse_double(v, &x)) {
        snprintf(msg, msglen, "%s: '%s' is not a number", opt, v);
        return -1;
    }
    rnn_engine_param_info(id, NULL, &lo, &hi, NULL);
    if (x < lo || x > hi) {
        snprintf(msg, msglen, "%s: %s must be in %g..%g", opt, v, lo, hi);
        return -1;
    }
    set_engine_param(o, id, (float)x);
    return 0;
}

/* --temperature, --top-p, --tempo, --density, --bars: row->lo is the id */
static int set_param(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", row->name);
    return take_param(row->target, (rnn_engine_param)row->lo, opt, v, msg, msglen);
}

static int set_named_param(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    const char *eq = strchr(v, '=');
    int found = -1;
    for (int id = 0; eq && id < RNN_PARAM_COUNT; id++) {
        const char *pn;
        rnn_engine_param_info((rnn_engine_param)id, NULL, NULL, NULL, &pn);
        if (strlen(pn) == (size_t)(eq - v) && strncmp(pn, v, (size_t)(eq - v)) == 0) found = id;
    }
    if (found < 0) {
        snprintf(msg, msglen, "--set: '%s' is not NAME=VALUE with an engine setting's name", v);
        return -1;
    }
    return take_param(row->target, (rnn_engine_param)found, "--set", eq + 1, msg, msglen);
}

static int set_mode(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    int m = find_name(demo_mode_names, RNN_MODE_COUNT, v);
    if (m < 0 && strcmp(v, "call-response") == 0) m = RNN_MODE_CALL_RESPONSE;
    if (m < 0) {
        snprintf(msg, msglen, "--mode: '%s' (use continue, call or accompany)", v);
        return -1;
    }
    set_engine_param(row->target, RNN_PARAM_MODE, (float)m);
    return 0;
}

static int set_key(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    int k = parse_key(v);
    if (k < 0) {
        snprintf(msg, msglen, "--key: '%s' (use C, C#, Db, D, ... B)", v);
        return -1;
    }
    set_engine_param(row->target, RNN_PARAM_KEY, (float)k);
    return 0;
}

static int set_scale(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    int sc = find_name(demo_scale_names, RNN_SCALE_COUNT, v);
    if (sc < 0) {
        snprintf(msg, msglen, "--scale: '%s' is not a scale (see --help)", v);
        return -1;
    }
    set_engine_param(row->target, RNN_PARAM_SCALE, (float)sc);
    return 0;
}

static int set_midi_in(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    options *o = row->target;
    long n;
    if (strcmp(v, "default") == 0) {
        o->midi_in = -2;
    } else if (rnn_cli_long(v, 0, 1000, &n) == 0) {
        o->midi_in = (int)n;
    } else {
        snprintf(msg, msglen, "--midi-in: '%s' is not a device number (see --list-devices)", v);
        return -1;
    }
    return 0;
}

static int set_input(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    options *o = row->target;
    if (strcmp(v, "audio") == 0) {
        o->input_audio = 1;
    } else if (strcmp(v, "none") == 0) {
        o->input_audio = 0;
    } else {
        snprintf(msg, msglen, "--input: '%s' (use 'audio'; MIDI is --midi-in, a file --input-file)",
                 v);
        return -1;
    }
    return 0;
}

/* --render and --roll: a file name with one of two extensions (row->help's
 * formats are told by them) */
static int set_render(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    if (!has_ext(v, ".wav") && !has_ext(v, ".flac")) {
        snprintf(msg, msglen, "--render: '%s' (name a .wav or .flac file)", v);
        return -1;
    }
    ((options *)row->target)->render = v;
    return 0;
}

static int set_roll(const rnn_cli_opt *row, const char *v, char *msg, size_t msglen)
{
    if (!has_ext(v, ".png") && !has_ext(v, ".svg")) {
        snprintf(msg, msglen, "--roll: '%s' (name a .png or .svg file)", v);
        return -1;
    }
    ((options *)row->target)->roll = v;
    return 0;
}

static void put(void *f, const char *text)
{
    fputs(text, f);
}

/* The command line into o. Returns 0, or 2 after a message; --help prints
 * the help and ends the program. */
static int parse_args(options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->midi_in = -1;
    o->device = -1;
    o->input_device = -1;
    o->buffer = DEFAULT_BUFFER;
    o->seconds = DEFAULT_SECONDS;
    o->ui = -1;
    o->out_dir = DEFAULT_OUT_DIR;
    const rnn_cli_opt opts[] = {
        RNN_CLI_TEXT("Models and input:"),
        {RNN_CLI_OPT("model", 'm', "FILE.rnnw",
                     "a preset; give it twice for melody + drums\n"
                     "(default: " DEFAULT_MELODY " and " DEFAULT_DRUMS ")",
                     RNN_OPT_LIST, o->models),
         0, DEMO_MAX_PARTS, "at most 3 models can play together", .count = &o->n_models},
        {RNN_CLI_OPT("primer", 'p', "FILE.mid",
                     "MIDI the engines hear first (it plays on soft keys)", RNN_OPT_STRING,
                     &o->primer)},
        {RNN_CLI_OPT("harmony", 0, "FILE.mid",
                     "a file's parts outside channel 10 as the player's harmony, in its\n"
                     "tempo and meter (accompany mode unless --mode says otherwise)",
                     RNN_OPT_STRING, &o->harmony)},
        {RNN_CLI_OPT("midi-in", 0, "N",
                     "live MIDI from PortMidi input N ('default' for the default)", RNN_OPT_CALL,
                     o),
         .set = set_midi_in},
        {RNN_CLI_OPT("input", 0, "audio",
                     "the microphone (default input) through the note detector", RNN_OPT_CALL, o),
         .set = set_input},
        {RNN_CLI_OPT("input-device", 0, "N", "the input device for --input audio", RNN_OPT_INT,
                     &o->input_device),
         0, 100000, "--input-device: '%s' is not a device number", .seen = &o->input_audio},
        {RNN_CLI_OPT("input-file", 0, "FILE.wav",
                     "a recording through the note detector (heard in the mix)", RNN_OPT_STRING,
                     &o->input_file)},
        RNN_CLI_TEXT(""),
        RNN_CLI_TEXT("Audio:"),
        {RNN_CLI_OPT("list-devices", 0, NULL, "list audio devices and MIDI inputs, then exit",
                     RNN_OPT_FLAG, &o->list_devices),
         1},
        {RNN_CLI_OPT("device", 'd', "N", "output device (default: PortAudio's default)",
                     RNN_OPT_INT, &o->device),
         0, 100000, "--device: '%s' is not a device number (see --list-devices)"},
        {RNN_CLI_OPT("sample-rate", 'r', "HZ", "sample rate (default: the device's, 48000 offline)",
                     RNN_OPT_DOUBLE, &o->sample_rate),
         8000, 192000, "--sample-rate: '%s' (use 8000..192000 Hz)"},
        /* buffer is unsigned: an int target may alias it (C11 6.5p7) */
        {RNN_CLI_OPT("buffer-size", 'b', "FRAMES", "frames per callback", RNN_OPT_INT, &o->buffer),
         16, 8192, "--buffer-size: '%s' (use 16..8192 frames)", .show_default = 1},
        RNN_CLI_TEXT(""),
        RNN_CLI_TEXT("Offline:"),
        {RNN_CLI_OPT("render", 'o', "OUT.wav", "render instead of playing (.flac for FLAC)",
                     RNN_OPT_CALL, o),
         .set = set_render},
        {RNN_CLI_OPT("seconds", 's', "N", "length (default 30; live: 0 = until q)", RNN_OPT_DOUBLE,
                     &o->seconds),
         0, 3600, "--seconds: '%s' (use 0..3600)", .seen = &o->seconds_given},
        {RNN_CLI_OPT("midi-out", 0, "FILE.mid", "write what was played as MIDI", RNN_OPT_STRING,
                     &o->midi_out)},
        {RNN_CLI_OPT("roll", 0, "FILE.png", "write a piano roll (.svg for SVG)", RNN_OPT_CALL, o),
         .set = set_roll},
        {RNN_CLI_OPT("out-dir", 0, "DIR", "where a render goes when no device is found",
                     RNN_OPT_STRING, &o->out_dir),
         .show_default = 1},
        RNN_CLI_TEXT(""),
        RNN_CLI_TEXT("Engine settings (as the plugin's controls):"),
        {RNN_CLI_OPT("mode", 0, "NAME", "continue, call or accompany (default accompany)",
                     RNN_OPT_CALL, o),
         .set = set_mode},
        {RNN_CLI_OPT("temperature", 0, "T", "0..2 (default 1)", RNN_OPT_CALL, o),
         RNN_PARAM_TEMPERATURE, .set = set_param},
        {RNN_CLI_OPT("top-p", 0, "P", "0.05..1 (default 0.95)", RNN_OPT_CALL, o), RNN_PARAM_TOP_P,
         .set = set_param},
        {RNN_CLI_OPT("tempo", 0, "BPM", "20..300 (default 120, or the primer's)", RNN_OPT_CALL, o),
         RNN_PARAM_TEMPO, .set = set_param},
        {RNN_CLI_OPT("key", 0, "NAME", "C, C#, Db, ... B", RNN_OPT_CALL, o), .set = set_key},
        {RNN_CLI_OPT("scale", 0, "NAME",
                     "off major minor harmonic-minor dorian phrygian lydian\n"
                     "mixolydian major-pentatonic minor-pentatonic blues",
                     RNN_OPT_CALL, o),
         .set = set_scale},
        {RNN_CLI_OPT("density", 0, "D", "0..1 (0.5 = as trained)", RNN_OPT_CALL, o),
         RNN_PARAM_DENSITY, .set = set_param},
        {RNN_CLI_OPT("bars", 0, "N", "bars per response (call mode)", RNN_OPT_CALL, o),
         RNN_PARAM_RESPONSE_BARS, .set = set_param},
        {RNN_CLI_OPT("seed", 0, "N", "1..16777215 (default: from the clock; printed)", RNN_OPT_LONG,
                     &o->seed),
         1, 16777215, "--seed: '%s' (use 1..16777215)"},
        {RNN_CLI_OPT("set", 0, "NAME=VALUE",
                     "any engine setting by name (lowest, highest, gate, ...)", RNN_OPT_CALL, o),
         .set = set_named_param},
        RNN_CLI_TEXT(""),
        RNN_CLI_TEXT("Other:"),
        {RNN_CLI_OPT("no-ui", 0, NULL, "no key controls or scrolling notes", RNN_OPT_FLAG, &o->ui),
         0},
        {RNN_CLI_OPT("ui", 0, NULL, "keys and scrolling notes even when not on a terminal",
                     RNN_OPT_FLAG, &o->ui),
         1},
        {RNN_CLI_OPT("quiet", 'q', NULL, "print only paths and errors", RNN_OPT_FLAG, &o->quiet),
         1},
        RNN_CLI_HELP_OPT('h'),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-demo [options]\n"
        "\n"
        "Plays what rnnmidi's networks answer, on the default audio device, or renders it\n"
        "to a sound file when there is none.\n"
        "\n",
        opts, sizeof opts / sizeof opts[0],
        "\n"
        "Keys while playing: m mode, t/T temperature -/+, -/+ tempo, k/K key down/up,\n"
        "s scale, d/D density -/+, r re-seed, h help, q quit (arrows: temperature, tempo).\n",
        0};
    char msg[512];
    size_t npos;
    switch (rnn_cli_parse(&spec, argc, argv, NULL, 0, &npos, msg, sizeof msg)) {
    case RNN_CLI_HELP:
        rnn_cli_help(&spec, put, stdout);
        exit(0);
    case RNN_CLI_ERROR:
        fprintf(stderr, "rnnmidi-demo: %s\nTry 'rnnmidi-demo --help'.\n", msg);
        return 2;
    }
    return 0;
}

/* ---- files ----------------------------------------------------------------- */

static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* path with its extension (if any) replaced by ext, into a static buffer of the caller */
static void with_ext(char *out, size_t n, const char *path, const char *ext)
{
    snprintf(out, n, "%s", path);
    char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
    if (dot && (!slash || dot > slash)) *dot = 0;
    size_t len = strlen(out);
    snprintf(out + len, n - len, "%s", ext);
}

/* Primer notes -> player events in frames, through the file's tempo map. */
static demo_event *load_primer(const char *path, double rate, size_t *n_out, double *bpm,
                               double *seconds)
{
    rnn_midi_file mf;
    char err[512];
    if (rnn_midi_read_path(path, NULL, NULL, &mf, err, sizeof err)) {
        fprintf(stderr, "rnnmidi-demo: primer %s\n", err);
        return NULL;
    }
    if (mf.n_notes == 0) {
        fprintf(stderr, "rnnmidi-demo: primer %s: the file has no notes\n", path);
        rnn_midi_free(&mf);
        return NULL;
    }
    size_t k = 0;
    demo_event *ev = demo_song_notes(&mf, rate, 0, &k);
    if (!ev) {
        fprintf(stderr, "rnnmidi-demo: out of memory reading %s\n", path);
        rnn_midi_free(&mf);
        return NULL;
    }
    *n_out = k;
    *bpm = mf.n_tempos && mf.tempos[0].tick == 0 ? 60e6 / mf.tempos[0].usec_per_quarter : 120.0;
    *seconds = (double)ev[k - 1].frame / rate;
    rnn_midi_free(&mf);
    return ev;
}

/* --harmony: the file's notes outside channel 10 as the player's, and the
 * positions of its tempo and meter changes. NULL with a message printed. */
static demo_event *load_harmony(const char *path, double rate, size_t *n_out,
                                demo_position **positions, size_t *n_positions)
{
    rnn_midi_file mf;
    char err[512];
    if (rnn_midi_read_path(path, NULL, NULL, &mf, err, sizeof err)) {
        fprintf(stderr, "rnnmidi-demo: --harmony %s\n", err);
        return NULL;
    }
    demo_event *ev = demo_song_notes(&mf, rate, 1, n_out);
    *positions = demo_song_positions(&mf, rate, n_positions);
    const int none = *n_out == 0;
    rnn_midi_free(&mf);
    if (ev && *positions) return ev;
    if (none && *positions)
        fprintf(stderr, "rnnmidi-demo: --harmony %s: the file has no notes outside channel 10\n",
                path);
    else
        fprintf(stderr, "rnnmidi-demo: out of memory reading %s\n", path);
    free(ev);
    free(*positions);
    *positions = NULL;
    return NULL;
}

/* A recording through the detector: mono, resampled linearly to rate. */
static float *load_input_file(const char *path, double rate, size_t *frames)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    char err[512];
    uint64_t bytes;
    const int fd = rnn_file_open_regular(path, &bytes, err, sizeof err); /* no FIFO, no device */
    if (fd < 0) {
        fprintf(stderr, "rnnmidi-demo: input file %s\n", err);
        return NULL;
    }
    /* libsndfile closes fd when it fails, and with the SNDFILE otherwise */
    SNDFILE *sf = sf_open_fd(fd, SFM_READ, &info, SF_TRUE);
    if (!sf) {
        fprintf(stderr, "rnnmidi-demo: input file %s: %s\n", path, sf_strerror(NULL));
        return NULL;
    }
    if (info.frames <= 0 || info.channels < 1 || info.frames > (sf_count_t)192000 * 3600) {
        fprintf(stderr, "rnnmidi-demo: input file %s: no usable audio\n", path);
        sf_close(sf);
        return NULL;
    }
    float *raw = malloc((size_t)info.frames * (size_t)info.channels * sizeof(float));
    size_t out_n = (size_t)((double)info.frames * rate / info.samplerate);
    float *out = malloc((out_n + 1) * sizeof(float));
    if (!raw || !out) {
        fprintf(stderr, "rnnmidi-demo: out of memory reading %s\n", path);
        free(raw);
        free(out);
        sf_close(sf);
        return NULL;
    }
    sf_count_t got = sf_readf_float(sf, raw, info.frames);
    sf_close(sf);
    for (sf_count_t i = 0; i < got; i++) {
        float m = 0;
        for (int c = 0; c < info.channels; c++)
            m += raw[i * info.channels + c];
        raw[i] = m / (float)info.channels;
    }
    double step = (double)info.samplerate / rate;
    for (size_t i = 0; i < out_n; i++) {
        double x = (double)i * step;
        sf_count_t j = (sf_count_t)x;
        float f = (float)(x - (double)j);
        float a = j < got ? raw[j] : 0.0f, b = j + 1 < got ? raw[j + 1] : a;
        out[i] = a + (b - a) * f;
    }
    free(raw);
    *frames = out_n;
    return out;
}

/* ---- PortMidi ---------------------------------------------------------------- */

static int pm_ready;

static void pm_init(void)
{
    if (pm_ready) return;
    int q = demo_quiet_begin();
    if (Pm_Initialize() == pmNoError) pm_ready = 1;
    demo_quiet_end(q);
}

static void list_midi_inputs(void)
{
    pm_init();
    int n = pm_ready ? Pm_CountDevices() : 0, shown = 0;
    int def = n > 0 ? Pm_GetDefaultInputDeviceID() : -1;
    puts("MIDI inputs (--midi-in N):");
    for (int i = 0; i < n; i++) {
        const PmDeviceInfo *d = Pm_GetDeviceInfo(i);
        if (!d || !d->input) continue;
        char name[256], interf[64];
        rnn_text_sanitize(name, sizeof name, d->name);
        rnn_text_sanitize(interf, sizeof interf, d->interf);
        printf("  %2d  %s (%s)%s\n", i, name, interf, i == def ? "  [default]" : "");
        shown++;
    }
    if (!shown) puts("  none");
}

static PortMidiStream *open_midi_in(int id)
{
    pm_init();
    if (!pm_ready) {
        fprintf(stderr, "rnnmidi-demo: PortMidi cannot start\n");
        return NULL;
    }
    if (id == -2) id = Pm_CountDevices() > 0 ? Pm_GetDefaultInputDeviceID() : -1;
    const PmDeviceInfo *d = id >= 0 ? Pm_GetDeviceInfo(id) : NULL;
    if (!d || !d->input) {
        fprintf(stderr, "rnnmidi-demo: --midi-in: no MIDI input %s (see --list-devices)\n",
                id < 0 ? "found" : "by that number");
        return NULL;
    }
    PortMidiStream *st = NULL;
    PmError e = Pm_OpenInput(&st, id, NULL, 512, NULL, NULL);
    if (e != pmNoError) {
        char name[256];
        rnn_text_sanitize(name, sizeof name, d->name);
        fprintf(stderr, "rnnmidi-demo: MIDI input %d (%s): %s\n", id, name, Pm_GetErrorText(e));
        return NULL;
    }
    Pm_SetFilter(st, PM_FILT_ACTIVE | PM_FILT_CLOCK | PM_FILT_SYSEX);
    return st;
}

static void poll_midi_in(PortMidiStream *st, demo_session *s)
{
    PmEvent buf[64];
    int n;
    while (st && Pm_Poll(st) == TRUE && (n = Pm_Read(st, buf, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            uint8_t msg[3] = {(uint8_t)Pm_MessageStatus(buf[i].message),
                              (uint8_t)Pm_MessageData1(buf[i].message),
                              (uint8_t)Pm_MessageData2(buf[i].message)};
            int status = msg[0] & 0xF0;
            if (status == 0x80 || status == 0x90 || status == 0xB0)
                demo_session_push_midi(s, msg, 3);
        }
    }
}

/* ---- outputs ------------------------------------------------------------------ */

typedef struct {
    const char *wav, *mid, *roll;
} out_paths;

static int write_outputs(const options *o, const out_paths *paths, demo_record *rec,
                         const char *const *part_names, int n_parts, double seconds)
{
    char err[512];
    int rc = 0;
    if (paths->mid) {
        if (rnn_midi_write_path(paths->mid, rec->notes, rec->n, PPQ, rec->bpm, err, sizeof err)) {
            say_error(err);
            rc = 1;
        } else if (!o->quiet) {
            printf("MIDI        %s  (%zu notes)\n", paths->mid, rec->n);
        } else {
            puts(paths->mid);
        }
    }
    if (paths->roll) {
        demo_roll_info info;
        memset(&info, 0, sizeof info);
        info.ppq = PPQ;
        info.bpm = rec->bpm;
        info.beats_per_bar = 4;
        char title[256];
        size_t t = (size_t)snprintf(title, sizeof title, "rnnmidi demo");
        for (int k = 0; k < n_parts && t < sizeof title; k++)
            t += (size_t)snprintf(title + t, sizeof title - t, "%s%s", k ? " + " : ": ",
                                  part_names[k]);
        info.title = title;
        info.track_names[1] = "player";
        for (int k = 0; k < n_parts && k + 2 < DEMO_ROLL_TRACKS; k++)
            info.track_names[k + 2] = part_names[k];
        (void)seconds;
        if (demo_pianoroll_write(paths->roll, rec->notes, rec->n, &info, err, sizeof err)) {
            say_error(err);
            rc = 1;
        } else if (!o->quiet) {
            printf("piano roll  %s\n", paths->roll);
        } else {
            puts(paths->roll);
        }
    }
    return rc;
}

/* ---- main ----------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* What main's steps share, from the options to the last summary line. */
typedef struct {
    options o;
    double rate;
    int offline;         /* rendering to a file */
    int pa_up;           /* PortAudio is initialised */
    char fallback[1024]; /* why it renders although not asked to ("" when asked or live) */
    char wav_path[4096], mid_path[4096], roll_path[4096];
    out_paths paths;
    demo_event *primer; /* --primer or --harmony */
    size_t n_primer;
    demo_position *positions; /* --harmony: its tempo and meter */
    size_t n_positions;
    float *input; /* --input-file, at rate */
    size_t input_frames;
    uint32_t seed;
    const char *part_names[DEMO_MAX_PARTS];
    char name_buf[DEMO_MAX_PARTS][256];
    demo_session *s;
    demo_controls c;
    demo_record rec;
    float peak;    /* offline: the loudest sample written */
    int abandoned; /* stopped before anything was played: no summary, no files */
} demo_run;

static demo_event drained[4096];

/* --list-devices: the audio devices, then the MIDI inputs. */
static int list_devices(void)
{
    char err[1024];
    if (demo_audio_init(err, sizeof err)) {
        say_error(err);
        return 1;
    }
    int n = Pa_GetDeviceCount();
    puts("Audio devices (--device N, --input-device N):");
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        char name[256], api[64];
        rnn_text_sanitize(name, sizeof name, d->name);
        rnn_text_sanitize(api, sizeof api, Pa_GetHostApiInfo(d->hostApi)->name);
        printf("  %2d  %-40s %s  out %d  in %d  %.0f Hz%s%s\n", i, name, api, d->maxOutputChannels,
               d->maxInputChannels, d->defaultSampleRate,
               i == Pa_GetDefaultOutputDevice() ? "  [default out]" : "",
               i == Pa_GetDefaultInputDevice() ? "  [default in]" : "");
    }
    if (n <= 0) puts("  none (rnnmidi-demo will render to a file instead)");
    demo_audio_terminate();
    list_midi_inputs();
    if (pm_ready) Pm_Terminate();
    fflush(stdout);
    return 0;
}

/* The presets (the two defaults when none is given) exist, and the inputs
 * asked for fit the output asked for. 0 or the exit status. */
static int check_inputs(options *o)
{
    int defaults = o->n_models == 0;
    if (defaults) {
        o->models[0] = DEFAULT_MELODY;
        o->models[1] = DEFAULT_DRUMS;
        o->n_models = 2;
    }
    for (int k = 0; k < o->n_models; k++) {
        if (file_exists(o->models[k])) continue;
        fprintf(stderr, "rnnmidi-demo: %s: no such preset file.\n", o->models[k]);
        if (defaults)
            fprintf(
                stderr,
                "  The default presets %s and %s are made\n"
                "  with the project's trainer (build/rnnmidi-train) and are not there yet.\n"
                "  Train them, or pass your own: --model FILE.rnnw (twice for melody + drums).\n",
                DEFAULT_MELODY, DEFAULT_DRUMS);
        return 1;
    }
    if (o->input_audio && (o->render || o->input_file)) {
        fprintf(stderr,
                "rnnmidi-demo: --input audio needs a live device; offline, use --input-file\n");
        return 2;
    }
    if (o->render && (o->midi_in != -1)) {
        fprintf(stderr, "rnnmidi-demo: --midi-in needs a live device, not --render\n");
        return 2;
    }
    return 0;
}

/* Where it plays: the device asked for (or the default), else offline when
 * nothing live was asked for; the sample rate. 0 or the exit status. */
static int choose_output(demo_run *r)
{
    const options *o = &r->o;
    char err[1024];
    r->offline = o->render != NULL;
    r->rate = o->sample_rate;
    int fallback = 0;
    if (!r->offline) {
        if (demo_audio_init(err, sizeof err) == 0) {
            r->pa_up = 1;
            double dev_rate = 0;
            if (demo_audio_check_output(o->device, &dev_rate, err, sizeof err)) {
                if (o->device >= 0) {
                    say_error(err);
                    return 1;
                }
                fallback = 1;
            } else if (r->rate <= 0) {
                r->rate = dev_rate > 0 ? dev_rate : DEFAULT_RATE;
            }
        } else {
            if (o->device >= 0) {
                say_error(err);
                return 1;
            }
            fallback = 1;
        }
        if (fallback) {
            if (o->input_audio || o->midi_in != -1) {
                fprintf(stderr, "rnnmidi-demo: %s, and live input needs one\n", err);
                return 1;
            }
            snprintf(r->fallback, sizeof r->fallback, "%s", err);
            r->offline = 1;
        }
    }
    if (r->rate <= 0) r->rate = DEFAULT_RATE;
    if (r->offline && r->o.seconds <= 0) r->o.seconds = DEFAULT_SECONDS;
    return 0;
}

/* Offline: the sound file, and the MIDI file and piano roll beside it
 * unless named. 0 or the exit status. */
static int name_outputs(demo_run *r)
{
    const options *o = &r->o;
    r->paths = (out_paths){NULL, o->midi_out, o->roll};
    if (!r->offline) return 0;
    if (o->render) {
        snprintf(r->wav_path, sizeof r->wav_path, "%s", o->render);
    } else {
        if (make_dirs(o->out_dir)) {
            fprintf(stderr, "rnnmidi-demo: cannot create %s: %s\n", o->out_dir, strerror(errno));
            return 1;
        }
        snprintf(r->wav_path, sizeof r->wav_path, "%s/rnnmidi-demo.wav", o->out_dir);
    }
    r->paths.wav = r->wav_path;
    if (!r->paths.mid) {
        with_ext(r->mid_path, sizeof r->mid_path, r->wav_path, ".mid");
        r->paths.mid = r->mid_path;
    }
    if (!r->paths.roll) {
        with_ext(r->roll_path, sizeof r->roll_path, r->wav_path, ".png");
        r->paths.roll = r->roll_path;
    }
    return 0;
}

/* What the player plays from files: the primer's notes (its tempo becomes
 * the default tempo) and the recording for the detector. 0 or 1. */
static int load_player(demo_run *r)
{
    options *o = &r->o;
    if (o->harmony && o->primer) {
        fprintf(stderr, "rnnmidi-demo: --harmony and --primer are both what the player plays: "
                        "give one of them\n");
        return 1;
    }
    if (o->harmony) {
        r->primer = load_harmony(o->harmony, r->rate, &r->n_primer, &r->positions, &r->n_positions);
        if (!r->primer) return 1;
        if (!o->param_set[RNN_PARAM_MODE]) {
            o->params[RNN_PARAM_MODE] = RNN_MODE_ACCOMPANY;
            o->param_set[RNN_PARAM_MODE] = 1;
        }
        /* the engines follow the file's positions; the screen and the roll
         * read the tempo setting */
        const rnn_transport *t0 = &r->positions[0].t;
        double bpm = t0->bpm * 4.0 / t0->beat_unit;
        if (!o->param_set[RNN_PARAM_TEMPO]) {
            o->params[RNN_PARAM_TEMPO] = (float)(bpm < 20.0 ? 20.0 : bpm > 300.0 ? 300.0 : bpm);
            o->param_set[RNN_PARAM_TEMPO] = 1;
        }
    }
    if (o->primer) {
        double bpm = 120.0, seconds = 0.0;
        r->primer = load_primer(o->primer, r->rate, &r->n_primer, &bpm, &seconds);
        if (!r->primer) return 1;
        if (!o->param_set[RNN_PARAM_TEMPO]) {
            o->params[RNN_PARAM_TEMPO] = (float)(bpm < 20.0 ? 20.0 : bpm > 300.0 ? 300.0 : bpm);
            o->param_set[RNN_PARAM_TEMPO] = 1;
        }
    }
    if (o->input_file) {
        r->input = load_input_file(o->input_file, r->rate, &r->input_frames);
        if (!r->input) return 1;
    }
    return 0;
}

/* The presets prepared and named (the name is the file's text: printed,
 * and drawn in the piano roll), and the session made. 0 or 1. */
static int start_session(demo_run *r)
{
    const options *o = &r->o;
    char err[1024];
    r->seed =
        o->seed ? (uint32_t)o->seed : (uint32_t)(((unsigned)time(NULL) * 2654435761u) & 0xFFFFFFu);
    if (!r->seed) r->seed = 1;
    demo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sample_rate = r->rate;
    cfg.max_block = o->buffer;
    cfg.seed = r->seed;
    for (int k = 0; k < o->n_models; k++) {
        cfg.models[k] = rnn_engine_model_prepare(o->models[k], err, sizeof err);
        if (!cfg.models[k]) {
            say_error(err);
            for (int j = 0; j < k; j++)
                rnn_engine_model_free(cfg.models[j]);
            return 1;
        }
        const rnn_model *m = rnn_engine_model_get(cfg.models[k]);
        const rnn_model_config *mc = rnn_model_get_config(m);
        const char *nm = rnn_model_meta(m, "name");
        char *name = r->name_buf[k];
        rnn_text_sanitize(name, sizeof r->name_buf[k], nm ? nm : base_name(o->models[k]));
        char *dot = nm ? NULL : strrchr(name, '.');
        if (dot) *dot = 0;
        r->part_names[k] = name;
        if (!o->quiet)
            printf("model %d     %s: %s %s, %d x %d, %s\n", k + 1, o->models[k],
                   rnn_kind_name(mc->kind), rnn_cell_name(mc->cell), mc->layers, mc->hidden, name);
    }
    cfg.n_parts = o->n_models;
    memcpy(cfg.params, o->params, sizeof cfg.params);
    memcpy(cfg.param_set, o->param_set, sizeof cfg.param_set);
    cfg.primer = r->primer;
    cfg.n_primer = r->n_primer;
    cfg.positions = r->positions;
    cfg.n_positions = r->n_positions;
    cfg.detector = o->input_audio || o->input_file;
    cfg.input_monitor = o->input_file ? 0.6f : 0.0f;
    r->s = demo_session_create(&cfg, err, sizeof err);
    if (!r->s) {
        say_error(err);
        return 1;
    }
    return 0;
}

/* A setting as the session starts: the option's value, else the engine's
 * default. */
static float start_value(const options *o, rnn_engine_param id)
{
    float def;
    rnn_engine_param_info(id, &def, NULL, NULL, NULL);
    return o->param_set[id] ? o->params[id] : def;
}

/* What the keys change, as the session starts. */
static void init_controls(demo_run *r)
{
    const options *o = &r->o;
    demo_controls *c = &r->c;
    c->mode = (int)start_value(o, RNN_PARAM_MODE);
    c->key = (int)start_value(o, RNN_PARAM_KEY);
    c->scale = (int)start_value(o, RNN_PARAM_SCALE);
    c->temperature = start_value(o, RNN_PARAM_TEMPERATURE);
    c->tempo = start_value(o, RNN_PARAM_TEMPO);
    c->density = start_value(o, RNN_PARAM_DENSITY);
    c->lowest = (int)start_value(o, RNN_PARAM_LOWEST);
    c->highest = (int)start_value(o, RNN_PARAM_HIGHEST);
    c->seed = r->seed;
}

/* The played events so far into the record (and the view, when there is one). */
static void drain_played(demo_run *r, demo_view *v)
{
    size_t nd;
    while ((nd = demo_session_drain(r->s, drained, 4096)) > 0)
        for (size_t i = 0; i < nd; i++) {
            demo_record_event(&r->rec, &drained[i]);
            if (v) demo_view_add(v, &drained[i]);
        }
}

/* The session rendered into the sound file, block by block, for the
 * seconds asked (Ctrl-C stops early and still writes what was played).
 * Returns the exit status so far. */
static int render_offline(demo_run *r)
{
    const options *o = &r->o;
    if (r->fallback[0])
        printf("No audio device: %s.\nRendering %g s offline instead (seed %u).\n", r->fallback,
               o->seconds, (unsigned)r->seed);
    else if (!o->quiet)
        printf("Rendering %g s offline (seed %u).\n", o->seconds, (unsigned)r->seed);
    if (r->pa_up) demo_audio_terminate(), r->pa_up = 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = (int)r->rate;
    info.channels = 2;
    int flac = has_ext(r->wav_path, ".flac");
    info.format = flac ? SF_FORMAT_FLAC | SF_FORMAT_PCM_24 : SF_FORMAT_WAV | SF_FORMAT_PCM_24;
    SNDFILE *sf = sf_open(r->wav_path, SFM_WRITE, &info);
    if (!sf) {
        fprintf(stderr, "rnnmidi-demo: %s: cannot write: %s\n", r->wav_path, sf_strerror(NULL));
        r->abandoned = 1;
        return 1;
    }
    int status = 0;
    uint64_t total = (uint64_t)llround(o->seconds * r->rate);
    float *buf = malloc((size_t)o->buffer * 2 * sizeof(float));
    float *inblk = malloc((size_t)o->buffer * sizeof(float));
    if (!buf || !inblk) {
        fprintf(stderr, "rnnmidi-demo: out of memory\n");
        status = 1;
    }
    for (uint64_t done = 0; !status && done < total && !quit_flag;) {
        uint32_t n = total - done < o->buffer ? (uint32_t)(total - done) : o->buffer;
        const float *in = NULL;
        if (r->input) {
            for (uint32_t i = 0; i < n; i++)
                inblk[i] = done + i < r->input_frames ? r->input[done + i] : 0.0f;
            in = inblk;
        }
        demo_session_process(r->s, in, buf, n);
        for (uint32_t i = 0; i < 2 * n; i++)
            if (fabsf(buf[i]) > r->peak) r->peak = fabsf(buf[i]);
        if (sf_writef_float(sf, buf, n) != (sf_count_t)n) {
            fprintf(stderr, "rnnmidi-demo: %s: write error: %s\n", r->wav_path, sf_strerror(sf));
            status = 1;
        }
        drain_played(r, NULL);
        done += n;
    }
    free(buf);
    free(inblk);
    if (sf_close(sf) && !status) {
        fprintf(stderr, "rnnmidi-demo: %s: cannot finish the file\n", r->wav_path);
        status = 1;
    }
    return status;
}

/* The opening lines of a live run. */
static void say_playing(const demo_run *r, const demo_audio *a, int ui)
{
    const options *o = &r->o;
    char dev[256], in_dev[256];
    rnn_text_sanitize(dev, sizeof dev, a->device_name);
    rnn_text_sanitize(in_dev, sizeof in_dev, a->input_name);
    printf("Playing on %s (%.0f Hz, %u frames, %.1f ms out)%s%s, seed %u.\n", dev, a->sample_rate,
           o->buffer, a->latency * 1000.0, a->input_name ? ", listening to " : "", in_dev,
           (unsigned)r->seed);
    if (o->seconds > 0)
        printf("%g second%s", o->seconds, o->seconds == 1 ? "" : "s");
    else
        printf("Until q or Ctrl-C");
    puts(ui ? "; keys change the music:" : ".");
}

/* The stream running until the time is up, q or Ctrl-C: keys, live MIDI,
 * the played notes recorded and, on a terminal, scrolling by as they leave
 * the speaker. */
static int play_stream(demo_run *r, demo_audio *a, demo_audio_state *st, PortMidiStream *midi)
{
    const options *o = &r->o;
    char err[1024];
    int status = 0;
    int ui = o->ui < 0 ? isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) : o->ui;
    if (!o->quiet) say_playing(r, a, ui);
    demo_view *v = NULL;
    if (ui) {
        v = demo_view_create(isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL);
        demo_term_raw();
        demo_print_keys();
        demo_print_status(&r->c);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (demo_audio_start(a, err, sizeof err)) {
        say_error(err);
        status = 1;
    }
    while (!status && !quit_flag && !atomic_load(&st->done) && Pa_IsStreamActive(a->stream) == 1) {
        int ch;
        while (ui && (ch = demo_term_key()) >= 0) {
            int k = demo_handle_key(ch, &r->c, r->s);
            if (k < 0)
                quit_flag = 1;
            else if (k > 0)
                demo_print_status(&r->c);
        }
        poll_midi_in(midi, r->s);
        drain_played(r, ui ? v : NULL);
        if (ui && v) {
            /* lines appear as the notes leave the speaker */
            uint64_t pos = demo_session_position(r->s);
            uint64_t lat = (uint64_t)(a->latency * a->sample_rate);
            if (pos > lat) demo_view_print(v, &r->c, a->sample_rate, pos - lat);
        }
        Pa_Sleep(5);
    }
    demo_audio_close(a);
    demo_term_restore();
    drain_played(r, ui ? v : NULL);
    /* the steps still on their way to the speaker when it stopped */
    uint64_t end_pos = demo_session_position(r->s);
    if (ui && v && end_pos > 0) demo_view_print(v, &r->c, a->sample_rate, end_pos - 1);
    demo_view_free(v);
    if (!o->quiet && atomic_load(&st->xruns))
        printf("%llu buffer under/overruns: try a larger --buffer-size\n",
               (unsigned long long)atomic_load(&st->xruns));
    return status;
}

/* A live run on the audio device, with the MIDI input when asked. Returns
 * the exit status so far. */
static int play_live(demo_run *r)
{
    const options *o = &r->o;
    char err[1024];
    int status = 0;
    demo_audio_state st;
    memset(&st, 0, sizeof st);
    st.session = r->s;
    atomic_init(&st.done, 0);
    atomic_init(&st.xruns, 0);
    st.stop_frame = o->seconds > 0 ? (uint64_t)llround(o->seconds * r->rate) : 0;
    demo_audio_opts ao = {o->device, o->input_device, o->input_audio, r->rate, o->buffer};
    demo_audio a;
    PortMidiStream *midi = NULL;
    if (o->midi_in != -1 && !(midi = open_midi_in(o->midi_in))) status = 1;
    if (!status && demo_audio_open(&a, &ao, &st, err, sizeof err)) {
        say_error(err);
        status = 1;
    }
    if (!status) status = play_stream(r, &a, &st, midi);
    if (midi) Pm_Close(midi);
    demo_audio_terminate();
    r->pa_up = 0;
    return status;
}

/* What was played, counted, and written as MIDI and a piano roll unless
 * something failed before. Returns the exit status. */
static int finish(demo_run *r, int status)
{
    const options *o = &r->o;
    uint64_t end = demo_session_position(r->s);
    demo_record_finish(&r->rec, end);
    if (!o->quiet) {
        printf("played      %.1f s, %zu note%s from the player", (double)end / r->rate,
               r->rec.counts[0], r->rec.counts[0] == 1 ? "" : "s");
        for (int k = 0; k < o->n_models; k++)
            printf(", %zu from %s", r->rec.counts[k + 1], r->part_names[k]);
        puts("");
        if (r->offline) {
            printf("peak        %.1f dBFS\n", r->peak > 0 ? 20.0 * log10(r->peak) : -INFINITY);
            printf("audio       %s\n", r->paths.wav);
        }
    } else if (r->offline) {
        puts(r->paths.wav);
    }
    if (demo_session_lost_events(r->s))
        fprintf(stderr, "rnnmidi-demo: %llu played events were lost for the MIDI file\n",
                (unsigned long long)demo_session_lost_events(r->s));
    if (!status)
        status =
            write_outputs(o, &r->paths, &r->rec, r->part_names, o->n_models, (double)end / r->rate);
    return status;
}

int main(int argc, char **argv)
{
    static demo_run r;
    int rc = parse_args(&r.o, argc, argv);
    if (rc) return rc;
    if (r.o.list_devices) return list_devices();
    if ((rc = check_inputs(&r.o))) return rc;

    rc = choose_output(&r);
    if (!rc) rc = name_outputs(&r);
    if (!rc) rc = load_player(&r);
    if (!rc) rc = start_session(&r);
    if (!rc) {
        init_controls(&r);
        demo_record_init(&r.rec, r.rate, r.c.tempo, PPQ);
        rc = r.offline ? render_offline(&r) : play_live(&r);
        if (!r.abandoned) {
            if (pm_ready) Pm_Terminate();
            rc = finish(&r, rc);
        }
        demo_record_free(&r.rec);
    }
    if (r.pa_up) demo_audio_terminate();
    demo_session_free(r.s);
    free(r.primer);
    free(r.positions);
    free(r.input);
    return rc;
}
