/* SPDX-License-Identifier: MIT */
/* A scratch LV2_PATH holding only build/rnnmidi.lv2, and a lilv world on it
 * (lilv_bundle.h). */
#include "lilv_bundle.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../plugin/lv2/ports.h"
#include "lv2_host.h"

/* build/rnnmidi.lv2 under the current folder, as an absolute path. */
static int bundle_path(char *path, size_t n)
{
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    return snprintf(path, n, "%s/build/rnnmidi.lv2", cwd) < (int)n ? 0 : -1;
}

int lilv_bundle_dir(char *tmpdir, size_t n, const char *tag, const char *more_path)
{
    char link[600], target[1100];
    if (bundle_path(target, sizeof target)) return -1;
    snprintf(tmpdir, n, "/tmp/rnnmidi-%s-XXXXXX", tag);
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(link, sizeof link, "%s/lv2", tmpdir);
    if (mkdir(link, 0700)) return -1;
    snprintf(link, sizeof link, "%s/lv2/rnnmidi.lv2", tmpdir);
    if (symlink(target, link)) return -1;
    char path[700];
    snprintf(path, sizeof path, "%s/lv2%s%s", tmpdir, more_path ? ":" : "",
             more_path ? more_path : "");
    return setenv("LV2_PATH", path, 1);
}

const LilvPlugin *lilv_bundle_world(LilvWorld **world)
{
    char target[1100], so[1200];
    if (bundle_path(target, sizeof target)) return NULL;
    snprintf(so, sizeof so, "%s/rnnmidi.so", target);
    if (!dlopen(so, RTLD_NOW | RTLD_NODELETE)) return NULL;
    *world = lilv_world_new();
    lilv_world_load_all(*world);
    LilvNode *uri = lilv_new_uri(*world, RNNMIDI_URI);
    const LilvPlugin *plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(*world), uri);
    lilv_node_free(uri);
    return plugin;
}

int lilv_bundle_free(LilvWorld *world, const char *tmpdir)
{
    lilv_world_free(world);
    host_free_uris();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}
