/* SPDX-License-Identifier: MIT */
/* The demo's offline render, through the sanitizer-built rnnmidi-demo and
 * the demo's own objects: renders repeat exactly for a seed, are not silent,
 * never clip (peak <= -1 dBFS), the notes in the MIDI file it writes are
 * where aubio finds onsets in the audio (and not half a step later), a
 * primer is heard and written back, a recording through the note detector
 * becomes player notes, and the synth and the piano roll do what they say.
 * Presets are fixtures with random weights written here. */
#include <aubio/aubio.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugin/demo/pianoroll.h"
#include "../../plugin/demo/synth.h"
#include "../../core/midifile.h"
#include "../support/demo/demo_fixture.h"

static char dir[256], mel[512], drums[512];

static int setup(void **state)
{
    (void)state;
    if (fx_tmpdir(dir, sizeof dir, "demo-render")) return -1;
    snprintf(mel, sizeof mel, "%s/melody.rnnw", dir);
    snprintf(drums, sizeof drums, "%s/drums.rnnw", dir);
    if (fx_write_model(mel, RNN_KIND_MELODY, RNN_CELL_LSTM, 11)) return -1;
    if (fx_write_model(drums, RNN_KIND_DRUMS, RNN_CELL_GRU, 12)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_rmtree(dir);
    return 0;
}

/* Render seconds with seed into dir/name.wav (+ .mid, .png). */
static void render(const char *name, const char *seed, const char *seconds, const char *extra1,
                   const char *extra2)
{
    char wav[600], out[8192];
    snprintf(wav, sizeof wav, "%s/%s.wav", dir, name);
    char *argv[20] = {"rnnmidi-demo",  "-m",       mel,          "-m",
                      drums,           "--seed",   (char *)seed, "--seconds",
                      (char *)seconds, "--render", wav,          "-q"};
    int k = 12;
    if (extra1) argv[k++] = (char *)extra1;
    if (extra2) argv[k++] = (char *)extra2;
    argv[k] = NULL;
    int rc = fx_run(NULL, NULL, argv, out, sizeof out);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
}

static void path_of(char *p, size_t n, const char *name, const char *ext)
{
    snprintf(p, n, "%s/%s%s", dir, name, ext);
}

static void test_render_repeats_for_a_seed(void **state)
{
    (void)state;
    render("a", "4242", "6", NULL, NULL);
    render("b", "4242", "6", NULL, NULL);
    render("c", "4243", "6", NULL, NULL);
    char pa[600], pb[600], pc[600];
    size_t na, nb, nc;
    path_of(pa, sizeof pa, "a", ".mid");
    path_of(pb, sizeof pb, "b", ".mid");
    path_of(pc, sizeof pc, "c", ".mid");
    unsigned char *ma = fx_slurp(pa, &na), *mb = fx_slurp(pb, &nb), *mc = fx_slurp(pc, &nc);
    assert_non_null(ma);
    assert_non_null(mb);
    assert_non_null(mc);
    assert_int_equal(na, nb);
    assert_memory_equal(ma, mb, na);
    /* another seed plays other notes, so the comparison above can fail */
    assert_true(na != nc || memcmp(ma, mc, na) != 0);
    free(ma);
    free(mb);
    free(mc);

    size_t fa, fb;
    int ca, cb, ra, rb;
    path_of(pa, sizeof pa, "a", ".wav");
    path_of(pb, sizeof pb, "b", ".wav");
    float *wa = fx_read_sound(pa, &fa, &ca, &ra), *wb = fx_read_sound(pb, &fb, &cb, &rb);
    assert_non_null(wa);
    assert_non_null(wb);
    assert_int_equal(fa, 6 * 48000);
    assert_int_equal(fa, fb);
    assert_int_equal(ca, 2);
    float maxdiff = 0;
    for (size_t i = 0; i < fa * 2; i++)
        maxdiff = fmaxf(maxdiff, fabsf(wa[i] - wb[i]));
    assert_true(maxdiff <= 1e-6f);
    free(wa);
    free(wb);
}

static void test_render_is_loud_enough_and_never_clips(void **state)
{
    (void)state;
    render("levels", "77", "8", NULL, NULL);
    char p[600];
    path_of(p, sizeof p, "levels", ".wav");
    size_t n;
    int ch, rate;
    float *w = fx_read_sound(p, &n, &ch, &rate);
    assert_non_null(w);
    double peak = 0, sum = 0;
    int silent_seconds = 0;
    for (size_t s = 0; s + (size_t)rate <= n; s += (size_t)rate) {
        double e = 0;
        for (size_t i = s * 2; i < (s + (size_t)rate) * 2; i++)
            e += (double)w[i] * w[i];
        if (sqrt(e / (2.0 * rate)) < 1e-3) silent_seconds++;
    }
    for (size_t i = 0; i < n * 2; i++) {
        peak = fmax(peak, fabs(w[i]));
        sum += (double)w[i] * w[i];
    }
    double rms = sqrt(sum / (2.0 * (double)n));
    fprintf(stderr, "levels: peak %.2f dBFS, rms %.1f dBFS\n", 20 * log10(peak), 20 * log10(rms));
    assert_true(peak <= pow(10.0, -1.0 / 20.0)); /* -1 dBFS */
    assert_true(rms > 0.01);                     /* -40 dBFS */
    assert_int_equal(silent_seconds, 0);
    free(w);
}

/* Onset times (seconds) of a mono signal by aubio's spectral-flux detector. */
static size_t aubio_onsets(const float *x, size_t n, int rate, double *out, size_t max)
{
    uint_t hop = 256;
    aubio_onset_t *o = new_aubio_onset("specflux", 1024, hop, (uint_t)rate);
    fvec_t *in = new_fvec(hop), *res = new_fvec(1);
    size_t k = 0;
    aubio_onset_set_threshold(o, 0.03f);
    aubio_onset_set_minioi_ms(o, 30.0f);
    for (size_t s = 0; s + hop <= n; s += hop) {
        for (uint_t i = 0; i < hop; i++)
            in->data[i] = x[s + i];
        aubio_onset_do(o, in, res);
        if (res->data[0] > 0 && k < max) out[k++] = aubio_onset_get_last_s(o);
    }
    del_aubio_onset(o);
    del_fvec(in);
    del_fvec(res);
    return k;
}

static double matched(const double *a, size_t na, const double *b, size_t nb, double shift,
                      double early, double late)
{
    size_t hit = 0;
    for (size_t i = 0; i < na; i++) {
        double t = a[i] + shift;
        for (size_t j = 0; j < nb; j++)
            if (b[j] >= t - early && b[j] <= t + late) {
                hit++;
                break;
            }
    }
    return na ? (double)hit / (double)na : 0.0;
}

static void test_notes_line_up_with_the_audio(void **state)
{
    (void)state;
    /* drums alone: crisp onsets, no echo */
    char wav[600], out[8192];
    snprintf(wav, sizeof wav, "%s/onsets.wav", dir);
    char *argv[] = {"rnnmidi-demo", "-m", drums, "--seed", "9",           "--seconds", "8",
                    "--render",     wav,  "-q",  "--set",  "density=0.2", NULL};
    int rc = fx_run(NULL, NULL, argv, out, sizeof out);
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);

    char mid[600];
    path_of(mid, sizeof mid, "onsets", ".mid");
    rnn_midi_file mf;
    char err[256];
    assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &mf, err, sizeof err), 0);
    double bpm = mf.n_tempos ? 60e6 / mf.tempos[0].usec_per_quarter : 120.0;
    double *m = calloc(mf.n_notes + 1, sizeof *m);
    assert_non_null(m);
    size_t nm = 0;
    for (size_t i = 0; i < mf.n_notes; i++) {
        double t = (double)mf.notes[i].on / mf.ppq * 60.0 / bpm;
        if (nm && t - m[nm - 1] < 0.01) continue; /* one onset per step */
        m[nm++] = t;
    }
    rnn_midi_free(&mf);
    assert_true(nm >= 16);

    size_t n;
    int ch, rate;
    float *w = fx_read_sound(wav, &n, &ch, &rate);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[i] = 0.5f * (w[2 * i] + w[2 * i + 1]);
    double d[4096];
    size_t nd = aubio_onsets(w, n, rate, d, 4096);
    free(w);

    double step = 60.0 / bpm / 4.0;
    double recall = matched(m, nm, d, nd, 0.0, 0.015, 0.030);
    double precision = matched(d, nd, m, nm, 0.0, 0.030, 0.015);
    double recall_late = matched(m, nm, d, nd, step / 2, 0.015, 0.030);
    fprintf(stderr,
            "onsets: %zu in the MIDI, %zu in the audio; recall %.2f precision %.2f, "
            "half a step late %.2f\n",
            nm, nd, recall, precision, recall_late);
    /* how far the found onsets sit from the MIDI's (median of the matched) */
    double off[4096];
    size_t no = 0;
    for (size_t j = 0; j < nd; j++) {
        double best = 1.0;
        for (size_t i = 0; i < nm; i++)
            if (fabs(d[j] - m[i]) < fabs(best)) best = d[j] - m[i];
        if (fabs(best) <= 0.03) off[no++] = fabs(best);
    }
    for (size_t i = 1; i < no; i++)
        for (size_t j = i; j > 0 && off[j - 1] > off[j]; j--) {
            double t = off[j];
            off[j] = off[j - 1];
            off[j - 1] = t;
        }
    double median = no ? off[no / 2] : 1.0;
    fprintf(stderr, "onsets: median distance %.1f ms\n", median * 1e3);
    /* nearly every onset aubio hears is a MIDI note, most notes are heard
     * (a quiet hit under a loud one can hide), they sit within a few ms,
     * and the same notes half a step later match almost nothing */
    assert_true(precision >= 0.9);
    assert_true(recall >= 0.65);
    assert_true(median <= 0.008);
    assert_true(recall_late <= 0.2);
    free(m);
}

static void test_primer_is_heard_and_written(void **state)
{
    (void)state;
    /* a primer: C major arpeggio, 8 notes of an eighth each at 100 BPM */
    rnn_note notes[8];
    int ppq = 96;
    for (int i = 0; i < 8; i++)
        notes[i] = (rnn_note){1,
                              0,
                              60 + (int[]){0, 4, 7, 12, 7, 4, 0, 4}[i],
                              90,
                              (int64_t)i * ppq / 2,
                              (int64_t)i * ppq / 2 + ppq / 2 - 4};
    char primer[600], err[256];
    snprintf(primer, sizeof primer, "%s/primer.mid", dir);
    assert_int_equal(rnn_midi_write_path(primer, notes, 8, ppq, 100.0, err, sizeof err), 0);
    render("primed", "5", "5", "--primer", primer);

    char mid[600];
    path_of(mid, sizeof mid, "primed", ".mid");
    rnn_midi_file mf;
    assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &mf, err, sizeof err), 0);
    /* the demo takes the primer's tempo */
    assert_true(mf.n_tempos >= 1);
    assert_int_equal(mf.tempos[0].usec_per_quarter, 600000);
    size_t player = 0;
    for (size_t i = 0; i < mf.n_notes; i++) {
        const rnn_note *n = &mf.notes[i];
        if (n->track != 2 || n->channel != 0) continue; /* track 1 of the file is the tempo */
        assert_true(player < 8);
        assert_int_equal(n->pitch, notes[player].pitch);
        /* the same time within a tick of 480 ppq */
        assert_true(llabs(n->on - notes[player].on * mf.ppq / ppq) <= 1);
        player++;
    }
    assert_int_equal(player, 8);
    rnn_midi_free(&mf);
}

static void test_a_recording_becomes_player_notes(void **state)
{
    (void)state;
    /* four sung-like notes: saw-ish tones, half a second each, with gaps */
    int rate = 48000;
    size_t n = (size_t)rate * 3;
    float *x = calloc(n, sizeof *x);
    assert_non_null(x);
    const int pitches[4] = {57, 60, 64, 62};
    for (int k = 0; k < 4; k++) {
        double f = 440.0 * pow(2.0, (pitches[k] - 69) / 12.0);
        size_t on = (size_t)((0.2 + 0.65 * k) * rate);
        for (size_t i = 0; i < (size_t)(0.45 * rate); i++) {
            double t = (double)i / rate, env = fmin(1.0, t / 0.01) * fmin(1.0, (0.45 - t) / 0.02);
            x[on + i] = (float)(0.4 * env * (sin(2 * M_PI * f * t) + 0.3 * sin(4 * M_PI * f * t)));
        }
    }
    char wav[600];
    snprintf(wav, sizeof wav, "%s/sung.wav", dir);
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *sf = sf_open(wav, SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_writef_float(sf, x, (sf_count_t)n), (sf_count_t)n);
    sf_close(sf);
    free(x);
    render("listened", "6", "4", "--input-file", wav);

    char mid[600], err[256];
    path_of(mid, sizeof mid, "listened", ".mid");
    rnn_midi_file mf;
    assert_int_equal(rnn_midi_read_path(mid, NULL, NULL, &mf, err, sizeof err), 0);
    int found[4] = {0};
    for (size_t i = 0; i < mf.n_notes; i++) {
        const rnn_note *nt = &mf.notes[i];
        if (nt->track != 2) continue; /* the player's track */
        double t = (double)nt->on / mf.ppq * 0.5;
        for (int k = 0; k < 4; k++)
            if (nt->pitch == pitches[k] && fabs(t - (0.2 + 0.65 * k)) < 0.12) found[k] = 1;
    }
    rnn_midi_free(&mf);
    assert_int_equal(found[0] + found[1] + found[2] + found[3], 4);
}

static void test_synth_never_clips_and_rings_out(void **state)
{
    (void)state;
    demo_synth *s = demo_synth_create(48000.0, 1);
    assert_non_null(s);
    static float buf[2 * 48000];
    float peak = 0;
    /* everything at once, at full velocity, several times */
    for (int rep = 0; rep < 4; rep++) {
        for (int p = 36; p < 100; p++) {
            uint8_t on[3] = {0x90, (uint8_t)p, 127}, dr[3] = {0x99, (uint8_t)(35 + p % 25), 127};
            demo_synth_midi(s, on, 3);
            demo_synth_midi(s, dr, 3);
        }
        demo_synth_render(s, buf, 12000);
        for (size_t i = 0; i < 24000; i++)
            peak = fmaxf(peak, fabsf(buf[i]));
    }
    assert_true(peak <= DEMO_SYNTH_CEILING + 1e-6f);
    assert_true(peak > 0.5f); /* and it did get loud */
    demo_synth_all_notes_off(s);
    for (int sec = 0; sec < 7; sec++)
        demo_synth_render(s, buf, 48000);
    float tail = 0;
    for (size_t i = 0; i < 2 * 48000; i++)
        tail = fmaxf(tail, fabsf(buf[i]));
    assert_true(tail < 1e-4f);
    assert_int_equal(demo_synth_active_voices(s), 0);
    demo_synth_free(s);
    assert_null(demo_synth_create(100.0, 1));
}

/* Play one note on a fresh synth and return 0.3 s of its left channel, from
 * 0.1 s after the onset. */
static float *one_note(int channel, int pitch, demo_timbre timbre, size_t *n)
{
    demo_synth *s = demo_synth_create(48000.0, 3);
    assert_non_null(s);
    demo_synth_set_timbre(s, channel, timbre);
    uint8_t on[3] = {(uint8_t)(0x90 | channel), (uint8_t)pitch, 110};
    demo_synth_midi(s, on, 3);
    static float st[2 * 19200];
    float *x = malloc(14400 * sizeof *x);
    assert_non_null(x);
    demo_synth_render(s, st, 4800);
    demo_synth_render(s, st, 14400);
    for (size_t i = 0; i < 14400; i++)
        x[i] = st[2 * i];
    demo_synth_free(s);
    *n = 14400;
    return x;
}

static void test_synth_plays_the_pitch_it_is_told(void **state)
{
    (void)state;
    const int pitches[5] = {45, 57, 69, 81, 93};
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 5; k++) {
            size_t n;
            float *x = one_note(0, pitches[k], t ? DEMO_TIMBRE_KEYS : DEMO_TIMBRE_LEAD, &n);
            aubio_pitch_t *p = new_aubio_pitch("yin", 4096, 512, 48000);
            aubio_pitch_set_unit(p, "midi");
            fvec_t *in = new_fvec(512), *out = new_fvec(1);
            float last = 0;
            for (size_t s = 0; s + 512 <= n; s += 512) {
                for (int i = 0; i < 512; i++)
                    in->data[i] = x[s + (size_t)i];
                aubio_pitch_do(p, in, out);
                last = out->data[0];
            }
            fprintf(stderr, "synth %s pitch %d: heard %.2f\n", t ? "keys" : "lead", pitches[k],
                    last);
            assert_true(fabsf(last - (float)pitches[k]) < 0.3f);
            del_aubio_pitch(p);
            del_fvec(in);
            del_fvec(out);
            free(x);
        }
}

/* Zero crossings per second: a brightness measure for noisy drums. */
static double crossings(const float *x, size_t n)
{
    size_t c = 0;
    for (size_t i = 1; i < n; i++)
        c += (x[i - 1] < 0) != (x[i] < 0);
    return (double)c / ((double)n / 48000.0);
}

static void test_drums_sound_low_to_high(void **state)
{
    (void)state;
    /* kick, high tom, snare, closed hat: each brighter than the one before */
    const int pitches[4] = {36, 50, 38, 42};
    double z[4];
    for (int k = 0; k < 4; k++) {
        size_t n;
        demo_synth *s = demo_synth_create(48000.0, 3);
        assert_non_null(s);
        uint8_t on[3] = {0x99, (uint8_t)pitches[k], 120};
        demo_synth_midi(s, on, 3);
        static float st[2 * 2400];
        demo_synth_render(s, st, 2400); /* the first 50 ms */
        float x[2400];
        for (int i = 0; i < 2400; i++)
            x[i] = st[2 * i] + st[2 * i + 1];
        n = 2400;
        z[k] = crossings(x, n);
        demo_synth_free(s);
    }
    fprintf(stderr, "drums: zero crossings/s kick %.0f tom %.0f snare %.0f hat %.0f\n", z[0], z[1],
            z[2], z[3]);
    assert_true(z[0] < 400.0);
    assert_true(z[0] < z[1] && z[1] < z[2] && z[2] < z[3]);
    assert_true(z[3] > 5000.0);
}

static uint32_t pixel(const unsigned char *px, int w, int x, int y)
{
    const unsigned char *p = px + ((size_t)y * (size_t)w + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static void test_piano_roll_draws_notes_where_they_are(void **state)
{
    (void)state;
    /* one melody note (track 2, full velocity) in bar 2, one kick in bar 1 */
    rnn_note notes[2] = {{2, 0, 64, 127, 4 * 480, 5 * 480}, {3, 9, 36, 127, 0, 120}};
    demo_roll_info info = {480, 120.0, 4, "test", {0}, 0};
    int w, h;
    unsigned char *px = demo_pianoroll_raster(notes, 2, &info, &w, &h);
    assert_non_null(px);
    /* layout: 2 bars -> the 640-pixel minimum, rows of 6 px over the two
     * octaves C3..B4 (whole octaves around the notes, two at least) */
    int left = 64, top = 46, row = 6;
    double px_per_tick = 640.0 / (8 * 480);
    int hi = 71, lo = 48;
    int x = left + (int)(4.5 * 480 * px_per_tick), y = top + (hi - 64) * row + row / 2;
    assert_int_equal(pixel(px, w, x, y), 0xf6a04du); /* track 2's colour at velocity 127 */
    int y_other = top + (hi - 70) * row + row / 2;   /* no note there */
    assert_true(pixel(px, w, x, y_other) != 0xf6a04du);
    int x_before = left + (int)(3.5 * 480 * px_per_tick);
    assert_true(pixel(px, w, x_before, y) != 0xf6a04du);
    /* the kick lane sits under the melody panel: find track 3's colour there */
    int drum_top = top + (hi - lo + 1) * row + 22, found = 0;
    for (int yy = drum_top; yy < drum_top + 14; yy++)
        for (int xx = left; xx < left + 8; xx++)
            found |= pixel(px, w, xx, yy) == 0x7fd17fu;
    assert_true(found);
    free(px);

    /* and the files: a PNG with its signature, an SVG with one rect per note and more */
    char png[600], svg[600], err[256];
    snprintf(png, sizeof png, "%s/roll.png", dir);
    snprintf(svg, sizeof svg, "%s/roll.svg", dir);
    assert_int_equal(demo_pianoroll_write(png, notes, 2, &info, err, sizeof err), 0);
    assert_int_equal(demo_pianoroll_write(svg, notes, 2, &info, err, sizeof err), 0);
    size_t n;
    unsigned char *b = fx_slurp(png, &n);
    assert_non_null(b);
    assert_true(n > 100 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 &&
                memcmp(b + 12, "IHDR", 4) == 0);
    assert_int_equal((b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19]), w);
    assert_int_equal((b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23]), h);
    free(b);
    b = fx_slurp(svg, &n);
    assert_non_null(b);
    assert_non_null(strstr((char *)b, "<svg"));
    assert_non_null(strstr((char *)b, "fill=\"#f6a04d\""));
    free(b);
    assert_int_equal(
        demo_pianoroll_write("/nonexistent/dir/x.png", notes, 2, &info, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/x.png"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_repeats_for_a_seed),
        cmocka_unit_test(test_render_is_loud_enough_and_never_clips),
        cmocka_unit_test(test_notes_line_up_with_the_audio),
        cmocka_unit_test(test_primer_is_heard_and_written),
        cmocka_unit_test(test_a_recording_becomes_player_notes),
        cmocka_unit_test(test_synth_never_clips_and_rings_out),
        cmocka_unit_test(test_synth_plays_the_pitch_it_is_told),
        cmocka_unit_test(test_drums_sound_low_to_high),
        cmocka_unit_test(test_piano_roll_draws_notes_where_they_are),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
