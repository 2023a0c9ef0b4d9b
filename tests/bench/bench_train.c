/* SPDX-License-Identifier: MIT */
/* Training throughput of the C trainer against PyTorch's on the same step:
 * time steps (B x T) per second of a whole optimiser step (forward, BPTT,
 * clipping, AdamW), E = 64, V = 130, B = 64, T = 64, dropout 0.25, for each
 * of the nets LSTM 2 x 256, GRU 2 x 256 and LSTM 2 x 512.
 *
 * On a shared machine the load changes from one second to the next, so the
 * two are measured interleaved: every setting is a process of its own (the
 * OpenBLAS core and thread variables are read when the library loads) that
 * stays alive for the whole net and runs BENCH_STEPS steps each time it is
 * asked; a round asks each in turn, C and PyTorch alternating, in reverse
 * order every other round, and a setting's figure is the median of its
 * rounds. The settings: the C trainer (this program with --serve) with
 * each thread count of BENCH_THREADS, and PyTorch (tests/bench/bench_train_torch.py
 * --serve, with /usr/bin/python3; skipped with a note when absent) with
 * torch threads 1 and 2 and OPENBLAS_NUM_THREADS 1 and 2, each under every
 * OpenBLAS core of BENCH_CORES. A probe round comes first and is not
 * counted (a warm-up step and two measured steps each): a setting under a
 * quarter of its side's best there is not asked again. Each side's figure is its best setting's
 * median; the ratio is C's over PyTorch's, beside the ratio of their CPU time per step (what a step
 * costs the machine, the ratio that holds when other programs leave this one a single core). The
 * load average is printed before and after each net. Prints `BENCH name value unit`.
 *
 * Environment: BENCH_THREADS (1,2), BENCH_STEPS (4), BENCH_ROUNDS (5),
 * BENCH_NETS (lstm2x256,gru2x256,lstm2x512), BENCH_CORES (Haswell,SkylakeX:
 * the OPENBLAS_CORETYPE values of both sides), BENCH_NO_TORCH=1 to run the C
 * trainer alone, BENCH_BASELINE=PATH another build of this program whose
 * trainer runs as more settings of the same rounds (a change measured
 * against the code before it, on the same load). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../training/train.h"

enum { B = 64, T = 64, MAX_SETTINGS = 24, MAX_ROUNDS = 64 };

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The nets measured: name (as bench_train_torch.py takes it), cell, hidden. */
static const struct {
    const char *name;
    rnn_cell cell;
    int hidden;
} nets[] = {
    {"lstm2x256", RNN_CELL_LSTM, 256},
    {"gru2x256", RNN_CELL_GRU, 256},
    {"lstm2x512", RNN_CELL_LSTM, 512},
};
#define N_NETS ((int)(sizeof nets / sizeof nets[0]))

/* ------------------------------------------------------------------------ */
/* --serve NET: one C setting. Prints `ready CORENAME`, then for each number
 * n read from stdin runs n steps and prints `rate R cpu_ms C` (time steps
 * per second; the CPU time of a step summed over the threads). */

static void train_step(rnn_trainer *tr, const int32_t *in, const int32_t *tg, long step)
{
    rnn_trainer_zero_grad(tr);
    rnn_trainer_forward(tr, in, tg, 1, NULL, NULL);
    rnn_trainer_backward(tr);
    rnn_trainer_clip_grad(tr, 1.0);
    rnn_trainer_adamw(tr, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
}

static int serve(int k, int threads)
{
    rnn_blas_set_threads(1); /* one OpenBLAS thread inside each trainer thread */
    rnn_model_config cfg = {.kind = RNN_KIND_MELODY, .steps_per_quarter = 4, .cell = nets[k].cell,
                            .layers = 2, .embed = 64, .hidden = nets[k].hidden, .vocab = 130};
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    int32_t *in = malloc(sizeof(int32_t) * B * T), *tg = malloc(sizeof(int32_t) * B * T);
    if (!tr || !in || !tg) {
        fprintf(stderr, "bench_train: %s\n", tr ? "out of memory" : err);
        return 1;
    }
    rnn_trainer_init_params(tr, 1);
    rnn_trainer_set_threads(tr, threads);
    rnn_trainer_set_dropout(tr, 0.25f, 2);
    uint32_t s = 1;
    for (int i = 0; i < B * T; i++) {
        s = s * 1664525u + 1013904223u;
        in[i] = (int32_t)((s >> 8) % 130);
        tg[i] = (int32_t)((s >> 20) % 130);
    }
    long step = 1; /* no warm-up steps: the coordinator's probe round is one */
    printf("ready %s\n", rnn_blas_corename());
    fflush(stdout);
    int n;
    while (scanf("%d", &n) == 1 && n > 0) {
        const double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < n; i++, step++)
            train_step(tr, in, tg, step);
        const double dt = clock_s(CLOCK_MONOTONIC) - t0;
        printf("rate %.1f cpu_ms %.2f\n", (double)B * T * n / dt,
               (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / n);
        fflush(stdout);
    }
    rnn_trainer_free(tr);
    free(in);
    free(tg);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The coordinator: settings as child processes on pipes. */

enum { C, TORCH, BASE };

typedef struct {
    int side;       /* C, TORCH or BASE */
    char label[96]; /* what the setting is, for the report */
    char tag[48];   /* the same, short, for the rounds */
    char core[64];  /* openblas_get_corename() as the process reports it */
    pid_t pid;
    FILE *to, *from;
    int alive;   /* still asked */
    int threads; /* the C trainer's */
    int n;       /* rounds run */
    double rate[MAX_ROUNDS], cpu_ms[MAX_ROUNDS];
} setting;

/* Start argv with the variables env ("NAME=value", NULL-terminated) set;
 * reads its `ready CORENAME` line. 0, or -1 with a note printed. */
static int spawn(setting *s, char *const argv[], const char *const env[])
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return -1;
    /* the settings started later must not hold this one's pipe ends, or
     * closing its stdin would not end it */
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    fcntl(out[0], F_SETFD, FD_CLOEXEC);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        for (int i = 0; env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->to = fdopen(in[1], "w");
    s->from = fdopen(out[0], "r");
    char line[256];
    if (!s->to || !s->from || !fgets(line, sizeof line, s->from) ||
        sscanf(line, "ready %63s", s->core) != 1) {
        printf("note: %s did not start; left out\n", s->label);
        return -1;
    }
    s->alive = 1;
    return 0;
}

/* One turn of a setting: n steps; 0, or -1 (the setting is dropped). A
 * setting that has not answered after limit seconds (0: no limit) is
 * stopped. */
static int ask(setting *s, int n, double limit)
{
    char line[256];
    double rate, cpu = 0;
    fprintf(s->to, "%d\n", n);
    fflush(s->to);
    struct pollfd pfd = {fileno(s->from), POLLIN, 0};
    if (limit > 0 && poll(&pfd, 1, (int)(limit * 1e3)) == 0) {
        printf(" [%s: no answer in %.0f s, stopped]", s->tag, limit);
        kill(s->pid, SIGKILL);
        s->alive = 0;
        return -1;
    }
    if (!fgets(line, sizeof line, s->from) ||
        sscanf(line, "rate %lf cpu_ms %lf", &rate, &cpu) < 1) {
        printf("note: %s stopped answering; left out\n", s->label);
        s->alive = 0;
        return -1;
    }
    s->rate[s->n] = rate;
    s->cpu_ms[s->n] = cpu;
    s->n++;
    /* OpenBLAS's and OpenMP's threads spin a while after their last call:
     * let them go to sleep before the next setting starts its clock */
    nanosleep(&(struct timespec){0, 200000000}, NULL);
    return 0;
}

static void finish(setting *s)
{
    if (s->to) fclose(s->to); /* EOF ends the serve loop */
    if (s->from) fclose(s->from);
    if (s->pid > 0) waitpid(s->pid, NULL, 0);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double w[MAX_ROUNDS];
    memcpy(w, v, (size_t)n * sizeof *w);
    qsort(w, (size_t)n, sizeof *w, cmp_double);
    return n == 0 ? 0 : n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
}

static void print_load(const char *name, const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) strcpy(buf, "?");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("%s: load average %s: %s (%ld cores online)\n", name, when, buf,
           sysconf(_SC_NPROCESSORS_ONLN));
}

/* the best still-running setting of a side by median, or -1 */
static int best_of(setting *set, int ns, int side)
{
    int best = -1;
    double bm = 0;
    for (int i = 0; i < ns; i++) {
        if (set[i].side != side || set[i].n == 0) continue;
        double m = median(set[i].rate, set[i].n);
        if (set[i].alive && m > bm) bm = m, best = i;
    }
    return best;
}

/* One net: start the settings, run the rounds, report. */
static void bench_net(int k, const char *self, const char *base, const char *threads, int steps,
                      int rounds, int torch, const char *cores)
{
    const char *name = nets[k].name;
    static setting set[MAX_SETTINGS];
    int ns = 0;
    char threads_s[MAX_SETTINGS][16], core_env[MAX_SETTINGS][96], aux_env[MAX_SETTINGS][2][48];
    print_load(name, "before");

    /* the cores, each for both sides */
    char list[256];
    snprintf(list, sizeof list, "%s", cores);
    const char *core_names[8];
    int nc = 0;
    for (char *c = strtok(list, ","); c && nc < 8; c = strtok(NULL, ","))
        core_names[nc++] = c;
    /* the C trainer's thread counts */
    int thread_counts[4], nt = 0;
    for (const char *p = threads; *p && nt < 4; p += strcspn(p, ","), p += *p == ',')
        if (atoi(p) > 0) thread_counts[nt++] = atoi(p);
    if (nt == 0) thread_counts[nt++] = 2;
    for (int side = C; side <= BASE; side += BASE - C) {
        const char *exe = side == C ? self : base;
        for (int c = 0; exe && c < nc; c++)
            for (int t = 0; t < nt && ns < MAX_SETTINGS; t++) {
                setting *s = &set[ns];
                memset(s, 0, sizeof *s);
                s->side = side;
                s->threads = thread_counts[t];
                snprintf(s->label, sizeof s->label, "%s %d thread%s, OPENBLAS_CORETYPE=%s",
                         side == C ? "C" : "baseline", s->threads, s->threads == 1 ? "" : "s",
                         core_names[c]);
                snprintf(s->tag, sizeof s->tag, "%s%d/%.24s", side == C ? "C" : "base", s->threads,
                         core_names[c]);
                snprintf(core_env[ns], sizeof core_env[ns], "OPENBLAS_CORETYPE=%s", core_names[c]);
                snprintf(threads_s[ns], sizeof threads_s[ns], "%d", s->threads);
                const char *env[] = {core_env[ns], NULL};
                char *argv[] = {(char *)exe, "--serve", (char *)name, threads_s[ns], NULL};
                if (spawn(s, argv, env) == 0 || s->pid > 0) ns++;
            }
    }
    if (torch && access("/usr/bin/python3", X_OK) == 0 &&
        access("tests/bench/bench_train_torch.py", R_OK) == 0) {
        for (int c = 0; c < nc; c++)
            for (int tt = 1; tt <= 2; tt++)
                for (int ob = 1; ob <= 2 && ns < MAX_SETTINGS; ob++) {
                    setting *s = &set[ns];
                    memset(s, 0, sizeof *s);
                    s->side = TORCH;
                    snprintf(s->label, sizeof s->label,
                             "torch threads=%d OPENBLAS_NUM_THREADS=%d OPENBLAS_CORETYPE=%s", tt,
                             ob, core_names[c]);
                    snprintf(s->tag, sizeof s->tag, "torch%dx%d/%.24s", tt, ob, core_names[c]);
                    snprintf(core_env[ns], sizeof core_env[ns], "OPENBLAS_CORETYPE=%s",
                             core_names[c]);
                    snprintf(aux_env[ns][0], sizeof aux_env[ns][0], "OPENBLAS_NUM_THREADS=%d", ob);
                    snprintf(aux_env[ns][1], sizeof aux_env[ns][1], "OMP_NUM_THREADS=%d", tt);
                    const char *env[] = {core_env[ns], aux_env[ns][0], aux_env[ns][1], NULL};
                    char tts[8];
                    snprintf(tts, sizeof tts, "%d", tt);
                    char *argv[] = {"/usr/bin/python3",
                                    "tests/bench/bench_train_torch.py",
                                    "--serve",
                                    (char *)name,
                                    tts,
                                    NULL};
                    if (spawn(s, argv, env) == 0 || s->pid > 0) ns++;
                }
    } else if (torch) {
        printf("note: /usr/bin/python3 or tests/bench/bench_train_torch.py missing (or no "
               "torch); PyTorch figure skipped\n");
    }

    /* rounds: C and PyTorch alternate, the order reversed every other round */
    int order[MAX_SETTINGS], no = 0, ci = 0, ti = 0;
    while (ci < ns || ti < ns) {
        while (ci < ns && set[ci].side == TORCH)
            ci++;
        if (ci < ns) order[no++] = ci++;
        while (ti < ns && set[ti].side != TORCH)
            ti++;
        if (ti < ns) order[no++] = ti++;
    }
    /* round 0, the probe, is not counted: a step each to warm up (the first
     * allocates and faults its memory in), then two steps measured; a
     * setting under a quarter of its side's best there is not asked again
     * (torch's 2-thread settings on a busy machine run at a tenth of its
     * best and would take most of the time; a busy machine also makes a
     * probe of a few steps twice as fast or slow as the rounds, so only
     * what is far behind is left out) */
    for (int r = 0; r <= rounds; r++) {
        printf("%s: %s %d:", name, r == 0 ? "probe" : "round", r);
        double fastest[3] = {0, 0, 0}; /* seconds of the probe's fastest step per side */
        for (int j = 0; j < no; j++) {
            setting *s = &set[order[r % 2 ? no - 1 - j : j]];
            /* in the probe, steps over 4 times the side's fastest are left
             * out anyway (under a quarter of its rate): stop them waiting */
            const double limit = r == 0 && fastest[s->side] > 0 ? 4 * fastest[s->side] + 1 : 0;
            if (!s->alive || (r == 0 && ask(s, 1, limit) != 0) ||
                ask(s, r == 0 ? 2 : steps, 2 * limit) != 0)
                continue;
            const double secs = (double)B * T / s->rate[s->n - 1]; /* a step's */
            if (r == 0 && (fastest[s->side] == 0 || secs < fastest[s->side]))
                fastest[s->side] = secs;
            printf(" %s %.0f", s->tag, s->rate[s->n - 1]);
            fflush(stdout);
        }
        printf("\n");
        if (r > 0) continue;
        for (int side = C; side <= BASE; side++) { /* rate[1]: the measured probe step */
            double top = 0;
            for (int i = 0; i < ns; i++)
                if (set[i].side == side && set[i].alive && set[i].rate[1] > top)
                    top = set[i].rate[1];
            for (int i = 0; i < ns; i++)
                if (set[i].side == side && set[i].alive && set[i].rate[1] < 0.25 * top) {
                    printf("%s: %s (%.0f time_steps/s) left out\n", name, set[i].label,
                           set[i].rate[1]);
                    set[i].alive = 0;
                }
        }
        for (int i = 0; i < ns; i++)
            set[i].n = 0;
    }

    for (int i = 0; i < ns; i++)
        if (set[i].n > 0)
            printf("%s: %s (OpenBLAS %s): median %.0f time_steps/s over %d round%s\n", name,
                   set[i].label, set[i].core, median(set[i].rate, set[i].n), set[i].n,
                   set[i].n == 1 ? "" : "s");
    const int bc = best_of(set, ns, C), bt = best_of(set, ns, TORCH);
    /* the baseline in the best C setting's core and threads, else its best */
    int bb = best_of(set, ns, BASE);
    for (int i = 0; bc >= 0 && i < ns; i++)
        if (set[i].side == BASE && set[i].alive && set[i].n > 0 &&
            set[i].threads == set[bc].threads && strcmp(set[i].core, set[bc].core) == 0)
            bb = i;
    if (bc >= 0) {
        printf("BENCH train_%s_c_time_steps_per_s %.0f time_steps/s (%d threads, "
               "openblas_get_corename %s)\n",
               name, median(set[bc].rate, set[bc].n), set[bc].threads, set[bc].core);
        printf("BENCH train_%s_c_cpu_ms_per_step %.1f ms (all threads)\n", name,
               median(set[bc].cpu_ms, set[bc].n));
    }
    if (bt >= 0) {
        printf("BENCH train_%s_torch_cpu_ms_per_step %.1f ms (all threads)\n", name,
               median(set[bt].cpu_ms, set[bt].n));
        printf("BENCH train_%s_torch_steps_per_s %.0f time_steps/s (%s, openblas_get_corename "
               "%s)\n",
               name, median(set[bt].rate, set[bt].n), set[bt].label, set[bt].core);
    }
    if (bc >= 0 && bt >= 0) {
        /* the spread: the two best settings' ratio in each round they shared */
        const int nr = set[bc].n < set[bt].n ? set[bc].n : set[bt].n;
        double lo = 1e30, hi = 0;
        for (int r = 0; r < nr; r++) {
            const double q = set[bc].rate[r] / set[bt].rate[r];
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        printf("BENCH train_%s_c_over_torch %.2f x (medians of %d interleaved rounds of %d "
               "steps; per round %.2f..%.2f)\n",
               name, median(set[bc].rate, set[bc].n) / median(set[bt].rate, set[bt].n), nr, steps,
               lo, hi);
        /* what a step costs the machine: the ratio that holds when other
         * programs leave this one a single core's share */
        printf("BENCH train_%s_cpu_torch_over_c %.2f x (CPU time per step, all threads)\n", name,
               median(set[bt].cpu_ms, set[bt].n) / median(set[bc].cpu_ms, set[bc].n));
    }
    if (bc >= 0 && bb >= 0) {
        printf("BENCH train_%s_base_time_steps_per_s %.0f time_steps/s (%s, %d threads, "
               "openblas_get_corename %s; cpu %.1f ms per step)\n",
               name, median(set[bb].rate, set[bb].n), base, set[bb].threads, set[bb].core,
               median(set[bb].cpu_ms, set[bb].n));
        /* per round too: the two ran in every round, so the spread shows
         * what the load did to the ratio */
        double lo = 1e30, hi = 0;
        for (int r = 0; r < set[bc].n && r < set[bb].n; r++) {
            const double q = set[bc].rate[r] / set[bb].rate[r];
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        printf("BENCH train_%s_c_over_base %.2f x (per round %.2f..%.2f; CPU time per step %.2f "
               "x less)\n",
               name, median(set[bc].rate, set[bc].n) / median(set[bb].rate, set[bb].n), lo, hi,
               median(set[bb].cpu_ms, set[bb].n) / median(set[bc].cpu_ms, set[bc].n));
    }
    for (int i = 0; i < ns; i++)
        finish(&set[i]);
    print_load(name, "after");
}

int main(int argc, char **argv)
{
    const char *threads = getenv("BENCH_THREADS") ? getenv("BENCH_THREADS") : "1,2";
    int steps = getenv("BENCH_STEPS") ? atoi(getenv("BENCH_STEPS")) : 4;
    int rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : 5;
    const char *cores = getenv("BENCH_CORES") ? getenv("BENCH_CORES") : "Haswell,SkylakeX";
    if (steps < 1) steps = 1;
    if (rounds < 1) rounds = 1;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    if (argc == 4 && strcmp(argv[1], "--serve") == 0) {
        for (int k = 0; k < N_NETS; k++)
            if (strcmp(argv[2], nets[k].name) == 0) return serve(k, atoi(argv[3]));
        return 1;
    }
    int run[N_NETS] = {0};
    const char *sel = getenv("BENCH_NETS");
    if (!sel || !*sel) sel = "lstm2x256,gru2x256,lstm2x512";
    for (const char *p = sel; *p;) {
        size_t len = strcspn(p, ",");
        int k = -1;
        for (int j = 0; j < N_NETS; j++)
            if (strlen(nets[j].name) == len && strncmp(nets[j].name, p, len) == 0) k = j;
        if (k < 0) {
            fprintf(stderr,
                    "bench_train: unknown net '%.*s' in BENCH_NETS (lstm2x256, gru2x256, "
                    "lstm2x512)\n",
                    (int)len, p);
            return 1;
        }
        run[k] = 1;
        p += len + (p[len] == ',');
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "bench_train: cannot find its own executable in /proc/self/exe\n");
        return 1;
    }
    self[n] = 0;
    signal(SIGPIPE, SIG_IGN); /* a setting that dies is left out, not fatal */
    FILE *ag = fopen("/proc/sys/kernel/sched_autogroup_enabled", "r");
    if (ag) {
        if (fgetc(ag) == '1')
            printf("note: the kernel groups the threads of a session (sched_autogroup): while "
                   "other sessions keep the cores busy, this one's processes share one "
                   "session's CPU share, and 2 threads run no faster than 1\n");
        fclose(ag);
    }
    const int torch = !getenv("BENCH_NO_TORCH");
    for (int k = 0; k < N_NETS; k++)
        if (run[k])
            bench_net(k, self, getenv("BENCH_BASELINE"), threads, steps, rounds, torch, cores);
    return 0;
}
