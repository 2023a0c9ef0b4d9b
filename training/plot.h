/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the loss curve of a training log as an SVG image.
 * Main thread only. */
#ifndef RNNMIDI_PLOT_H
#define RNNMIDI_PLOT_H

#include <stddef.h>

/** Read a trainer CSV log (step, epoch, train_loss, valid_nll, lr,
 * grad_norm, steps_per_s) and draw the train loss (a moving average) and the
 * valid NLL per epoch against the step, with axes and a legend, into an SVG
 * file written through a temporary file and a rename. Returns 0, or -1 with a
 * message naming the file. */
int rnn_plot_loss_svg(const char *csv_path, const char *svg_path, const char *title, char *err,
                      size_t errlen);

#endif
