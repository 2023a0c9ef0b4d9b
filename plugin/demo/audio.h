/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: the PortAudio side. Opens an output stream (and, for a
 * microphone, a mono input) on a device and runs a demo session from the
 * stream's callback until a frame count is reached or the caller stops it.
 *
 * demo_audio_callback is the real-time part: it only calls
 * demo_session_process and reads/writes atomics. Everything else is for the
 * main thread. Nothing here prints. */
#ifndef RNNMIDI_DEMO_AUDIO_H
#define RNNMIDI_DEMO_AUDIO_H

#include <portaudio.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "demo.h"

/* What the callback needs; the stream's user data. */
typedef struct {
    demo_session *session;
    uint64_t stop_frame;    /* complete after this many frames (0 = run until stopped) */
    int input_channels;     /* 0 or 1 */
    _Atomic int done;       /* set by the callback when it returned paComplete */
    _Atomic uint64_t xruns; /* under/overflows PortAudio reported */
} demo_audio_state;

typedef struct {
    int device;         /* output device index, -1 = PortAudio's default */
    int input_device;   /* input device, -1 = default; used when with_input */
    int with_input;     /* 1: open a mono input too (microphone) */
    double sample_rate; /* 0 = the device's default */
    unsigned buffer;    /* frames per callback */
} demo_audio_opts;

typedef struct {
    PaStream *stream;
    double sample_rate; /* the rate the stream runs at */
    double latency;     /* output latency, seconds */
    const char *device_name;
    const char *input_name; /* NULL without input */
} demo_audio;

/** Pa_Initialize with the libraries' chatter on stderr silenced (ALSA, JACK
 * probing). 0, or -1 with PortAudio's message. Main thread. */
int demo_audio_init(char *err, size_t errlen);

/** Silence stderr (fd 2) until demo_quiet_end(returned value): for library
 * calls that print their probing (ALSA, JACK, PortMidi). Main thread. */
int demo_quiet_begin(void);
void demo_quiet_end(int saved);

/** Pa_Terminate. Main thread. */
void demo_audio_terminate(void);

/** Check an output device (index, or -1 for the default) and say what rate it
 * would run at: 0, or -1 with a message ("no audio output device", "device 7:
 * no such device (0..2 exist)", "device 1 has no output channels"). Main thread. */
int demo_audio_check_output(int device, double *default_rate, char *err, size_t errlen);

/** Open (not start) a stream driving state->session. 0, or -1 with a message
 * naming the device. Main thread. */
int demo_audio_open(demo_audio *a, const demo_audio_opts *o, demo_audio_state *state, char *err,
                    size_t errlen);

/** Start / stop and close. 0 or -1 with a message. Main thread. */
int demo_audio_start(demo_audio *a, char *err, size_t errlen);
void demo_audio_close(demo_audio *a);

/** The stream callback (PortAudio's signature; user is a demo_audio_state).
 * Audio thread: calls demo_session_process only. */
int demo_audio_callback(const void *input, void *output, unsigned long frames,
                        const PaStreamCallbackTimeInfo *time, PaStreamCallbackFlags flags,
                        void *user);

#endif
