/* SPDX-License-Identifier: MIT */
/* rnnmidi-quantize: a preset with its matrices stored in reduced precision.
 *
 *   rnnmidi-quantize IN.rnnw --dtype bf16|int8 --out OUT.rnnw
 *
 * Every tensor core/FORMAT.md lets be reduced (rnn.weight_ih_l* with an
 * embedding, rnn.weight_hh_l*, head.weight) is written as --dtype, rounded
 * by core/model's writer; every other tensor, the header and the metadata
 * are copied, and the metadata gains `dtype` and `dtype_source` (the input's
 * file name and the sha256 of its bytes). `--dtype fp32` writes every tensor
 * as float32 again: the values the input's stored ones stand for. A reduced
 * input is read as those values too, so int8 from bf16 rounds twice.
 *
 * The output is loaded back and probed as the plugin will (rnn_net_probe)
 * before the tool reports success, with one line: dtype, tensors reduced,
 * bytes and the qmat kernel this CPU would run. Exit status: 0 success, 1
 * bad input, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/file.h"
#include "../core/model.h"
#include "../core/net.h"
#include "cli.h"
#include "sha256.h"

static const char *prog = "rnnmidi-quantize";

typedef struct {
    const char *in;
    const char *out;
    int dtype; /* rnn_dtype, -1 until given */
} quant_args;

static int set_dtype(const rnn_cli_opt *row, const char *value, char *msg, size_t msglen)
{
    const int d = rnn_dtype_find(value);
    if (d < 0) {
        snprintf(msg, msglen, "--dtype '%s' is not one of bf16, int8, fp32", value);
        return -1;
    }
    *(int *)row->target = d;
    return 0;
}

static int parse_args(quant_args *a, int argc, char **argv)
{
    const rnn_cli_opt opts[] = {
        {RNN_CLI_OPT("dtype", 0, "TYPE",
                     "bf16 or int8 (a scale per row) for the matrices that may be reduced;\n"
                     "fp32 writes every tensor as float32 again",
                     RNN_OPT_CALL, &a->dtype),
         .set = set_dtype},
        {RNN_CLI_OPT("out", 'o', "FILE", "the preset to write", RNN_OPT_STRING, &a->out)},
        RNN_CLI_HELP_OPT('h'),
    };
    const rnn_cli_spec spec = {
        "Usage: rnnmidi-quantize IN.rnnw --dtype bf16|int8 --out OUT.rnnw\n"
        "Write a preset with its W_ih (with an embedding), W_hh and head.weight in bf16 or\n"
        "int8; the other tensors stay float32 (core/FORMAT.md).\n",
        opts, sizeof opts / sizeof opts[0], NULL, 1};
    const char *pos[2];
    size_t npos = 0;
    int rc = rnn_cli_args(prog, NULL, &spec, argc, argv, pos, 2, &npos);
    if (rc != RNN_CLI_GO_ON) return rc;
    if (npos != 1) return rnn_cli_usage_error(prog, NULL, "%s", "give one input preset");
    if (a->dtype < 0) return rnn_cli_usage_error(prog, NULL, "%s", "--dtype is required");
    if (!a->out) return rnn_cli_usage_error(prog, NULL, "%s", "--out FILE.rnnw is required");
    a->in = pos[0];
    return RNN_CLI_GO_ON;
}

/* The file name of a path. */
static const char *leaf(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The input's metadata with `dtype` and `dtype_source` set (replaced when
 * the input has them): a malloc'd array of *n entries pointing into the
 * model and source. */
static rnn_meta *meta_with_dtype(const rnn_model *m, rnn_dtype dt, const char *source, size_t *n)
{
    const size_t count = rnn_model_meta_count(m);
    rnn_meta *meta = malloc((count + 2) * sizeof *meta);
    if (!meta) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const rnn_meta e = rnn_model_meta_at(m, i);
        if (strcmp(e.key, "dtype") && strcmp(e.key, "dtype_source")) meta[k++] = e;
    }
    meta[k++] = (rnn_meta){"dtype", rnn_dtype_name(dt)};
    meta[k++] = (rnn_meta){"dtype_source", source};
    *n = k;
    return meta;
}

/* Load the output back and probe it as the plugin will; print the line. */
static int check_output(const quant_args *a, int reduced, int total, size_t in_bytes)
{
    char err[512];
    rnn_model *m = rnn_model_load(a->out, err, sizeof err);
    rnn_net *net = m ? rnn_net_create(m, err, sizeof err) : NULL;
    if (!net || rnn_net_probe(net, a->out, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rnn_net_free(net);
        rnn_model_free(m);
        return EXIT_INPUT;
    }
    size_t out_bytes = 0;
    free(rnn_file_read_all(a->out, RNN_MODEL_MAX_BYTES, &out_bytes, err, sizeof err));
    const char *kernel = rnn_net_qmat_kernel_name(net);
    printf("%s: %s, %d of %d tensors reduced, %zu bytes (%.1f%% of %s), qmat kernel %s\n",
           a->out, rnn_dtype_name((rnn_dtype)a->dtype), reduced, total, out_bytes,
           in_bytes ? 100.0 * (double)out_bytes / (double)in_bytes : 0.0, a->in,
           kernel ? kernel : "none");
    rnn_net_free(net);
    rnn_model_free(m);
    return EXIT_OK;
}

static int quantize(const quant_args *a)
{
    char err[512];
    size_t in_bytes;
    unsigned char *bytes = rnn_file_read_all(a->in, RNN_MODEL_MAX_BYTES, &in_bytes, err,
                                             sizeof err);
    if (!bytes) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    char hex[65], source[400];
    rnn_sha256_hex(bytes, in_bytes, hex);
    snprintf(source, sizeof source, "%.300s sha256 %s", leaf(a->in), hex);
    rnn_model *m = rnn_model_load_memory(bytes, in_bytes, a->in, err, sizeof err);
    free(bytes);
    if (!m) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_INPUT;
    }
    const rnn_model_config *cfg = rnn_model_get_config(m);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const float *t[RNN_MAX_TENSORS];
    rnn_dtype d[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    const int reduced = rnn_model_reduced_dtypes(cfg, (rnn_dtype)a->dtype, d);
    for (int i = 0; i < n; i++) t[i] = rnn_model_tensor(m, specs[i].name, NULL);
    size_t n_meta;
    rnn_meta *meta = meta_with_dtype(m, (rnn_dtype)a->dtype, source, &n_meta);
    int rc = EXIT_INPUT;
    if (!meta)
        fprintf(stderr, "%s: out of memory\n", prog);
    else if (rnn_model_write_typed(a->out, cfg, meta, n_meta, t, d, err, sizeof err) != 0)
        fprintf(stderr, "%s: %s\n", prog, err);
    else
        rc = EXIT_OK;
    free(meta);
    rnn_model_free(m);
    return rc == EXIT_OK ? check_output(a, reduced, n, in_bytes) : rc;
}

int main(int argc, char **argv)
{
    rnn_cli_exit_on_signals(prog);
    quant_args a = {.dtype = -1};
    int rc = parse_args(&a, argc, argv);
    if (rc == RNN_CLI_GO_ON) rc = quantize(&a);
    return rc;
}
