/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: PortAudio device handling and the stream callback. */
#include "audio.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ALSA and JACK print their probing failures on stderr while PortAudio
 * enumerates; the demo reports what matters itself. */
int demo_quiet_begin(void)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0) dup2(null, STDERR_FILENO);
    if (null >= 0) close(null);
    return saved;
}

void demo_quiet_end(int saved)
{
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
}

int demo_audio_init(char *err, size_t errlen)
{
    setenv("JACK_NO_START_SERVER", "1", 0);
    int q = demo_quiet_begin();
    PaError e = Pa_Initialize();
    demo_quiet_end(q);
    if (e != paNoError) {
        snprintf(err, errlen, "PortAudio: %s", Pa_GetErrorText(e));
        return -1;
    }
    return 0;
}

void demo_audio_terminate(void)
{
    int q = demo_quiet_begin();
    Pa_Terminate();
    demo_quiet_end(q);
}

int demo_audio_check_output(int device, double *default_rate, char *err, size_t errlen)
{
    int n = Pa_GetDeviceCount();
    if (n < 0) {
        snprintf(err, errlen, "PortAudio: %s", Pa_GetErrorText(n));
        return -1;
    }
    if (device < 0) {
        device = Pa_GetDefaultOutputDevice();
        if (device == paNoDevice) {
            snprintf(err, errlen, "no audio output device (PortAudio sees %d device%s)", n,
                     n == 1 ? "" : "s");
            return -1;
        }
    } else if (device >= n) {
        if (n == 0)
            snprintf(err, errlen, "device %d: no such device (PortAudio sees no devices)", device);
        else
            snprintf(err, errlen, "device %d: no such device (0..%d exist; see --list-devices)",
                     device, n - 1);
        return -1;
    }
    const PaDeviceInfo *info = Pa_GetDeviceInfo(device);
    if (!info || info->maxOutputChannels < 1) {
        snprintf(err, errlen, "device %d (%s) has no output channels", device,
                 info ? info->name : "?");
        return -1;
    }
    if (default_rate) *default_rate = info->defaultSampleRate;
    return 0;
}

int demo_audio_callback(const void *input, void *output, unsigned long frames,
                        const PaStreamCallbackTimeInfo *time, PaStreamCallbackFlags flags,
                        void *user)
{
    (void)time;
    demo_audio_state *st = user;
    float *out = output;
    if (flags & (paOutputUnderflow | paInputOverflow))
        atomic_fetch_add_explicit(&st->xruns, 1, memory_order_relaxed);
    uint64_t pos = demo_session_position(st->session);
    unsigned long n = frames;
    int complete = 0;
    if (st->stop_frame && pos + n >= st->stop_frame) {
        n = pos < st->stop_frame ? (unsigned long)(st->stop_frame - pos) : 0;
        complete = 1;
    }
    if (n) demo_session_process(st->session, st->input_channels ? input : NULL, out, (uint32_t)n);
    if (n < frames) memset(out + 2 * n, 0, (frames - n) * 2 * sizeof(float));
    if (complete) {
        atomic_store_explicit(&st->done, 1, memory_order_release);
        return paComplete;
    }
    return paContinue;
}

int demo_audio_open(demo_audio *a, const demo_audio_opts *o, demo_audio_state *state, char *err,
                    size_t errlen)
{
    memset(a, 0, sizeof *a);
    double rate = 0;
    if (demo_audio_check_output(o->device, &rate, err, errlen)) return -1;
    int dev = o->device < 0 ? Pa_GetDefaultOutputDevice() : o->device;
    const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
    if (o->sample_rate > 0) rate = o->sample_rate;
    PaStreamParameters out = {dev, 2, paFloat32, info->defaultLowOutputLatency, NULL};
    PaStreamParameters in, *inp = NULL;
    state->input_channels = 0;
    if (o->with_input) {
        int idev = o->input_device < 0 ? Pa_GetDefaultInputDevice() : o->input_device;
        int n = Pa_GetDeviceCount();
        if (idev == paNoDevice || idev < 0 || idev >= n) {
            snprintf(err, errlen, "no audio input device%s",
                     o->input_device >= 0 ? " by that number" : "");
            return -1;
        }
        const PaDeviceInfo *ii = Pa_GetDeviceInfo(idev);
        if (!ii || ii->maxInputChannels < 1) {
            snprintf(err, errlen, "device %d (%s) has no input channels", idev,
                     ii ? ii->name : "?");
            return -1;
        }
        in = (PaStreamParameters){idev, 1, paFloat32, ii->defaultLowInputLatency, NULL};
        inp = &in;
        state->input_channels = 1;
        a->input_name = ii->name;
    }
    int q = demo_quiet_begin();
    PaError e = Pa_IsFormatSupported(inp, &out, rate);
    if (e == paNoError)
        e = Pa_OpenStream(&a->stream, inp, &out, rate, o->buffer, paNoFlag, demo_audio_callback,
                          state);
    demo_quiet_end(q);
    if (e != paNoError) {
        snprintf(err, errlen, "device %d (%s): cannot open %.0f Hz stereo%s: %s", dev, info->name,
                 rate, inp ? " with a mono input" : "", Pa_GetErrorText(e));
        a->stream = NULL;
        return -1;
    }
    const PaStreamInfo *si = Pa_GetStreamInfo(a->stream);
    a->sample_rate = si ? si->sampleRate : rate;
    a->latency = si ? si->outputLatency : 0.0;
    a->device_name = info->name;
    return 0;
}

int demo_audio_start(demo_audio *a, char *err, size_t errlen)
{
    PaError e = Pa_StartStream(a->stream);
    if (e != paNoError) {
        snprintf(err, errlen, "%s: cannot start the stream: %s", a->device_name,
                 Pa_GetErrorText(e));
        return -1;
    }
    return 0;
}

void demo_audio_close(demo_audio *a)
{
    if (!a->stream) return;
    if (Pa_IsStreamStopped(a->stream) == 0) Pa_StopStream(a->stream);
    Pa_CloseStream(a->stream);
    a->stream = NULL;
}
