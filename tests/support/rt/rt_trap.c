/* SPDX-License-Identifier: MIT */
/* The audio-thread trap (rt_trap.h): the --wrap definitions of malloc,
 * calloc, realloc, free and pthread_mutex_lock, counting while armed. */
#include "rt_trap.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_pthread_mutex_lock(pthread_mutex_t *m);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);

static volatile int rt_trap_armed;
static volatile int rt_trap_calls[5]; /* malloc, calloc, realloc, free, mutex_lock */
static pthread_t rt_trap_thread;      /* the thread that armed it: the audio thread */

/* Armed, and called on the thread that armed it: a plugin's own threads
 * (Learn's) allocate and lock as they may, beside the audio thread. */
static int rt_trap_counts(void)
{
    return rt_trap_armed && pthread_equal(pthread_self(), rt_trap_thread);
}

void *__wrap_malloc(size_t n)
{
    if (rt_trap_counts()) rt_trap_calls[0]++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (rt_trap_counts()) rt_trap_calls[1]++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (rt_trap_counts()) rt_trap_calls[2]++;
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    if (rt_trap_counts()) rt_trap_calls[3]++;
    __real_free(p);
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    if (rt_trap_counts()) rt_trap_calls[4]++;
    return __real_pthread_mutex_lock(m);
}

void rt_trap_arm(void)
{
    for (int i = 0; i < 5; i++)
        rt_trap_calls[i] = 0;
    rt_trap_thread = pthread_self();
    rt_trap_armed = 1;
}

int rt_trap_disarm(void)
{
    rt_trap_armed = 0;
    int n = 0;
    for (int i = 0; i < 5; i++)
        n += rt_trap_calls[i];
    return n;
}

int rt_trap_self_check(void)
{
    static void *volatile keep;
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    rt_trap_arm();
    keep = malloc(16);
    keep = realloc(keep, 32);
    free(keep);
    keep = calloc(2, 8);
    free(keep);
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    rt_trap_armed = 0;
    const int want[5] = {1, 1, 1, 2, 1};
    int missed = 0;
    for (int i = 0; i < 5; i++)
        missed += rt_trap_calls[i] != want[i];
    return missed;
}

int rt_quiet_begin(rt_quiet *q)
{
    snprintf(q->path, sizeof q->path, "/tmp/rnnmidi-rt-print-XXXXXX");
    int fd = mkstemp(q->path);
    if (fd < 0) return -1;
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        q->saved[i] = dup(1 + i);
        if (q->saved[i] < 0 || dup2(fd, 1 + i) < 0) {
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

long rt_quiet_end(rt_quiet *q)
{
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        dup2(q->saved[i], 1 + i);
        close(q->saved[i]);
    }
    struct stat st;
    const long n = stat(q->path, &st) == 0 ? (long)st.st_size : -1;
    unlink(q->path);
    return n;
}
