// SPDX-License-Identifier: MIT
/* tests/support/skip.h: the record of what a test did not run. */
#include "skip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void test_skip_note(const char *name, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    printf("SKIP %s: %s\n", name, reason);
    fflush(stdout);
    const char *path = getenv("RNNMIDI_SKIPS");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    /* A record that cannot be written would turn the skip into a silent pass. */
    if (!f || fprintf(f, "%s: %s\n", name, reason) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot record the skip of %s in %s\n", name, path);
        abort();
    }
}
