/* SPDX-License-Identifier: MIT */
/* The plugin's engine and the RT trap's host hooks (rt_plugin.h). */
#include "rt_plugin.h"
#include "rt_trap.h"

rnn_engine *rt_plugin_engine;
int rt_plugin_trapped;

rnn_engine *__real_rnn_engine_create(double sample_rate, uint32_t max_block, char *err,
                                     size_t errlen);
rnn_engine *__wrap_rnn_engine_create(double sample_rate, uint32_t max_block, char *err,
                                     size_t errlen);

rnn_engine *__wrap_rnn_engine_create(double sample_rate, uint32_t max_block, char *err,
                                     size_t errlen)
{
    rnn_engine *e = __real_rnn_engine_create(sample_rate, max_block, err, errlen);
    if (!rt_plugin_engine) rt_plugin_engine = e;
    return e;
}

void rt_plugin_enter(void)
{
    rt_trap_arm();
}

void rt_plugin_leave(void)
{
    rt_plugin_trapped += rt_trap_disarm();
}
