/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the loss curve as SVG (contract in plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *x, *y;
    size_t n, cap;
} series;

static int push(series *s, double x, double y)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        double *nx = realloc(s->x, cap * sizeof(double));
        if (!nx) return -1;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof(double));
        if (!ny) return -1;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 0;
}

/* A round step for about n ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int n)
{
    double raw = (hi - lo) / n;
    if (raw <= 0) return 1;
    double p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

int rnn_plot_loss_svg(const char *csv_path, const char *svg_path, const char *title, char *err,
                      size_t errlen)
{
    FILE *in = fopen(csv_path, "r");
    if (!in) {
        snprintf(err, errlen, "%s: %s", csv_path, strerror(errno));
        return -1;
    }
    series tr = {0}, va = {0};
    char line[512];
    int rc = -1, oom = 0;
    while (fgets(line, sizeof line, in)) {
        long step;
        int epoch;
        double loss;
        char vbuf[64] = "";
        if (sscanf(line, "%ld,%d,%lf,%63[^,]", &step, &epoch, &loss, vbuf) < 3) continue;
        if (isfinite(loss)) oom |= push(&tr, (double)step, loss);
        double v;
        if (vbuf[0] && sscanf(vbuf, "%lf", &v) == 1 && isfinite(v))
            oom |= push(&va, (double)step, v);
    }
    fclose(in);
    char *tmp = NULL;
    FILE *f = NULL;
    if (oom) {
        snprintf(err, errlen, "%s: out of memory", csv_path);
        goto done;
    }
    if (tr.n == 0) {
        snprintf(err, errlen, "%s: no training steps to plot", csv_path);
        goto done;
    }
    /* moving average over about 1/50 of the run */
    size_t w = tr.n / 50 + 1;
    double *smooth = malloc(tr.n * sizeof(double));
    if (!smooth) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    double acc = 0;
    for (size_t i = 0; i < tr.n; i++) {
        acc += tr.y[i];
        if (i >= w) acc -= tr.y[i - w];
        smooth[i] = acc / (double)(i + 1 < w ? i + 1 : w);
    }
    double x0 = 0, x1 = tr.x[tr.n - 1], y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = w / 2; i < tr.n; i++) {
        if (smooth[i] < y0) y0 = smooth[i];
        if (smooth[i] > y1) y1 = smooth[i];
    }
    for (size_t i = 0; i < va.n; i++) {
        if (va.y[i] < y0) y0 = va.y[i];
        if (va.y[i] > y1) y1 = va.y[i];
        if (va.x[i] > x1) x1 = va.x[i];
    }
    if (!(y1 > y0)) {
        y0 -= 0.5;
        y1 += 0.5;
    }
    if (!(x1 > x0)) x1 = x0 + 1;
    double ys = nice_step(y0, y1, 6);
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    double xs = nice_step(x0, x1, 8);

    const double W = 800, Hh = 480, L = 70, R = 20, T = 40, Bm = 50;
#define PX(x) (L + ((x)-x0) / (x1 - x0) * (W - L - R))
#define PY(y) (Hh - Bm - ((y)-y0) / (y1 - y0) * (Hh - T - Bm))
    size_t plen = strlen(svg_path);
    tmp = malloc(plen + 8);
    if (!tmp) {
        free(smooth);
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    snprintf(tmp, plen + 8, "%s.tmp", svg_path);
    f = fopen(tmp, "w");
    if (!f) {
        free(smooth);
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, Hh);
    fprintf(f, "<text x=\"%g\" y=\"24\" font-size=\"15\">", L);
    escape(f, title ? title : "training loss");
    fprintf(f, "</text>\n");
    for (double y = y0; y <= y1 + ys / 2; y += ys) {
        fprintf(f,
                "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                L, PY(y), W - R, PY(y), L - 6, PY(y) + 4, y);
    }
    for (double x = 0; x <= x1; x += xs) {
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.0f</text>\n",
                PX(x), T, PX(x), Hh - Bm, PX(x), Hh - Bm + 16, x);
    }
    fprintf(f,
            "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">optimiser step</text>\n"
            "<text x=\"16\" y=\"%g\" transform=\"rotate(-90 16 %g)\" "
            "text-anchor=\"middle\">NLL (nats per step)</text>\n",
            (L + W - R) / 2, Hh - 12, (T + Hh - Bm) / 2, (T + Hh - Bm) / 2);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    size_t stride = tr.n / 2000 + 1;
    for (size_t i = 0; i < tr.n; i += stride) {
        double y = smooth[i] < y0 ? y0 : smooth[i] > y1 ? y1 : smooth[i];
        fprintf(f, "%.1f,%.1f ", PX(tr.x[i]), PY(y));
    }
    fprintf(f, "\"/>\n");
    if (va.n) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
        for (size_t i = 0; i < va.n; i++)
            fprintf(f, "%.1f,%.1f ", PX(va.x[i]), PY(va.y[i]));
        fprintf(f, "\"/>\n");
        for (size_t i = 0; i < va.n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", PX(va.x[i]),
                    PY(va.y[i]));
    }
    fprintf(f,
            "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
            "<text x=\"%g\" y=\"%g\">train loss (moving average)</text>\n",
            W - R - 260, T + 14, W - R - 235, T + 14, W - R - 228, T + 18);
    fprintf(f,
            "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#d62728\" stroke-width=\"2\"/>"
            "<text x=\"%g\" y=\"%g\">valid NLL (per epoch)</text>\n",
            W - R - 260, T + 32, W - R - 235, T + 32, W - R - 228, T + 36);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    free(smooth);
    if (fflush(f) != 0 || ferror(f)) {
        fclose(f);
        f = NULL;
        remove(tmp);
        snprintf(err, errlen, "%s: cannot write (%s)", svg_path, strerror(errno));
        goto done;
    }
    if (fclose(f) != 0) {
        f = NULL;
        remove(tmp);
        snprintf(err, errlen, "%s: cannot write (%s)", svg_path, strerror(errno));
        goto done;
    }
    f = NULL;
    if (rename(tmp, svg_path) != 0) {
        remove(tmp);
        snprintf(err, errlen, "%s: %s", svg_path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(tmp);
    free(tr.x);
    free(tr.y);
    free(va.x);
    free(va.y);
    return rc;
}
