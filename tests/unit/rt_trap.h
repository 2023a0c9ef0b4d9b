/* SPDX-License-Identifier: MIT */
/* A trap for calls that have no place on the audio thread, for tests named
 * tests/unit/test_rt_*.c (the Makefile links those with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,
 * --wrap=pthread_mutex_lock). Include this header in exactly one file of the
 * test binary. While rt_trap_arm() is in force every call to one of them from
 * the project's code is counted (and still performed); rt_trap_self_check()
 * proves the wrapping is in place, so a test cannot pass because nothing was
 * watched. Calls made inside shared libraries (libc itself, cmocka) are not
 * seen: only references linked from our objects are wrapped. */
#ifndef RNNMIDI_RT_TRAP_H
#define RNNMIDI_RT_TRAP_H

#include <pthread.h>
#include <stddef.h>

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

void *__wrap_malloc(size_t n)
{
    if (rt_trap_armed) rt_trap_calls[0]++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (rt_trap_armed) rt_trap_calls[1]++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (rt_trap_armed) rt_trap_calls[2]++;
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    if (rt_trap_armed) rt_trap_calls[3]++;
    __real_free(p);
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    if (rt_trap_armed) rt_trap_calls[4]++;
    return __real_pthread_mutex_lock(m);
}

static void rt_trap_arm(void)
{
    for (int i = 0; i < 5; i++)
        rt_trap_calls[i] = 0;
    rt_trap_armed = 1;
}

/* Disarm; returns the number of trapped calls since rt_trap_arm(). */
static int rt_trap_disarm(void)
{
    rt_trap_armed = 0;
    int n = 0;
    for (int i = 0; i < 5; i++)
        n += rt_trap_calls[i];
    return n;
}

/* 0 when each of the five calls is seen by the trap, else the number missed. */
static int rt_trap_self_check(void)
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

#endif
