/* SPDX-License-Identifier: MIT */
/* core/crc32 against zlib's crc32, the reference the preset format names:
 * the check value of "123456789", random buffers of every length up to 4 KiB
 * at every alignment, nonzero starting values, a long buffer in one call and
 * chained calls split at random points, and every single byte. (test_model
 * checks that a preset's checksum is verified and a damaged one refused.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../core/crc32.h"

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint32_t zlib_crc(uint32_t crc, const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(crc, p, (uInt)n);
}

static void test_check_value(void **state)
{
    (void)state;
    const char *s = "123456789";
    assert_int_equal(rnn_crc32(0, s, 9), 0xCBF43926u);
    assert_int_equal(rnn_crc32(0, NULL, 0), 0u);
    assert_int_equal(rnn_crc32(0x12345678u, NULL, 0), 0x12345678u);
}

static void test_random_buffers(void **state)
{
    (void)state;
    enum { N = 4096 + 16 };
    uint8_t *buf = malloc(N);
    assert_non_null(buf);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < N; i++)
        buf[i] = (uint8_t)rng_next(&s);
    for (size_t len = 0; len <= 4096; len++) {
        size_t off = len % 16; /* every alignment */
        assert_int_equal(rnn_crc32(0, buf + off, len), zlib_crc(0, buf + off, len));
    }
    /* nonzero starting values continue a CRC as zlib does */
    for (int k = 0; k < 200; k++) {
        uint32_t start = (uint32_t)rng_next(&s);
        size_t len = (size_t)(rng_next(&s) % 1000);
        assert_int_equal(rnn_crc32(start, buf, len), zlib_crc(start, buf, len));
    }
    free(buf);
}

static void test_chained(void **state)
{
    (void)state;
    enum { N = 100000 };
    uint8_t *buf = malloc(N);
    assert_non_null(buf);
    uint64_t s = 42;
    for (size_t i = 0; i < N; i++)
        buf[i] = (uint8_t)rng_next(&s);
    const uint32_t whole = zlib_crc(0, buf, N);
    assert_int_equal(rnn_crc32(0, buf, N), whole);
    for (int k = 0; k < 50; k++) {
        uint32_t c = 0;
        size_t pos = 0;
        while (pos < N) {
            size_t n = (size_t)(rng_next(&s) % 5000);
            if (n > N - pos) n = N - pos;
            c = rnn_crc32(c, buf + pos, n);
            pos += n;
        }
        assert_int_equal(c, whole);
    }
    /* all-zero and all-one bytes, where a table error in one entry shows */
    memset(buf, 0, N);
    assert_int_equal(rnn_crc32(0, buf, N), zlib_crc(0, buf, N));
    memset(buf, 0xff, N);
    assert_int_equal(rnn_crc32(0, buf, N), zlib_crc(0, buf, N));
    for (int b = 0; b < 256; b++) {
        uint8_t x = (uint8_t)b;
        assert_int_equal(rnn_crc32(0, &x, 1), zlib_crc(0, &x, 1));
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_random_buffers),
        cmocka_unit_test(test_chained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
