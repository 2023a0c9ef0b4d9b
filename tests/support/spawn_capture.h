/* SPDX-License-Identifier: MIT */
/* Running a program from a test: argv[0] (searched in PATH) with its stdout
 * captured and its stderr dropped. For tests that compare against a peer
 * tool or run the project's own tools. Main thread. */
#ifndef RNNMIDI_SPAWN_CAPTURE_H
#define RNNMIDI_SPAWN_CAPTURE_H

/** Run argv; returns the exit status (-1 when it did not exit normally) and
 * the output in *out (malloc'ed, NUL-terminated, the caller frees; dropped
 * when out is NULL). A program that cannot be started fails the running
 * cmocka test. */
int spawn_capture(char *const argv[], char **out);

#endif
