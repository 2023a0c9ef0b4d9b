/* SPDX-License-Identifier: MIT */
/* The detector's signal analysis (plugin/listen/fft, onset, yin) against
 * references:
 *  - the real FFT against a naive DFT in double, at every size the detector
 *    uses and a few more, on random input and on pure tones;
 *  - YIN against aubio 0.4.9's "yin" pitch (aubio_pitch_do in Hz and its
 *    confidence) on the same frames, with the detector's window, hop and
 *    decimated rate: melodies (saw + noise, sine), white noise, silence;
 *    and on tones of known period, whose estimate must be within 0.2 %;
 *  - the onset detector against aubio's "specflux" onset configured as the
 *    detector configured it (no whitening, threshold 0.3, gate -50 dB,
 *    minimum interval 50 ms): the flux of every hop, the hops that have an
 *    onset (all the same) and the onset times aubio_onset_get_last reports
 *    (within 0.1 ms: aubio's FFTW rounds differently, and the times are
 *    interpolated from the flux). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <aubio/aubio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugin/listen/fft.h"
#include "../../plugin/listen/onset.h"
#include "../../plugin/listen/yin.h"
#include "../support/listen/melody_audio.h"

/* ---- FFT ---------------------------------------------------------------- */

static void dft(const float *x, uint32_t n, double *re, double *im)
{
    for (uint32_t k = 0; k <= n / 2; k++) {
        double sr = 0.0, si = 0.0;
        for (uint32_t j = 0; j < n; j++) {
            double a = -2.0 * M_PI * (double)((uint64_t)j * k % n) / (double)n;
            sr += x[j] * cos(a);
            si += x[j] * sin(a);
        }
        re[k] = sr;
        im[k] = si;
    }
}

/* Relative L2 error of the FFT of x against the DFT. */
static double fft_error(const rnn_rfft *f, const float *x, uint32_t n)
{
    float *out = malloc((n + 2) * sizeof *out);
    double *re = malloc((n / 2 + 1) * sizeof *re), *im = malloc((n / 2 + 1) * sizeof *im);
    assert_non_null(out);
    assert_non_null(re);
    assert_non_null(im);
    rnn_rfft_forward(f, x, out);
    dft(x, n, re, im);
    double e = 0.0, r = 0.0;
    for (uint32_t k = 0; k <= n / 2; k++) {
        e += (out[2 * k] - re[k]) * (out[2 * k] - re[k]) +
             (out[2 * k + 1] - im[k]) * (out[2 * k + 1] - im[k]);
        r += re[k] * re[k] + im[k] * im[k];
    }
    free(out);
    free(re);
    free(im);
    return sqrt(e / (r > 0.0 ? r : 1.0));
}

static void test_fft_against_dft(void **state)
{
    (void)state;
    uint64_t s = 7;
    for (uint32_t n = 4; n <= 4096; n *= 2) {
        rnn_rfft *f = rnn_rfft_create(n);
        assert_non_null(f);
        assert_int_equal(rnn_rfft_size(f), n);
        float *x = malloc(n * sizeof *x);
        assert_non_null(x);
        for (uint32_t j = 0; j < n; j++)
            x[j] = (float)(2.0 * ma_uniform(&s) - 1.0);
        double e_noise = fft_error(f, x, n);
        for (uint32_t j = 0; j < n; j++) /* a tone between bins, and DC */
            x[j] = (float)(0.25 + 0.7 * cos(2.0 * M_PI * 3.3 * j / n + 0.4));
        double e_tone = fft_error(f, x, n);
        x[0] = 1.0f; /* an impulse: a flat spectrum */
        memset(x + 1, 0, (n - 1) * sizeof *x);
        double e_imp = fft_error(f, x, n);
        print_message("fft %5u: relative error noise %.2e, tone %.2e, impulse %.2e\n", n, e_noise,
                      e_tone, e_imp);
        /* float rounding grows with log2(n); a wrong twiddle or index is O(1) */
        const double bound = 2e-7 * (log2((double)n) + 1.0);
        assert_true(e_noise < bound);
        assert_true(e_tone < bound);
        assert_true(e_imp < bound);
        free(x);
        rnn_rfft_free(f);
    }
    assert_null(rnn_rfft_create(0));
    assert_null(rnn_rfft_create(2));
    assert_null(rnn_rfft_create(1000));
}

/* ---- YIN ---------------------------------------------------------------- */

/* The detector's analysis sizes at a rate (as plugin/listen/detector.c). */
typedef struct {
    uint32_t hop, onset_win, pitch_win, dec;
} sizes;

static sizes sizes_at(double rate)
{
    char err[128];
    rnn_detector *d = rnn_detector_create(rate, 64, err, sizeof err);
    assert_non_null(d);
    sizes z = {rnn_detector_hop_size(d), rnn_detector_onset_window(d), rnn_detector_pitch_window(d),
               rnn_detector_pitch_decimation(d)};
    rnn_detector_free(d);
    return z;
}

/* Run both trackers over y (already at the tracker's rate) hop by hop;
 * count hops whose Hz or confidence differ beyond tolerance. */
static void yin_compare(const char *what, const float *y, size_t n, uint32_t win, uint32_t hop,
                        uint32_t rate)
{
    aubio_pitch_t *ap = new_aubio_pitch(RNN_DETECTOR_PITCH_METHOD, win, hop, rate);
    assert_non_null(ap);
    aubio_pitch_set_unit(ap, "Hz");
    aubio_pitch_set_silence(ap, -200.0f);
    rnn_yin *y2 = rnn_yin_create(win);
    assert_non_null(y2);
    fvec_t *in = new_fvec(hop), *out = new_fvec(1);
    size_t hops = 0, voiced = 0, off = 0;
    double worst_hz = 0.0, worst_conf = 0.0;
    for (size_t pos = 0; pos + hop <= n; pos += hop, hops++) {
        memcpy(in->data, y + pos, hop * sizeof *y);
        aubio_pitch_do(ap, in, out);
        const float ref_hz = out->data[0], ref_conf = aubio_pitch_get_confidence(ap);
        const float period = rnn_yin_process(y2, y + pos, hop);
        float hz = period > 0.0f ? (float)((double)rate / (double)period) : 0.0f;
        float e = 0.0f; /* aubio's gate (at -200 dB here) still calls all-zero hops silent */
        for (uint32_t i = 0; i < hop; i++)
            e += y[pos + i] * y[pos + i];
        if (10.0f * log10f(e / (float)hop) < -200.0f) hz = 0.0f;
        const float conf = rnn_yin_confidence(y2);
        double dhz = fabs((double)hz - ref_hz) / (ref_hz > 0.0f ? ref_hz : 1.0);
        double dconf = fabs((double)conf - ref_conf);
        if (dhz > worst_hz) worst_hz = dhz;
        if (dconf > worst_conf) worst_conf = dconf;
        off += dhz > 1e-4 || dconf > 1e-4;
        voiced += ref_conf > 0.6f && ref_hz > 0.0f;
    }
    print_message("yin %-22s %6u Hz: %zu hops (%zu voiced), %zu differ; worst relative Hz "
                  "%.1e, confidence %.1e\n",
                  what, rate, hops, voiced, off, worst_hz, worst_conf);
    assert_int_equal(off, 0);
    del_fvec(in);
    del_fvec(out);
    del_aubio_pitch(ap);
    rnn_yin_free(y2);
}

static float *melody(ma_voice v, double rate, size_t *n)
{
    ma_notes m = {0};
    assert_int_equal(ma_load("tests/fixtures/melodies/greensleeves.txt", &m), 0);
    float *y = ma_render(&m, v, rate, 20.0, 3, n);
    assert_non_null(y);
    ma_notes_free(&m);
    return y;
}

static void test_yin_against_aubio(void **state)
{
    (void)state;
    static const double rates[] = {44100.0, 48000.0, 96000.0};
    for (int r = 0; r < 3; r++) {
        const sizes z = sizes_at(rates[r]);
        const uint32_t rate = (uint32_t)rates[r] / z.dec, win = z.pitch_win / z.dec,
                       hop = z.hop / z.dec;
        /* at the tracker's rate: the detector's decimated signal has this
         * rate, window and hop; the signals need no lowpass to compare */
        size_t n = 0;
        float *y = melody(MA_SAW_NOISE, rate, &n);
        yin_compare("greensleeves saw+noise", y, n, win, hop, rate);
        free(y);
        y = melody(MA_SINE, rate, &n);
        yin_compare("greensleeves sine", y, n, win, hop, rate);
        uint64_t s = 3;
        for (size_t i = 0; i < n; i++)
            y[i] = i < n / 2 ? (float)(ma_uniform(&s) - 0.5) : 0.0f;
        yin_compare("noise, then silence", y, n, win, hop, rate);
        free(y);
    }
}

/* Tones of known frequency: the estimate within 0.2 %, confident. */
static void test_yin_known_pitches(void **state)
{
    (void)state;
    const uint32_t rate = 24000, win = 512, hop = 128;
    static const double f0[] = {100.0, 130.81, 220.0, 261.63, 440.0, 523.25, 987.77, 1760.0};
    for (int k = 0; k < 8; k++) {
        rnn_yin *y = rnn_yin_create(win);
        assert_non_null(y);
        float buf[128];
        double hz = 0.0;
        for (int h = 0; h < 8; h++) {
            for (uint32_t i = 0; i < hop; i++) {
                double t = (double)(h * hop + i) / rate;
                buf[i] = (float)(0.5 * sin(2.0 * M_PI * f0[k] * t) +
                                 0.2 * sin(4.0 * M_PI * f0[k] * t + 0.3));
            }
            float period = rnn_yin_process(y, buf, hop);
            hz = period > 0.0f ? rate / period : 0.0;
        }
        print_message("yin tone %8.2f Hz: %8.2f Hz, confidence %.4f\n", f0[k], hz,
                      rnn_yin_confidence(y));
        assert_true(fabs(hz - f0[k]) < 0.002 * f0[k]);
        assert_true(rnn_yin_confidence(y) > 0.95f);
        rnn_yin_free(y);
    }
}

/* ---- onset -------------------------------------------------------------- */

static void onset_compare(const char *what, const float *y, size_t n, double rate)
{
    const sizes z = sizes_at(rate);
    aubio_onset_t *ao =
        new_aubio_onset(RNN_DETECTOR_ONSET_METHOD, z.onset_win, z.hop, (uint_t)rate);
    assert_non_null(ao);
    aubio_onset_set_awhitening(ao, 0);
    aubio_onset_set_threshold(ao, 0.3f);
    aubio_onset_set_silence(ao, -50.0f);
    aubio_onset_set_minioi_ms(ao, 50.0f);
    rnn_onset *o = rnn_onset_create(z.onset_win, z.hop, rate);
    assert_non_null(o);
    rnn_onset_set_threshold(o, 0.3f);
    rnn_onset_set_silence(o, -50.0f);
    rnn_onset_set_minioi_ms(o, 50.0);
    assert_int_equal(rnn_onset_delay(o), aubio_onset_get_delay(ao));
    fvec_t *in = new_fvec(z.hop), *out = new_fvec(1);
    size_t hops = 0, ref_onsets = 0, onsets = 0, both = 0, same_time = 0, near_time = 0;
    double worst_flux = 0.0;
    for (size_t pos = 0; pos + z.hop <= n; pos += z.hop, hops++) {
        memcpy(in->data, y + pos, z.hop * sizeof *y);
        aubio_onset_do(ao, in, out);
        const int ref = out->data[0] > 0.0f, mine = rnn_onset_process(o, y + pos) > 0.0f;
        const double rf = aubio_onset_get_descriptor(ao), f = rnn_onset_descriptor(o);
        const double df = fabs(f - rf) / (fabs(rf) > 1.0 ? fabs(rf) : 1.0);
        if (df > worst_flux) worst_flux = df;
        ref_onsets += ref;
        onsets += mine;
        both += ref && mine;
        if (ref && mine) {
            const double dt = fabs((double)aubio_onset_get_last(ao) - (double)rnn_onset_last(o));
            same_time += dt == 0.0;
            near_time += dt <= 1e-4 * rate;
        }
    }
    print_message("onset %-24s %6.0f Hz: %zu hops, aubio %zu onsets, in-tree %zu, %zu on the same "
                  "hops (%zu at the same frame, %zu within 0.1 ms); worst relative flux %.1e\n",
                  what, rate, hops, ref_onsets, onsets, both, same_time, near_time, worst_flux);
    /* the FFTs round differently (FFTW in aubio): the flux agrees to float
     * precision, the decisions exactly, the interpolated times to 0.1 ms */
    assert_true(worst_flux < 1e-3);
    assert_true(ref_onsets > 0 || strstr(what, "silence"));
    assert_int_equal(onsets, ref_onsets);
    assert_int_equal(both, ref_onsets);
    assert_int_equal(near_time, ref_onsets);
    del_fvec(in);
    del_fvec(out);
    del_aubio_onset(ao);
    rnn_onset_free(o);
}

static void test_onset_against_aubio(void **state)
{
    (void)state;
    static const double rates[] = {44100.0, 48000.0, 96000.0};
    for (int r = 0; r < 3; r++) {
        size_t n = 0;
        float *y = melody(MA_SAW_NOISE, rates[r], &n);
        onset_compare("greensleeves saw+noise", y, n, rates[r]);
        free(y);
        y = melody(MA_VOICE, rates[r], &n);
        onset_compare("greensleeves voice+noise", y, n, rates[r]);
        free(y);
        y = melody(MA_SINE, rates[r], &n);
        onset_compare("greensleeves sine", y, n, rates[r]);
        /* sound from the first sample: the onset at the start */
        onset_compare("greensleeves from 0.25 s", y + (size_t)(0.25 * rates[r]),
                      n - (size_t)(0.25 * rates[r]), rates[r]);
        memset(y, 0, n * sizeof *y);
        onset_compare("silence", y, n, rates[r]);
        free(y);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fft_against_dft),
        cmocka_unit_test(test_yin_against_aubio),
        cmocka_unit_test(test_yin_known_pitches),
        cmocka_unit_test(test_onset_against_aubio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
