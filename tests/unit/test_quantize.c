/* SPDX-License-Identifier: MIT */
/* rnnmidi-quantize (the tools of $RNNMIDI_TOOLS, build/test by default):
 * - PyTorch golden presets quantised by the tool to bf16 and int8: their
 *   logits over the golden sequence stay within the bounds test_net derives
 *   (1% and 3% of the largest |logit| for gated cells, 3% and 6% for the
 *   tanh RNN) of torch's; the tool reduced exactly the tensors FORMAT.md
 *   allows, kept the version, and recorded the dtype and the source (file
 *   name and sha256) in the metadata; fp32 writes the values back as float32;
 *   bad usage exits 2, a bad input 1.
 * - With data/corpus present (make corpus): rnnmidi-eval --split test of the
 *   shipped melody-lstm and drums-gru presets quantised to bf16 and int8
 *   within 0.5% (bf16) and 1.5% (int8) of the float32 preset's NLL; the
 *   figures print. Without the corpus the case is recorded as not run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/model.h"
#include "../../core/net.h"
#include "../support/skip.h"
#include "../support/spawn_capture.h"

static char dir[] = "/tmp/rnnmidi-test-quantize-XXXXXX";

static void tool(char *dst, size_t n, const char *name)
{
    const char *d = getenv("RNNMIDI_TOOLS");
    snprintf(dst, n, "%s/%s", d && *d ? d : "build/test", name);
}

/* rnnmidi-quantize IN --dtype DT --out OUT; its exit status. */
static int quantize(const char *in, const char *dt, const char *out)
{
    char exe[512];
    tool(exe, sizeof exe, "rnnmidi-quantize");
    char *argv[] = {exe, (char *)in, "--dtype", (char *)dt, "--out", (char *)out, NULL};
    char *text = NULL;
    const int rc = spawn_capture(argv, &text);
    if (rc == 0 && !strstr(text, out)) fail_msg("rnnmidi-quantize printed '%s'", text);
    free(text);
    return rc;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* tests/golden/NAME.logits: T, V, T events, T x V logits of torch. */
static float *read_logits(const char *name, int *T, int *V, int **events)
{
    char path[256];
    snprintf(path, sizeof path, "tests/golden/%s.logits", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    unsigned char h[8];
    assert_int_equal(fread(h, 1, 8, f), 8);
    *T = (int)le32(h), *V = (int)le32(h + 4);
    assert_true(*T > 0 && *T <= 1000 && *V > 0 && *V <= 4096);
    const size_t n = (size_t)*T * (size_t)(1 + *V);
    unsigned char *b = malloc(4 * n);
    float *ref = malloc((size_t)*T * *V * sizeof *ref);
    *events = malloc((size_t)*T * sizeof **events);
    assert_true(b && ref && *events);
    assert_int_equal(fread(b, 4, n, f), n);
    fclose(f);
    for (int t = 0; t < *T; t++)
        (*events)[t] = (int)le32(b + 4 * t);
    for (size_t i = 0; i < (size_t)*T * *V; i++) {
        const uint32_t u = le32(b + 4 * ((size_t)*T + i));
        memcpy(&ref[i], &u, 4);
    }
    free(b);
    return ref;
}

static void test_golden_quantised(void **state)
{
    (void)state;
    static const char *const names[] = {"lstm_e32_l2", "lstm_e0_l3", "gru_e16_l1",
                                        "drums_gru_e0_l1", "rnn_e24_l3"};
    static const char *const dts[] = {"bf16", "int8", "fp32"};
    for (size_t m = 0; m < sizeof names / sizeof *names; m++) {
        char in[256], out[512], err[512];
        snprintf(in, sizeof in, "tests/golden/%s.rnnw", names[m]);
        int T, V, *events;
        float *ref = read_logits(names[m], &T, &V, &events);
        rnn_model *src = rnn_model_load(in, err, sizeof err);
        if (!src) fail_msg("%s", err);
        const rnn_model_config *cfg = rnn_model_get_config(src);
        rnn_tensor_spec specs[RNN_MAX_TENSORS];
        const int nt = rnn_model_tensor_specs(cfg, specs);
        double scale = 0;
        for (size_t i = 0; i < (size_t)T * V; i++)
            scale = fmax(scale, fabs(ref[i]));
        for (int v = 0; v < 3; v++) {
            snprintf(out, sizeof out, "%s/%s-%s.rnnw", dir, names[m], dts[v]);
            assert_int_equal(quantize(in, dts[v], out), 0);
            rnn_model *q = rnn_model_load(out, err, sizeof err);
            if (!q) fail_msg("%s", err);
            const rnn_model_config *qc = rnn_model_get_config(q);
            assert_int_equal(qc->cell, cfg->cell);
            assert_int_equal(qc->hidden, cfg->hidden);
            const rnn_dtype dt = (rnn_dtype)rnn_dtype_find(dts[v]);
            int reduced = 0;
            for (int i = 0; i < nt; i++) {
                const rnn_dtype want = rnn_model_dtype_allowed(cfg, i) ? dt : RNN_DTYPE_F32;
                assert_int_equal(rnn_model_tensor_dtype(q, specs[i].name), want);
                reduced += want != RNN_DTYPE_F32;
                if (dt == RNN_DTYPE_F32) /* the golden presets are float32: the same values */
                    assert_memory_equal(rnn_model_tensor(q, specs[i].name, NULL),
                                        rnn_model_tensor(src, specs[i].name, NULL),
                                        specs[i].count * sizeof(float));
            }
            assert_true(dt == RNN_DTYPE_F32 || reduced >= 2);
            assert_string_equal(rnn_model_meta(q, "dtype"), rnn_dtype_name(dt));
            const char *source = rnn_model_meta(q, "dtype_source");
            assert_non_null(source);
            char want[128];
            snprintf(want, sizeof want, "%s.rnnw sha256 ", names[m]);
            assert_int_equal(strncmp(source, want, strlen(want)), 0);
            assert_int_equal(strlen(source), strlen(want) + 64);

            rnn_net *net = rnn_net_create(q, err, sizeof err);
            if (!net) fail_msg("%s", err);
            assert_true((dt == RNN_DTYPE_F32) == (rnn_net_qmat_kernel_name(net) == NULL));
            double e = 0;
            for (int t = 0; t < T; t++) {
                const float *z = rnn_net_step(net, events[t]);
                for (int k = 0; k < V; k++)
                    e = fmax(e, fabs((double)z[k] - ref[(size_t)t * V + k]));
            }
            const double tol = dt == RNN_DTYPE_F32    ? 1e-4
                               : cfg->cell == RNN_CELL_RNN ? (dt == RNN_DTYPE_BF16 ? 3e-2 : 6e-2)
                                                      : (dt == RNN_DTYPE_BF16 ? 1e-2 : 3e-2);
            printf("  %-16s %-4s max |logit - torch| %.3f%% of %.2f (bound %.3g%%)\n", names[m],
                   dts[v], 100 * e / scale, scale, 100 * tol);
            if (!(e <= tol * scale))
                fail_msg("%s quantised to %s: logits off by %g of %g", names[m], dts[v], e, scale);
            rnn_net_free(net);
            rnn_model_free(q);
        }
        rnn_model_free(src);
        free(ref);
        free(events);
    }
}

static void test_usage(void **state)
{
    (void)state;
    char out[512], exe[512];
    snprintf(out, sizeof out, "%s/x.rnnw", dir);
    assert_int_equal(quantize("tests/golden/gru_e16_l1.rnnw", "fp16", out), 2);
    assert_int_equal(quantize("tests/golden/no-such.rnnw", "bf16", out), 1);
    assert_int_equal(quantize("tests/golden/gru_e16_l1.logits", "int8", out), 1);
    tool(exe, sizeof exe, "rnnmidi-quantize");
    char *no_out[] = {exe, "tests/golden/gru_e16_l1.rnnw", "--dtype", "bf16", NULL};
    assert_int_equal(spawn_capture(no_out, NULL), 2);
    char *no_dtype[] = {exe, "tests/golden/gru_e16_l1.rnnw", "--out", out, NULL};
    assert_int_equal(spawn_capture(no_dtype, NULL), 2);
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0); /* nothing written */
}

/* nll_nats of rnnmidi-eval --split test on the corpus, or -1. */
static double eval_nll(const char *model)
{
    char exe[512];
    tool(exe, sizeof exe, "rnnmidi-eval");
    char *argv[] = {exe, "--model", (char *)model, "--split", "test", "--quiet", "data/corpus",
                    NULL};
    char *text = NULL;
    double nll = -1;
    if (spawn_capture(argv, &text) == 0 && strncmp(text, "nll_nats=", 9) == 0)
        nll = strtod(text + 9, NULL);
    free(text);
    return nll;
}

static void test_corpus_nll(void **state)
{
    (void)state;
    struct stat st;
    if (stat("data/corpus", &st) != 0) {
        test_skip_note("test_corpus_nll", "data/corpus is absent (make corpus)");
        skip();
    }
    static const char *const presets[] = {"melody-lstm", "drums-gru"};
    static const char *const dts[] = {"bf16", "int8"};
    static const double tol[] = {5e-3, 1.5e-2};
    for (size_t p = 0; p < 2; p++) {
        char in[256], out[512];
        snprintf(in, sizeof in, "presets/%s.rnnw", presets[p]);
        const double ref = eval_nll(in);
        if (!(ref > 0)) fail_msg("rnnmidi-eval failed on %s", in);
        printf("  %-12s fp32 nll_nats %.4f\n", presets[p], ref);
        for (int v = 0; v < 2; v++) {
            snprintf(out, sizeof out, "%s/%s-%s.rnnw", dir, presets[p], dts[v]);
            assert_int_equal(quantize(in, dts[v], out), 0);
            const double nll = eval_nll(out);
            printf("  %-12s %-4s nll_nats %.4f (%+.3f%%, bound %.1f%%)\n", presets[p], dts[v], nll,
                   100 * (nll - ref) / ref, 100 * tol[v]);
            if (!(nll > 0 && fabs(nll - ref) <= tol[v] * ref))
                fail_msg("%s as %s: test NLL %g, fp32's %g", presets[p], dts[v], nll, ref);
        }
    }
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_quantised),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_corpus_nll),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
