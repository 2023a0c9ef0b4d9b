// SPDX-License-Identifier: MIT
/* Shell commands for tests: see shell.h. */
#include "shell.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *test_tools_dir(void)
{
    const char *t = getenv("RNNMIDI_TOOLS");
    return t && *t ? t : "build/test";
}

int test_shell(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (outlen) out[0] = 0;
    if (len < 0 || (size_t)len + sizeof " 2>&1" > sizeof cmd) return -2;
    memcpy(cmd + len, " 2>&1", sizeof " 2>&1");
    FILE *p = popen(cmd, "r");
    if (!p) return -2;
    size_t n = outlen ? fread(out, 1, outlen - 1, p) : 0;
    if (outlen) out[n] = 0;
    /* read what is left, so the command never blocks on a full pipe */
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
