/* SPDX-License-Identifier: MIT */
/* tests/support/golden.h: the golden files' reader. */
#include "golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GOLDEN_MAX_BYTES ((size_t)1 << 20)

void golden_open(golden_reader *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s: missing (run tests from the top folder)", path);
    *r = (golden_reader){0};
    r->data = malloc(GOLDEN_MAX_BYTES);
    assert_non_null(r->data);
    r->size = fread(r->data, 1, GOLDEN_MAX_BYTES, f);
    fclose(f);
}

void golden_take(golden_reader *r, void *dst, size_t n)
{
    assert_true(r->pos + n <= r->size);
    memcpy(dst, r->data + r->pos, n);
    r->pos += n;
}

float *golden_take_floats(golden_reader *r, size_t n)
{
    float *p = malloc(n * sizeof(float) + 1);
    assert_non_null(p);
    golden_take(r, p, n * sizeof(float));
    return p;
}

void golden_close(golden_reader *r)
{
    free(r->data);
    *r = (golden_reader){0};
}
