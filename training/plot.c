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

/* The train losses and valid NLLs of a CSV log, by step (non-finite ones
 * left out). */
static int read_log(const char *csv_path, series *tr, series *va, char *err, size_t errlen)
{
    FILE *in = fopen(csv_path, "r");
    if (!in) {
        snprintf(err, errlen, "%s: %s", csv_path, strerror(errno));
        return -1;
    }
    char line[512];
    int oom = 0;
    while (fgets(line, sizeof line, in)) {
        long step;
        int epoch;
        double loss;
        char vbuf[64] = "";
        if (sscanf(line, "%ld,%d,%lf,%63[^,]", &step, &epoch, &loss, vbuf) < 3) continue;
        if (isfinite(loss)) oom |= push(tr, (double)step, loss);
        double v;
        if (vbuf[0] && sscanf(vbuf, "%lf", &v) == 1 && isfinite(v))
            oom |= push(va, (double)step, v);
    }
    fclose(in);
    if (oom) {
        snprintf(err, errlen, "%s: out of memory", csv_path);
        return -1;
    }
    if (tr->n == 0) {
        snprintf(err, errlen, "%s: no training steps to plot", csv_path);
        return -1;
    }
    return 0;
}

/* The picture: its size and margins, the data range on each axis and
 * their tick steps. */
typedef struct {
    double W, H, L, R, T, B; /* width, height; left, right, top, bottom margins */
    double x0, x1, xs, y0, y1, ys;
} frame;

static double px(const frame *fr, double x)
{
    return fr->L + (x - fr->x0) / (fr->x1 - fr->x0) * (fr->W - fr->L - fr->R);
}

static double py(const frame *fr, double y)
{
    return fr->H - fr->B - (y - fr->y0) / (fr->y1 - fr->y0) * (fr->H - fr->T - fr->B);
}

/* Axes that hold the smoothed loss (past its first half window of w) and
 * every valid point, on round ticks. */
static frame fit_frame(const series *tr, const double *smooth, size_t w, const series *va)
{
    frame fr = {.W = 800, .H = 480, .L = 70, .R = 20, .T = 40, .B = 50};
    double x0 = 0, x1 = tr->x[tr->n - 1], y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = w / 2; i < tr->n; i++) {
        if (smooth[i] < y0) y0 = smooth[i];
        if (smooth[i] > y1) y1 = smooth[i];
    }
    for (size_t i = 0; i < va->n; i++) {
        if (va->y[i] < y0) y0 = va->y[i];
        if (va->y[i] > y1) y1 = va->y[i];
        if (va->x[i] > x1) x1 = va->x[i];
    }
    if (!(y1 > y0)) {
        y0 -= 0.5;
        y1 += 0.5;
    }
    if (!(x1 > x0)) x1 = x0 + 1;
    fr.ys = nice_step(y0, y1, 6);
    fr.y0 = floor(y0 / fr.ys) * fr.ys;
    fr.y1 = ceil(y1 / fr.ys) * fr.ys;
    fr.x0 = x0;
    fr.x1 = x1;
    fr.xs = nice_step(x0, x1, 8);
    return fr;
}

/* Background, title, grid with tick labels, axis names. */
static void draw_axes(FILE *f, const frame *fr, const char *title)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            fr->W, fr->H);
    fprintf(f, "<text x=\"%g\" y=\"24\" font-size=\"15\">", fr->L);
    escape(f, title ? title : "training loss");
    fprintf(f, "</text>\n");
    for (double y = fr->y0; y <= fr->y1 + fr->ys / 2; y += fr->ys) {
        fprintf(f,
                "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                fr->L, py(fr, y), fr->W - fr->R, py(fr, y), fr->L - 6, py(fr, y) + 4, y);
    }
    for (double x = 0; x <= fr->x1; x += fr->xs) {
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.0f</text>\n",
                px(fr, x), fr->T, px(fr, x), fr->H - fr->B, px(fr, x), fr->H - fr->B + 16, x);
    }
    fprintf(f,
            "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">optimiser step</text>\n"
            "<text x=\"16\" y=\"%g\" transform=\"rotate(-90 16 %g)\" "
            "text-anchor=\"middle\">NLL (nats per step)</text>\n",
            (fr->L + fr->W - fr->R) / 2, fr->H - 12, (fr->T + fr->H - fr->B) / 2,
            (fr->T + fr->H - fr->B) / 2);
}

/* The smoothed train loss (at most about 2000 points, clamped to the
 * frame), the valid NLL with a dot per epoch, and the legend. */
static void draw_curves(FILE *f, const frame *fr, const series *tr, const double *smooth,
                        const series *va)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    size_t stride = tr->n / 2000 + 1;
    for (size_t i = 0; i < tr->n; i += stride) {
        double y = smooth[i] < fr->y0 ? fr->y0 : smooth[i] > fr->y1 ? fr->y1 : smooth[i];
        fprintf(f, "%.1f,%.1f ", px(fr, tr->x[i]), py(fr, y));
    }
    fprintf(f, "\"/>\n");
    if (va->n) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
        for (size_t i = 0; i < va->n; i++)
            fprintf(f, "%.1f,%.1f ", px(fr, va->x[i]), py(fr, va->y[i]));
        fprintf(f, "\"/>\n");
        for (size_t i = 0; i < va->n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n",
                    px(fr, va->x[i]), py(fr, va->y[i]));
    }
    const double lx = fr->W - fr->R - 260, ly = fr->T;
    fprintf(f,
            "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
            "<text x=\"%g\" y=\"%g\">train loss (moving average)</text>\n",
            lx, ly + 14, lx + 25, ly + 14, lx + 32, ly + 18);
    fprintf(f,
            "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#d62728\" stroke-width=\"2\"/>"
            "<text x=\"%g\" y=\"%g\">valid NLL (per epoch)</text>\n",
            lx, ly + 32, lx + 25, ly + 32, lx + 32, ly + 36);
    fprintf(f, "</svg>\n");
}

/* The picture into svg_path.tmp, then renamed over svg_path, so a reader
 * never sees half a file. */
static int write_svg(const char *svg_path, const frame *fr, const char *title, const series *tr,
                     const double *smooth, const series *va, char *err, size_t errlen)
{
    size_t plen = strlen(svg_path);
    char *tmp = malloc(plen + 8);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(tmp, plen + 8, "%s.tmp", svg_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    draw_axes(f, fr, title);
    draw_curves(f, fr, tr, smooth, va);
    int bad = fflush(f) != 0 || ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        snprintf(err, errlen, "%s: cannot write (%s)", svg_path, strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = 0;
    if (rename(tmp, svg_path) != 0) {
        remove(tmp);
        snprintf(err, errlen, "%s: %s", svg_path, strerror(errno));
        rc = -1;
    }
    free(tmp);
    return rc;
}

int rnn_plot_loss_svg(const char *csv_path, const char *svg_path, const char *title, char *err,
                      size_t errlen)
{
    series tr = {0}, va = {0};
    double *smooth = NULL;
    int rc = -1;
    if (read_log(csv_path, &tr, &va, err, errlen) != 0) goto done;
    /* moving average over about 1/50 of the run */
    size_t w = tr.n / 50 + 1;
    smooth = malloc(tr.n * sizeof(double));
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
    frame fr = fit_frame(&tr, smooth, w, &va);
    rc = write_svg(svg_path, &fr, title, &tr, smooth, &va, err, errlen);
done:
    free(smooth);
    free(tr.x);
    free(tr.y);
    free(va.x);
    free(va.y);
    return rc;
}
