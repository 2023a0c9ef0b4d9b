/* SPDX-License-Identifier: MIT */
/* rnnmidi core: reading a file the user named (a preset, a MIDI file)
 * without hanging on what is not a file.
 *
 * A saved session or a typo may name a FIFO (open() waits for a writer), a
 * device (/dev/zero never ends), a folder or a symlink loop. These calls
 * refuse all but regular files before reading a byte: the path is checked
 * with stat, opened non-blocking, and checked again with fstat on the open
 * descriptor, so a FIFO swapped in between is refused too. Main or worker
 * thread (never the audio thread); nothing here prints. */
#ifndef RNNMIDI_FILE_H
#define RNNMIDI_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Open path for reading if it is a regular file. Returns a close-on-exec
 * descriptor in blocking mode (the caller closes it) and the file's size in
 * *size; or -1 with "path: problem" in err (missing, a folder, a FIFO, a
 * device, a socket, a symlink loop, no permission). Never blocks. */
int rnn_file_open_regular(const char *path, uint64_t *size, char *err, size_t errlen);

/** rnn_file_open_regular as a stdio stream ("rb"); fclose it. NULL with
 * "path: problem" in err. */
FILE *rnn_file_fopen_read(const char *path, char *err, size_t errlen);

/** Read the whole regular file at path, of at most max bytes, into a
 * malloc'ed buffer with one spare byte after the data (the caller frees it).
 * Returns the buffer and its length in *size, or NULL with "path: problem"
 * in err: what rnn_file_open_regular refuses, a file over max (refused from
 * its size, before any read), a read error, a file changing size while it is
 * read. */
unsigned char *rnn_file_read_all(const char *path, size_t max, size_t *size, char *err,
                                 size_t errlen);

#endif
