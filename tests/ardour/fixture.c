/* SPDX-License-Identifier: MIT */
/* Writes a RANDOM-WEIGHT test fixture preset (tests/support/engine_fixture.h) to argv[1],
 * for the Ardour test when the bundle has no trained default model yet. It
 * is a fixture for checking timing inside a DAW, not a model. */
#include <stdio.h>

#include "../support/engine_fixture.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.rnnw\n", argv[0]);
        return 2;
    }
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 32, 64, 7, argv[1], NULL, NULL)) {
        fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[1]);
        return 1;
    }
    return 0;
}
