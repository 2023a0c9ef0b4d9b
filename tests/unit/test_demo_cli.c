/* SPDX-License-Identifier: MIT */
/* rnnmidi-demo as a user meets it: --help, bad arguments (exit 2, a message),
 * missing or broken files and unusable devices (exit 1, a message naming
 * them), the fall-back from "no audio device" to an offline render, and the
 * PortAudio path run for real through ALSA's file-over-null PCM (no
 * hardware): what the callback wrote must equal the offline render of the
 * same seed, sample for sample, after PortAudio's leading silence. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/skip.h"
#include "../support/demo/demo_fixture.h"

static char dir[256], mel[512], drums[512], nohome[512], nullhome[512], raw[512];

static int setup(void **state)
{
    (void)state;
    if (fx_tmpdir(dir, sizeof dir, "demo-cli")) return -1;
    snprintf(mel, sizeof mel, "%s/melody.rnnw", dir);
    snprintf(drums, sizeof drums, "%s/drums.rnnw", dir);
    snprintf(nohome, sizeof nohome, "%s/home-empty", dir);
    snprintf(nullhome, sizeof nullhome, "%s/home-null", dir);
    snprintf(raw, sizeof raw, "%s/pcm.raw", dir);
    if (mkdir(nohome, 0700) || mkdir(nullhome, 0700)) return -1;
    if (fx_write_asoundrc(nullhome, raw)) return -1;
    if (fx_write_model(mel, RNN_KIND_MELODY, RNN_CELL_LSTM, 21)) return -1;
    if (fx_write_model(drums, RNN_KIND_DRUMS, RNN_CELL_GRU, 22)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_rmtree(dir);
    return 0;
}

static char out[16384];

/* Run the demo with the arguments up to a NULL. */
static int run(const char *home, const char *cwd, ...)
{
    char *argv[48] = {"rnnmidi-demo"};
    int k = 1;
    va_list ap;
    va_start(ap, cwd);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && k < 47)
        argv[k++] = (char *)a;
    va_end(ap);
    argv[k] = NULL;
    return fx_run(home, cwd, argv, out, sizeof out);
}
#define RUN(home, cwd, ...) run(home, cwd, __VA_ARGS__, (const char *)NULL)

static void expect(int rc, int want, const char *text)
{
    if (rc != want || (text && !strstr(out, text)))
        fprintf(stderr, "exit %d (want %d), output:\n%s\n", rc, want, out);
    assert_int_equal(rc, want);
    if (text) assert_non_null(strstr(out, text));
}

static void test_help(void **state)
{
    (void)state;
    expect(RUN(NULL, NULL, "--help"), 0, "Usage: rnnmidi-demo");
    assert_non_null(strstr(out, "--list-devices"));
    assert_non_null(strstr(out, "Keys while playing"));
}

static void test_bad_arguments_exit_2(void **state)
{
    (void)state;
    expect(RUN(NULL, NULL, "--bogus"), 2, "unknown option '--bogus'");
    expect(RUN(NULL, NULL, "--seconds", "abc"), 2, "--seconds: 'abc'");
    expect(RUN(NULL, NULL, "--seconds"), 2, "--seconds needs a value");
    expect(RUN(NULL, NULL, "--sample-rate", "5"), 2, "8000..192000");
    expect(RUN(NULL, NULL, "--buffer-size", "3"), 2, "16..8192");
    expect(RUN(NULL, NULL, "--device", "x"), 2, "--device: 'x'");
    expect(RUN(NULL, NULL, "--mode", "dance"), 2, "--mode: 'dance'");
    expect(RUN(NULL, NULL, "--key", "H"), 2, "--key: 'H'");
    expect(RUN(NULL, NULL, "--temperature", "9"), 2, "0..2");
    expect(RUN(NULL, NULL, "--set", "nosuch=1"), 2, "--set: 'nosuch=1'");
    expect(RUN(NULL, NULL, "-m", mel, "-m", mel, "-m", mel, "-m", mel), 2, "at most 3");
    expect(RUN(NULL, NULL, "--render", "x.mp3"), 2,
           "--render: 'x.mp3' (name a .wav or .flac file)");
    expect(RUN(NULL, NULL, "--roll", "x.jpg"), 2, "--roll: 'x.jpg' (name a .png or .svg file)");
    expect(RUN(NULL, NULL, "stray"), 2, "unexpected argument 'stray'");
    assert_non_null(strstr(out, "Try 'rnnmidi-demo --help'"));
}

static void test_missing_and_broken_files_exit_1(void **state)
{
    (void)state;
    char render[600], broken[600];
    snprintf(render, sizeof render, "%s/x.wav", dir);
    expect(RUN(NULL, NULL, "-m", "/nonexistent/m.rnnw", "--render", render), 1,
           "/nonexistent/m.rnnw: no such preset file");
    snprintf(broken, sizeof broken, "%s/broken.rnnw", dir);
    FILE *f = fopen(broken, "w");
    assert_non_null(f);
    fputs("not a preset\n", f);
    fclose(f);
    expect(RUN(NULL, NULL, "-m", broken, "--render", render), 1, broken);
    expect(RUN(NULL, NULL, "-m", mel, "--primer", "/nonexistent/p.mid", "--render", render), 1,
           "/nonexistent/p.mid");
    expect(RUN(NULL, NULL, "-m", mel, "--input-file", "/nonexistent/in.wav", "--render", render), 1,
           "/nonexistent/in.wav");
    expect(RUN(NULL, NULL, "-m", mel, "--render", "/nonexistent/dir/out.wav"), 1,
           "/nonexistent/dir/out.wav");
    /* no presets folder here: the defaults are missing, and the message says what to do */
    expect(RUN(NULL, dir, "--render", render), 1, "presets/melody-lstm.rnnw: no such preset file");
    assert_non_null(strstr(out, "--model FILE.rnnw"));
}

static void test_no_device_falls_back_to_a_render(void **state)
{
    (void)state;
    char od[600];
    snprintf(od, sizeof od, "%s/fallback/out", dir);
    int rc =
        RUN(nohome, NULL, "-m", mel, "-m", drums, "--seconds", "2", "--seed", "3", "--out-dir", od);
    if (strstr(out, "Playing on")) { /* this machine has a sound card after all */
        test_skip_note("test_no_device_falls_back_to_a_render",
                       "an audio device answered although HOME has no ALSA setup");
        skip();
    }
    expect(rc, 0, "No audio device: no audio output device");
    assert_non_null(strstr(out, "Rendering 2 s offline instead"));
    const char *ext[3] = {".wav", ".mid", ".png"};
    for (int i = 0; i < 3; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/rnnmidi-demo%s", od, ext[i]);
        assert_non_null(strstr(out, p)); /* the paths are printed */
        size_t n;
        unsigned char *b = fx_slurp(p, &n);
        assert_non_null(b);
        assert_true(n > 100);
        free(b);
    }
    char p[700];
    snprintf(p, sizeof p, "%s/rnnmidi-demo.wav", od);
    size_t frames;
    int ch, rate;
    float *w = fx_read_sound(p, &frames, &ch, &rate);
    assert_non_null(w);
    assert_int_equal(rate, 48000);
    assert_int_equal(frames, 96000);
    free(w);
    /* live input cannot fall back */
    expect(RUN(nohome, NULL, "-m", mel, "--input", "audio"), 1, "live input needs one");
}

/* A preset's name is the file's text: its terminal escapes (a title-setting
 * OSC ended by BEL, a colour CSI, the C1 CSI U+009B) are not printed, nor
 * drawn into the piano roll. */
static void test_preset_name_is_sanitised(void **state)
{
    (void)state;
    char evil[600], render[600], roll[600];
    snprintf(evil, sizeof evil, "%s/evil.rnnw", dir);
    snprintf(render, sizeof render, "%s/evil.wav", dir);
    snprintf(roll, sizeof roll, "%s/evil.svg", dir);
    assert_int_equal(fx_write_model_named(evil, RNN_KIND_MELODY, RNN_CELL_GRU, 1, 16, 32, 23,
                                          "evil\x1b]0;pwn\x07\x1b[31m\xc2\x9bname"),
                     0);
    expect(RUN(NULL, NULL, "-m", evil, "--seconds", "1", "--seed", "2", "--render", render,
               "--roll", roll),
           0, "evil?]0;pwn??[31m?name");
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x07'));
    assert_null(strstr(out, "\xc2\x9b"));
    size_t n;
    unsigned char *svg = fx_slurp(roll, &n);
    assert_non_null(svg);
    char *text = malloc(n + 1);
    assert_non_null(text);
    memcpy(text, svg, n);
    text[n] = 0;
    assert_non_null(strstr(text, "evil?]0;pwn??[31m?name"));
    assert_null(strstr(text, "\xc2\x9b"));
    free(text);
    for (size_t i = 0; i < n; i++)
        if (svg[i] < 0x20 && svg[i] != '\n') fail_msg("control byte 0x%02x in the SVG", svg[i]);
    free(svg);
    /* error messages quote names too */
    char broken[600];
    snprintf(broken, sizeof broken, "%s/broken\x1b]0;pwn\x07.rnnw", dir);
    FILE *f = fopen(broken, "w");
    assert_non_null(f);
    fputs("not a preset\n", f);
    fclose(f);
    expect(RUN(NULL, NULL, "-m", broken, "--render", render), 1, "broken?]0;pwn?.rnnw");
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x07'));
}

static void test_bad_device_numbers(void **state)
{
    (void)state;
    expect(RUN(nohome, NULL, "-m", mel, "--device", "7", "--seconds", "1"), 1,
           "device 7: no such device");
    expect(RUN(nullhome, NULL, "-m", mel, "--device", "7", "--seconds", "1"), 1,
           "device 7: no such device (0..");
    assert_non_null(strstr(out, "exist; see --list-devices)"));
    expect(RUN(nullhome, NULL, "--list-devices"), 0, "default");
    assert_non_null(strstr(out, "[default out]"));
    expect(RUN(nohome, NULL, "--list-devices"), 0, "Audio devices (--device N");
    /* (a machine with a sound card lists it here instead) */
    assert_true(strstr(out, "none (rnnmidi-demo will render") || strstr(out, "[default out]"));
    /* no MIDI ports here: a MIDI input number is refused, naming the fix */
    expect(RUN(nullhome, NULL, "-m", mel, "--midi-in", "3", "--seconds", "1"), 1,
           "--midi-in: no MIDI input by that number (see --list-devices)");
}

static void test_portaudio_callback_plays_what_the_render_holds(void **state)
{
    (void)state;
    unlink(raw);
    expect(RUN(nullhome, NULL, "-m", mel, "-m", drums, "--seconds", "3", "--seed", "8", "-r",
               "48000", "-b", "256", "--no-ui"),
           0, "Playing on default (48000 Hz, 256 frames");
    char wav[600];
    snprintf(wav, sizeof wav, "%s/same.wav", dir);
    expect(RUN(NULL, NULL, "-m", mel, "-m", drums, "--seconds", "3", "--seed", "8", "-r", "48000",
               "-b", "256", "--render", wav, "-q"),
           0, NULL);
    size_t nraw, frames;
    int ch, rate;
    unsigned char *b = fx_slurp(raw, &nraw);
    float *w = fx_read_sound(wav, &frames, &ch, &rate);
    assert_non_null(b);
    assert_non_null(w);
    const float *r = (const float *)(const void *)b;
    size_t rframes = nraw / (2 * sizeof(float));
    /* PortAudio starts the device with silence: align on the first sound */
    size_t r0 = 0, w0 = 0;
    while (r0 < rframes && r[2 * r0] == 0.0f && r[2 * r0 + 1] == 0.0f)
        r0++;
    while (w0 < frames && w[2 * w0] == 0.0f && w[2 * w0 + 1] == 0.0f)
        w0++;
    assert_true(r0 < rframes && w0 < frames && r0 >= w0);
    size_t lead = r0 - w0;
    fprintf(stderr, "portaudio: %zu frames of leading silence, %zu frames written\n", lead,
            rframes);
    assert_true(lead <= 8192);
    assert_true(rframes >= lead + frames);
    float maxdiff = 0;
    for (size_t i = 0; i < 2 * frames; i++)
        maxdiff = fmaxf(maxdiff, fabsf(r[2 * lead + i] - w[i]));
    fprintf(stderr, "portaudio: max difference to the render %.2g\n", maxdiff);
    assert_true(maxdiff <= 2.0f / 8388608.0f); /* the render is 24-bit */
    free(b);
    free(w);
}

static void test_keys_change_the_settings(void **state)
{
    (void)state;
    /* keys from a file (--ui takes them without a terminal); the stream runs
     * until q */
    char keys[600];
    snprintf(keys, sizeof keys, "%s/keys.txt", dir);
    FILE *f = fopen(keys, "w");
    assert_non_null(f);
    fputs("mTT+ksdrx\033[A\033[Dq", f);
    fclose(f);
    fx_stdin_path = keys;
    int rc = RUN(nullhome, NULL, "-m", mel, "-m", drums, "--seconds", "0", "--seed", "5", "--ui",
                 "--set", "scale=1");
    fx_stdin_path = NULL;
    expect(rc, 0, "Until q or Ctrl-C; keys change the music:");
    const char *want[] = {
        "[mode accompany] [temperature 1.00] [tempo 120] [key C major] [density 0.50] [seed 5]",
        "[mode continue] [temperature 1.00]",
        "[mode continue] [temperature 1.10]",
        "[mode continue] [temperature 1.20] [tempo 120]",
        "[temperature 1.20] [tempo 125] [key C major]",
        "[tempo 125] [key B major]",
        "[key B minor] [density 0.50]",
        "[key B minor] [density 0.40] [seed 5]",
        "[density 0.40] [seed 1",
        "[mode continue] [temperature 1.30] [tempo 125]",
        "[mode continue] [temperature 1.30] [tempo 120]",
    };
    const char *at = out;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *p = strstr(at, want[i]);
        if (!p) fprintf(stderr, "missing, in order: %s\n%s\n", want[i], out);
        assert_non_null(p);
        at = p + 1;
    }
    assert_non_null(strstr(out, "played "));

    /* the scrolling view: one line per sixteenth, 2 s at 120 BPM is one bar */
    rc = RUN(nullhome, NULL, "-m", mel, "-m", drums, "--seconds", "2", "--seed", "5", "--ui");
    expect(rc, 0, "   1.1.1 ");
    assert_non_null(strstr(out, "   1.2.1 "));
    assert_non_null(strstr(out, "   1.4.4 "));
    assert_null(strstr(out, "   2.1.2 "));
}

static void test_microphone_through_portaudio(void **state)
{
    (void)state;
    /* ALSA captures from a raw file: four sung-like notes, mono float at 48 kHz */
    char home[600], in[600], mid[600], playraw[600];
    snprintf(home, sizeof home, "%s/home-mic", dir);
    snprintf(in, sizeof in, "%s/mic.raw", dir);
    snprintf(mid, sizeof mid, "%s/mic.mid", dir);
    snprintf(playraw, sizeof playraw, "%s/mic-out.raw", dir);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(fx_write_asoundrc_in(home, playraw, in), 0);
    const int rate = 48000, pitches[4] = {57, 60, 64, 62};
    size_t n = (size_t)rate * 4;
    float *x = calloc(n, sizeof *x);
    assert_non_null(x);
    for (int k = 0; k < 4; k++) {
        double fr = 440.0 * pow(2.0, (pitches[k] - 69) / 12.0);
        size_t on = (size_t)((0.3 + 0.7 * k) * rate);
        for (size_t i = 0; i < (size_t)(0.5 * rate); i++) {
            double t = (double)i / rate, env = fmin(1.0, t / 0.01) * fmin(1.0, (0.5 - t) / 0.02);
            x[on + i] =
                (float)(0.4 * env * (sin(2 * M_PI * fr * t) + 0.3 * sin(4 * M_PI * fr * t)));
        }
    }
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof *x, n, f), n);
    fclose(f);
    free(x);
    expect(RUN(home, NULL, "-m", mel, "--input", "audio", "-r", "48000", "--seconds", "4", "--seed",
               "2", "--midi-out", mid, "--no-ui"),
           0, "listening to default");
    assert_non_null(strstr(out, "4 notes from the player"));
    size_t len;
    unsigned char *b = fx_slurp(mid, &len);
    assert_non_null(b);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_arguments_exit_2),
        cmocka_unit_test(test_missing_and_broken_files_exit_1),
        cmocka_unit_test(test_no_device_falls_back_to_a_render),
        cmocka_unit_test(test_preset_name_is_sanitised),
        cmocka_unit_test(test_bad_device_numbers),
        cmocka_unit_test(test_portaudio_callback_plays_what_the_render_holds),
        cmocka_unit_test(test_keys_change_the_settings),
        cmocka_unit_test(test_microphone_through_portaudio),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
