// SPDX-License-Identifier: MIT
/* What a test could not run, and why. `make test` gives each test binary a
 * file in RNNMIDI_SKIPS and lists its lines under "not run:" before the
 * closing line, counted as skipped rather than passed. */
#ifndef RNNMIDI_TEST_SKIP_H
#define RNNMIDI_TEST_SKIP_H

/** Record that `name` (a test case, or the part of one) did not run and why:
 * prints `SKIP name: reason` on stdout and appends `name: reason` to the file
 * named by RNNMIDI_SKIPS when that is set. It does not stop the test: a case
 * that skips entirely calls cmocka's skip() next. Main thread. */
void test_skip_note(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
