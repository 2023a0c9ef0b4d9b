/* SPDX-License-Identifier: MIT */
/* The built bundle build/rnnmidi.lv2 seen through lilv, for the test_lv2_*
 * tests that run from the top folder: a scratch folder whose lv2/ holds only
 * a link to the bundle (build/ holds other things too), LV2_PATH pointing
 * there, and a lilv world with the plugin found. Links against lilv. Main
 * thread. */
#ifndef RNNMIDI_TESTS_LILV_BUNDLE_H
#define RNNMIDI_TESTS_LILV_BUNDLE_H

#include <stddef.h>

#include <lilv/lilv.h>

/** Make /tmp/rnnmidi-TAG-XXXXXX into tmpdir (n bytes), link its lv2/rnnmidi.lv2
 * to build/rnnmidi.lv2 and set LV2_PATH to its lv2/ folder, followed by
 * ":" and more_path when that is not NULL. Returns 0 or -1. */
int lilv_bundle_dir(char *tmpdir, size_t n, const char *tag, const char *more_path);

/** Keep the plugin's shared object mapped after lilv unloads it (so that
 * LeakSanitizer can still see what the plugin's libraries keep in their
 * statics instead of reporting it as leaked at exit), load a lilv world from
 * LV2_PATH into *world and return the rnnmidi plugin, or NULL. */
const LilvPlugin *lilv_bundle_world(LilvWorld **world);

/** Free the world and the test host's URIs, remove tmpdir. Returns 0 or -1. */
int lilv_bundle_free(LilvWorld *world, const char *tmpdir);

#endif
