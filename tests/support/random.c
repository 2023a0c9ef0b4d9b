/* SPDX-License-Identifier: MIT */
/* tests/support/random.h: xorshift64 values for tests and benchmarks. */
#include "random.h"

#include <stdlib.h>

float xorshift_uniform(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)(*s >> 40) * 0x1.0p-23f - 1.0f;
}

float *xorshift_floats(uint64_t *s, size_t n, float scale)
{
    float *p = malloc(n * sizeof(float) + 1);
    if (p)
        for (size_t i = 0; i < n; i++)
            p[i] = scale * xorshift_uniform(s);
    return p;
}
