// SPDX-License-Identifier: MIT
/* Tests that run the tools the way a user does: a shell command, its exit
 * status and everything it printed. */
#ifndef RNNMIDI_TEST_SHELL_H
#define RNNMIDI_TEST_SHELL_H

#include <stddef.h>

/** The folder of the tools under test: RNNMIDI_TOOLS (set by `make test`), or
 * build/test. */
const char *test_tools_dir(void);

/** Run the command made from fmt with /bin/sh, stderr joined to stdout; its
 * first outlen - 1 bytes of output go to out (always terminated). Returns the
 * exit status, -1 when the command did not exit normally, -2 when it could not
 * be formed (longer than 8 KiB) or started. Main thread. */
int test_shell(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
