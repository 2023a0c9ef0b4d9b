/* SPDX-License-Identifier: MIT */
/* rnnmidi core: regular files only, never a hang (contract in file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void failf(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void failf(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, msg);
}

static void errno_text(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "error %d", e);
}

/* What a path is when it is not a regular file, for the message. */
static const char *not_regular(mode_t mode)
{
    if (S_ISDIR(mode)) return "is a folder, not a file";
    if (S_ISFIFO(mode)) return "is a FIFO (named pipe), not a regular file";
    if (S_ISCHR(mode)) return "is a character device, not a regular file";
    if (S_ISBLK(mode)) return "is a block device, not a regular file";
    if (S_ISSOCK(mode)) return "is a socket, not a regular file";
    return "is not a regular file";
}

int rnn_file_open_regular(const char *path, uint64_t *size, char *err, size_t errlen)
{
    char why[128];
    struct stat st;
    if (!path || !path[0]) {
        failf(err, errlen, path ? path : "(null)", "no file name");
        return -1;
    }
    /* stat first: opening a device can have effects of its own */
    if (stat(path, &st) != 0) {
        errno_text(errno, why, sizeof why);
        failf(err, errlen, path, "cannot open: %s", why);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        failf(err, errlen, path, "%s", not_regular(st.st_mode));
        return -1;
    }
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        errno_text(errno, why, sizeof why);
        failf(err, errlen, path, "cannot open: %s", why);
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        errno_text(errno, why, sizeof why);
        failf(err, errlen, path, "cannot stat: %s", why);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) { /* replaced since the stat above */
        failf(err, errlen, path, "%s", not_regular(st.st_mode));
        close(fd);
        return -1;
    }
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        errno_text(errno, why, sizeof why);
        failf(err, errlen, path, "cannot set blocking mode: %s", why);
        close(fd);
        return -1;
    }
    *size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;
    return fd;
}

FILE *rnn_file_fopen_read(const char *path, char *err, size_t errlen)
{
    uint64_t size;
    const int fd = rnn_file_open_regular(path, &size, err, errlen);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        char why[128];
        errno_text(errno, why, sizeof why);
        failf(err, errlen, path, "cannot open: %s", why);
        close(fd);
    }
    return f;
}

static void limit_text(size_t max, char *buf, size_t n)
{
    if (max >= ((size_t)1 << 20) && max % ((size_t)1 << 20) == 0)
        snprintf(buf, n, "%zu MiB", max >> 20);
    else
        snprintf(buf, n, "%zu bytes", max);
}

unsigned char *rnn_file_read_all(const char *path, size_t max, size_t *size, char *err,
                                 size_t errlen)
{
    char why[128];
    uint64_t announced;
    const int fd = rnn_file_open_regular(path, &announced, err, errlen);
    if (fd < 0) return NULL;
    if (announced > max) {
        limit_text(max, why, sizeof why);
        failf(err, errlen, path, "file is %llu bytes, over the %s limit",
              (unsigned long long)announced, why);
        close(fd);
        return NULL;
    }
    const size_t want = (size_t)announced;
    /* One byte more than announced, to notice a file growing under us. */
    unsigned char *buf = malloc(want + 1);
    if (!buf) {
        failf(err, errlen, path, "out of memory for %zu bytes", want);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < want + 1) {
        const ssize_t r = read(fd, buf + got, want + 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            errno_text(errno, why, sizeof why);
            failf(err, errlen, path, "read error: %s", why);
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != want) {
        failf(err, errlen, path, "file changed size while being read (%zu bytes, then %zu)", want,
              got);
        free(buf);
        return NULL;
    }
    *size = got;
    return buf;
}
