/* SPDX-License-Identifier: MIT */
/* The tools refuse a preset whose finite weights overflow float when
 * multiplied (|w| ~ 1e38): rnnmidi-eval and rnnmidi-gen exit non-zero with
 * a message naming the file, instead of printing nll_nats=-nan or writing a
 * MIDI file of one held note. A sane preset of the same shape runs (its
 * eight generated bars are the MIDI both presets are evaluated on).
 * The tools are those of $RNNMIDI_TOOLS (build/test by default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/model.h"
#include "../support/shell.h"

/* A melody LSTM 2x32 with uniform weights in [-scale, scale). */
static void write_model(const char *path, float scale)
{
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, RNN_CELL_LSTM, 2, 16, 32, 130, 0, 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS] = {0};
    int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        assert_non_null(data[i]);
        for (size_t j = 0; j < specs[i].count; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            data[i][j] = scale * ((float)(uint32_t)(s >> 40) / 8388608.0f - 1.0f);
        }
    }
    const rnn_meta meta[] = {{"name", "test fixture (random weights, not a model)"}};
    char err[256];
    if (rnn_model_write(path, &cfg, meta, 1, (const float *const *)data, err, sizeof err))
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        free(data[i]);
}

static void test_tools_refuse_overflow(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-probe-XXXXXX", huge[256], sane[256], mid[256], gen[256];
    static char out[1 << 16];
    assert_non_null(mkdtemp(dir));
    snprintf(huge, sizeof huge, "%s/huge.rnnw", dir);
    snprintf(sane, sizeof sane, "%s/sane.rnnw", dir);
    snprintf(mid, sizeof mid, "%s/sane.mid", dir);
    snprintf(gen, sizeof gen, "%s/huge.mid", dir);
    write_model(huge, 1e38f);
    write_model(sane, 0.5f);

    /* MIDI to evaluate on: eight bars from the sane preset */
    int rc = test_shell(out, sizeof out, "%s/rnnmidi-gen --model %s --bars 8 --seed 1 --out %s", test_tools_dir(),
                 sane, mid);
    if (rc != 0) fail_msg("rnnmidi-gen exited %d:\n%s", rc, out);
    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s %s", test_tools_dir(), sane, mid);
    if (rc != 0) fail_msg("rnnmidi-eval exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "nll_nats="));
    assert_null(strstr(out, "nan"));

    rc = test_shell(out, sizeof out, "%s/rnnmidi-eval --model %s %s", test_tools_dir(), huge, mid);
    print_message("rnnmidi-eval: exit %d: %s", rc, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, huge));
    assert_non_null(strstr(out, "range of float"));
    assert_null(strstr(out, "nan"));

    rc = test_shell(out, sizeof out, "%s/rnnmidi-gen --model %s --bars 2 --seed 1 --out %s", test_tools_dir(), huge,
             gen);
    print_message("rnnmidi-gen: exit %d: %s", rc, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, huge));
    struct stat st;
    assert_int_not_equal(stat(gen, &st), 0); /* nothing written */

    unlink(huge);
    unlink(sane);
    unlink(mid);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools_refuse_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
