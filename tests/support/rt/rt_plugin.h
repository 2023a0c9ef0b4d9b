/* SPDX-License-Identifier: MIT */
/* Test support for the RT tests that link the LV2 plugin itself: the engine
 * the plugin creates, found through the linker (link with
 * -Wl,--wrap=rnn_engine_create), and the host hooks that arm the RT trap
 * (rt_trap.h) around every run(). Test thread only. */
#ifndef RNNMIDI_TEST_RT_PLUGIN_H
#define RNNMIDI_TEST_RT_PLUGIN_H

#include "../../../core/engine.h"

/* The first engine created since it was last set to NULL. */
extern rnn_engine *rt_plugin_engine;

/* Calls the trap caught between rt_plugin_enter and rt_plugin_leave, summed
 * over the runs since it was last set to 0. */
extern int rt_plugin_trapped;

/* For host_audio_enter / host_audio_leave (lv2_host.h). */
void rt_plugin_enter(void);
void rt_plugin_leave(void);

#endif
