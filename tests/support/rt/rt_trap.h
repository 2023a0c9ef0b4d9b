/* SPDX-License-Identifier: MIT */
/* A trap for calls that have no place on the audio thread, for tests named
 * tests/unit/test_rt_*.c: the Makefile links rt_trap.c into those only, with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,
 * --wrap=pthread_mutex_lock. While rt_trap_arm() is in force every call to
 * one of them from the project's code is counted (and still performed);
 * rt_trap_self_check() proves the wrapping is in place, so a test cannot
 * pass because nothing was watched. Calls made inside shared libraries (libc
 * itself, cmocka) are not seen: only references linked from our objects are
 * wrapped. Only calls on the thread that armed the trap are counted (the
 * audio thread; a plugin's own low-priority threads may allocate); arm and
 * disarm from that thread. */
#ifndef RNNMIDI_RT_TRAP_H
#define RNNMIDI_RT_TRAP_H

/** Zero the counters and start counting. */
void rt_trap_arm(void);
/** Stop counting; returns the number of trapped calls since rt_trap_arm(). */
int rt_trap_disarm(void);
/** 0 when each of the five calls is seen by the trap, else the number missed. */
int rt_trap_self_check(void);

/* Standard output and error pointed at a fresh file for a while, to see
 * whether code that must not print (run()) printed: begin redirects both
 * (0, or -1 when it cannot), end restores them and returns the bytes
 * written meanwhile (-1 when it cannot tell). */
typedef struct {
    int saved[2];
    char path[64];
} rt_quiet;
int rt_quiet_begin(rt_quiet *q);
long rt_quiet_end(rt_quiet *q);

#endif
