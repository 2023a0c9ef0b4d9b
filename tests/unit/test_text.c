/* SPDX-License-Identifier: MIT */
/* rnn_text_sanitize: terminal controls and invalid UTF-8 from a file become
 * '?', valid text of any script stays as it is, and the output always fits
 * its buffer without cutting a character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/text.h"

static void check(const char *in, const char *want)
{
    char out[256];
    size_t n = rnn_text_sanitize(out, sizeof out, in);
    if (strcmp(out, want) != 0) fail_msg("'%s' became '%s', want '%s'", in, out, want);
    assert_int_equal(n, strlen(want));
}

static void test_controls_become_marks(void **state)
{
    (void)state;
    /* a title-setting OSC and a colour CSI: ESC and BEL go, the rest is inert text */
    check("evil\x1b]0;pwn\x07\x1b[31mname", "evil?]0;pwn??[31mname");
    check("a\tb\nc\rd", "a?b?c?d");
    check("\x01\x1f\x7f", "???");
    /* C1 controls as UTF-8 (U+009B CSI, U+0085 NEL, U+0080, U+009F) */
    check("x\xc2\x9b"
          "31my",
          "x?31my");
    check("\xc2\x85\xc2\x80\xc2\x9f", "???");
    /* raw C1 bytes are not UTF-8 either */
    check("x\x9b"
          "31m\x90",
          "x?31m?");
}

static void test_invalid_utf8_becomes_marks(void **state)
{
    (void)state;
    check("\xc0\xaf", "??");           /* overlong '/' */
    check("\xe0\x80\xaf", "???");      /* overlong, three bytes */
    check("\xed\xa0\x80", "???");      /* a surrogate */
    check("\xf4\x90\x80\x80", "????"); /* over U+10FFFF */
    check("\xf8\x88\x80\x80\x80", "?????");
    check("ab\xe2\x82", "ab??"); /* truncated at the end */
    check("\xe2\x82z", "??z");   /* truncated before ASCII */
    check("\xff\xfe", "??");
}

static void test_valid_text_stays(void **state)
{
    (void)state;
    check("", "");
    check("Greensleeves (trad.) 100% ok ~", "Greensleeves (trad.) 100% ok ~");
    check("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\xb9",
          "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\xb9");
    check("\xc2\xa0\xc2\xbf", "\xc2\xa0\xc2\xbf"); /* U+00A0, U+00BF: past the C1 block */
    check("\xef\xbf\xbd", "\xef\xbf\xbd");
    char out[8];
    assert_int_equal(rnn_text_sanitize(out, sizeof out, NULL), 0);
    assert_string_equal(out, "");
}

static void test_fits_without_cutting(void **state)
{
    (void)state;
    char out[8];
    memset(out, 'x', sizeof out);
    /* "ab" + a 4-byte character + "c": 7 bytes, fits in 8 */
    assert_int_equal(rnn_text_sanitize(out, 8,
                                       "ab\xf0\x9f\x8e\xb9"
                                       "c"),
                     7);
    assert_string_equal(out, "ab\xf0\x9f\x8e\xb9"
                             "c");
    /* in 6 the 4-byte character does not fit: left out whole */
    assert_int_equal(rnn_text_sanitize(out, 6,
                                       "ab\xf0\x9f\x8e\xb9"
                                       "c"),
                     2);
    assert_string_equal(out, "ab");
    assert_int_equal(rnn_text_sanitize(out, 1, "abc"), 0);
    assert_string_equal(out, "");
    assert_int_equal(rnn_text_sanitize(out, 4, "\x1b\x1b\x1b\x1b\x1b"), 3);
    assert_string_equal(out, "???");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controls_become_marks),
        cmocka_unit_test(test_invalid_utf8_becomes_marks),
        cmocka_unit_test(test_valid_text_stays),
        cmocka_unit_test(test_fits_without_cutting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
