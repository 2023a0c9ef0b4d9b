/* SPDX-License-Identifier: MIT */
/* Random-weight fixture presets and block-size walks (engine_fixture.h). */
#include "engine_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t fixture_block(uint64_t *s, uint32_t cases, uint32_t max)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t r = (uint32_t)(*s >> 33);
    switch (r % cases) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return 4096;
    case 3:
        return 8192;
    default:
        return 1 + r % max;
    }
}

float fixture_uniform(uint64_t *s, float scale)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return scale * ((float)(uint32_t)(*s >> 40) / 8388608.0f * 2.0f - 1.0f);
}

int fixture_build(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden, uint64_t seed,
                  const char *path, void **buf, size_t *len)
{
    rnn_model_config cfg = {kind, 4, cell, layers, embed, hidden, rnn_kind_vocab(kind), 0, 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(&cfg, specs);
    if (n < 0) return -1;
    float *data[RNN_MAX_TENSORS] = {0};
    uint64_t s = seed * 2654435761u + 1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        if (!data[i]) {
            rc = -1;
            break;
        }
        float scale = strncmp(specs[i].name, "head", 4) == 0 ? 1.5f : 0.6f;
        for (size_t j = 0; j < specs[i].count; j++)
            data[i][j] = fixture_uniform(&s, scale);
    }
    const rnn_meta meta[] = {{"name", "test fixture (random weights, not a model)"},
                             {"author", "rnnmidi tests"}};
    char err[256];
    if (rc == 0) {
        if (path)
            rc = rnn_model_write(path, &cfg, meta, 2, (const float *const *)data, err, sizeof err);
        else
            rc = rnn_model_serialize(&cfg, meta, 2, (const float *const *)data, buf, len, err,
                                     sizeof err);
    }
    for (int i = 0; i < n; i++)
        free(data[i]);
    return rc;
}

rnn_model *fixture_model(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden,
                         uint64_t seed)
{
    void *buf = NULL;
    size_t len = 0;
    if (fixture_build(kind, cell, layers, embed, hidden, seed, NULL, &buf, &len)) return NULL;
    char err[256];
    rnn_model *m = rnn_model_load_memory(buf, len, "fixture", err, sizeof err);
    free(buf);
    return m;
}

rnn_model *fixture_random_model(const rnn_model_config *cfg, uint64_t seed, float scale)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    if (n < 0) return NULL;
    float *data[RNN_MAX_TENSORS] = {0};
    uint64_t s = seed * 2654435761u + 1;
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        ok = data[i] != NULL;
        const float a =
            strcmp(specs[i].name, "embed.weight") == 0 ? 1.7f : 1.0f / sqrtf((float)cfg->hidden);
        for (size_t k = 0; ok && k < specs[i].count; k++)
            data[i][k] = fixture_uniform(&s, scale * a);
    }
    void *buf = NULL;
    size_t len = 0;
    char err[256];
    rnn_model *m = NULL;
    if (ok && rnn_model_serialize(cfg, NULL, 0, (const float *const *)data, &buf, &len, err,
                                  sizeof err) == 0)
        m = rnn_model_load_memory(buf, len, "random weights", err, sizeof err);
    free(buf);
    for (int i = 0; i < n; i++)
        free(data[i]);
    return m;
}
