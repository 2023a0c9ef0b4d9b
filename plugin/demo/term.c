/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: keys, the status line and the scrolling view (see term.h). */
#include "term.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

const char *const demo_mode_names[RNN_MODE_COUNT] = {"continue", "call", "accompany"};
const char *const demo_scale_names[RNN_SCALE_COUNT] = {
    "off",      "major",  "minor",      "harmonic-minor",   "dorian",
    "phrygian", "lydian", "mixolydian", "major-pentatonic", "minor-pentatonic",
    "blues"};
const char *const demo_key_names[12] = {"C",  "C#", "D",  "D#", "E",  "F",
                                        "F#", "G",  "G#", "A",  "A#", "B"};

static struct termios saved_tio;
static int tio_saved;

void demo_term_restore(void)
{
    if (tio_saved) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    tio_saved = 0;
}

int demo_term_raw(void)
{
    if (!isatty(STDIN_FILENO)) {
        /* keys from a pipe or file: never wait for them */
        int fl = fcntl(STDIN_FILENO, F_GETFL);
        if (fl >= 0) fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
        return -1;
    }
    if (tcgetattr(STDIN_FILENO, &saved_tio)) return -1;
    struct termios t = saved_tio;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t)) return -1;
    tio_saved = 1;
    atexit(demo_term_restore);
    return 0;
}

int demo_term_key(void)
{
    unsigned char c;
    return read(STDIN_FILENO, &c, 1) == 1 ? c : -1;
}

/* What the player sees and changes; the same values go to every engine. */
void demo_print_status(const demo_controls *c)
{
    printf("  [mode %s] [temperature %.2f] [tempo %.0f] [key %s %s%s] [density %.2f] [seed %u]\n",
           demo_mode_names[c->mode], c->temperature, c->tempo, demo_key_names[c->key],
           c->scale ? "" : "scale ", demo_scale_names[c->scale], c->density, (unsigned)c->seed);
    fflush(stdout);
}

void demo_print_keys(void)
{
    puts("  keys: m mode | t/T temperature -/+ | -/+ tempo | k/K key down/up | s scale |"
         " d/D density -/+ | r re-seed | arrows: temperature, tempo | h help | q quit");
    fflush(stdout);
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int demo_handle_key(int ch, demo_controls *c, demo_session *s)
{
    if (ch == 27) {
        /* arrows arrive as ESC [ A..D; a lone ESC quits */
        int b = demo_term_key();
        if (b < 0) return -1;
        int c3 = b == '[' || b == 'O' ? demo_term_key() : -1;
        switch (c3) {
        case 'A':
            ch = 'T';
            break;
        case 'B':
            ch = 't';
            break;
        case 'C':
            ch = '+';
            break;
        case 'D':
            ch = '-';
            break;
        default:
            return 0;
        }
    }
    switch (ch) {
    case 'q':
    case 'Q':
    case 3:
        return -1;
    case 'm':
        c->mode = (c->mode + 1) % RNN_MODE_COUNT;
        demo_session_set_param(s, -1, RNN_PARAM_MODE, (float)c->mode);
        return 1;
    case 't':
    case 'T':
        c->temperature = clampf(c->temperature + (ch == 'T' ? 0.1f : -0.1f), 0.0f, 2.0f);
        demo_session_set_param(s, -1, RNN_PARAM_TEMPERATURE, c->temperature);
        return 1;
    case '-':
    case '_':
    case '+':
    case '=':
        c->tempo = clampf(c->tempo + (ch == '-' || ch == '_' ? -5.0f : 5.0f), 20.0f, 300.0f);
        demo_session_set_param(s, -1, RNN_PARAM_TEMPO, c->tempo);
        return 1;
    case 'k':
    case 'K':
        c->key = (c->key + (ch == 'K' ? 1 : 11)) % 12;
        demo_session_set_param(s, -1, RNN_PARAM_KEY, (float)c->key);
        return 1;
    case 's':
        c->scale = (c->scale + 1) % RNN_SCALE_COUNT;
        demo_session_set_param(s, -1, RNN_PARAM_SCALE, (float)c->scale);
        return 1;
    case 'd':
    case 'D':
        c->density = clampf(c->density + (ch == 'D' ? 0.1f : -0.1f), 0.0f, 1.0f);
        demo_session_set_param(s, -1, RNN_PARAM_DENSITY, c->density);
        return 1;
    case 'r':
        c->seed = (uint32_t)((c->seed * 1103515245u + 12345u) & 0xFFFFFFu);
        if (!c->seed) c->seed = 1;
        demo_session_reseed(s, c->seed);
        return 1;
    case 'h':
    case '?':
        demo_print_keys();
        return 0;
    default:
        return 0;
    }
}

/* The scrolling view: one line per grid step (a sixteenth). */
#define VIEW_PENDING 8192
#define VIEW_COLS 60

struct demo_view {
    demo_event pending[VIEW_PENDING];
    size_t n_pending;
    int8_t held[128]; /* source + 1 of the note sounding on each pitch, 0 none */
    uint64_t step;
    double next_frame;
    int color;
};

static const char *const source_colors[DEMO_MAX_PARTS + 1] = {"\033[36m", "\033[33m", "\033[32m",
                                                              "\033[35m"};
static const char drum_letters[RNN_DRUM_CLASSES + 1] = "KSholtmCR";

void demo_view_add(demo_view *v, const demo_event *ev)
{
    if (v->n_pending < VIEW_PENDING) v->pending[v->n_pending++] = *ev;
}

void demo_view_print(demo_view *v, const demo_controls *c, double sample_rate, uint64_t upto)
{
    int lo = c->lowest, hi = c->highest;
    if (hi - lo + 1 > VIEW_COLS) {
        int mid = (lo + hi) / 2;
        lo = mid - VIEW_COLS / 2;
        hi = lo + VIEW_COLS - 1;
    }
    while (v->next_frame <= (double)upto) {
        double step_frames = sample_rate * 60.0 / c->tempo / 4.0;
        double end = v->next_frame + step_frames;
        int8_t onset[128] = {0};
        int drums[RNN_DRUM_CLASSES] = {0};
        size_t keep = 0;
        for (size_t i = 0; i < v->n_pending; i++) {
            demo_event *ev = &v->pending[i];
            if ((double)ev->frame >= end) {
                v->pending[keep++] = *ev;
                continue;
            }
            int status = ev->data[0] & 0xF0, chn = ev->data[0] & 0x0F, p = ev->data[1] & 0x7F;
            int on = status == 0x90 && ev->data[2] > 0;
            if (chn == RNN_DRUMS_CHANNEL) {
                int k = rnn_drum_class_of_pitch(p);
                if (on && k >= 0) drums[k] = ev->source + 1;
            } else if (on) {
                v->held[p] = (int8_t)(ev->source + 1);
                onset[p] = (int8_t)(ev->source + 1);
            } else if (status == 0x80 || status == 0x90) {
                if (v->held[p] == ev->source + 1) v->held[p] = 0;
            }
        }
        v->n_pending = keep;
        char line[1024];
        size_t n = 0;
        uint64_t s = v->step;
        int beat_start = s % 4 == 0, bar_start = s % 16 == 0;
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%4llu.%llu.%llu%s ",
                              v->color && !bar_start ? "\033[2m" : "",
                              (unsigned long long)(s / 16 + 1), (unsigned long long)(s / 4 % 4 + 1),
                              (unsigned long long)(s % 4 + 1),
                              v->color && !bar_start ? "\033[0m" : "");
        for (int p = lo; p <= hi && n < sizeof line - 32; p++) {
            int src = onset[p] ? onset[p] : v->held[p];
            char chr = onset[p]      ? '#'
                       : v->held[p]  ? '|'
                       : p % 12 == 0 ? ':'
                       : beat_start  ? '.'
                                     : ' ';
            if (src && v->color)
                n += (size_t)snprintf(line + n, sizeof line - n, "%s%s%c\033[0m",
                                      source_colors[(src - 1) % (DEMO_MAX_PARTS + 1)],
                                      onset[p] ? "\033[1m" : "", chr);
            else
                line[n++] = chr;
        }
        line[n++] = ' ';
        line[n++] = ' ';
        for (int k = 0; k < RNN_DRUM_CLASSES && n < sizeof line - 32; k++) {
            if (drums[k] && v->color)
                n += (size_t)snprintf(line + n, sizeof line - n, "%s\033[1m%c\033[0m",
                                      source_colors[(drums[k] - 1) % (DEMO_MAX_PARTS + 1)],
                                      drum_letters[k]);
            else
                line[n++] = drums[k] ? drum_letters[k] : '.';
        }
        line[n] = 0;
        puts(line);
        v->step++;
        v->next_frame = end;
    }
    fflush(stdout);
}

demo_view *demo_view_create(int color)
{
    demo_view *v = calloc(1, sizeof *v);
    if (v) v->color = color;
    return v;
}

void demo_view_free(demo_view *v)
{
    free(v);
}
