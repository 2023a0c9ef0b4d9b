/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the seeded generator and the sampler.
 *
 * The generator is xoroshiro128+ seeded through splitmix64. The sampler keeps
 * the classes that are allowed (not forbidden, finite logit), takes
 * exp((l - max) / T) as unnormalised probabilities, and for top-p pops the
 * classes from a max-heap (probability descending, ties by lower index) until
 * their mass reaches top_p: O(V + k log V) for a nucleus of k classes and no
 * allocation. The draw walks the kept classes, accumulating in double, until
 * the running sum passes u * total. Every decision is a comparison of values
 * computed in a fixed order, so a seed gives the same classes on every
 * platform whose expf agrees. */
#include "sample.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------
 * Generator. */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next64(rnn_rng *rng)
{
    const uint64_t s0 = rng->s[0];
    uint64_t s1 = rng->s[1];
    const uint64_t r = s0 + s1;
    s1 ^= s0;
    rng->s[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    rng->s[1] = rotl(s1, 37);
    return r;
}

void rnn_rng_seed(rnn_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    rng->s[0] = splitmix64(&x);
    rng->s[1] = splitmix64(&x);
    if (rng->s[0] == 0 && rng->s[1] == 0) rng->s[1] = 1; /* the one state xoroshiro cannot leave */
}

uint32_t rnn_rng_u32(rnn_rng *rng)
{
    return (uint32_t)(next64(rng) >> 32); /* the high bits are the strong ones */
}

float rnn_rng_uniform(rnn_rng *rng)
{
    return (float)(next64(rng) >> 40) * 0x1.0p-24f;
}

/* ---------------------------------------------------------------------------
 * Sampler. */

/* What rnn_sample_prepare leaves for rnn_sample_draw. */
enum { PREP_NONE = 0, PREP_ARGMAX, PREP_ALL, PREP_NUCLEUS };

struct rnn_sampler {
    int max_vocab;
    float *p; /* (max_vocab) unnormalised probabilities of the allowed classes */
    int *idx; /* (max_vocab) allowed classes, then the heap */
    /* the prepared distribution: how to draw (PREP_*), the allowed classes
     * n, the first class of the nucleus in idx (size), the likeliest class,
     * and the mass the draw scales u by (all classes' or the nucleus') */
    int prep, n, size, best;
    double mass;
};

rnn_sampler *rnn_sampler_create(int max_vocab)
{
    if (max_vocab <= 0) return NULL;
    rnn_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max_vocab = max_vocab;
    s->p = malloc((size_t)max_vocab * sizeof *s->p);
    s->idx = malloc((size_t)max_vocab * sizeof *s->idx);
    if (!s->p || !s->idx) {
        rnn_sampler_free(s);
        return NULL;
    }
    return s;
}

void rnn_sampler_free(rnn_sampler *s)
{
    if (!s) return;
    free(s->p);
    free(s->idx);
    free(s);
}

/* Class a comes before class b in the nucleus order. */
static int before(const float *p, int a, int b)
{
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

/* Restore the heap below position i (root = the class that comes first). */
static void sift_down(int *h, int n, int i, const float *p)
{
    for (;;) {
        int l = 2 * i + 1, best = i;
        if (l < n && before(p, h[l], h[best])) best = l;
        if (l + 1 < n && before(p, h[l + 1], h[best])) best = l + 1;
        if (best == i) return;
        int t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

void rnn_sample_prepare(rnn_sampler *s, const float *logits, int V, float temperature,
                        float top_p, const uint8_t *forbidden)
{
    if (!s) return;
    s->prep = PREP_NONE;
    if (!logits || V <= 0 || V > s->max_vocab) return;

    int n = 0, best = -1;
    for (int c = 0; c < V; c++) {
        if ((forbidden && forbidden[c]) || !isfinite(logits[c])) continue;
        s->idx[n++] = c;
        if (best < 0 || logits[c] > logits[best]) best = c;
    }
    if (n == 0) return;
    s->n = n;
    s->best = best;
    if (!(temperature > 0.0f)) {
        s->prep = PREP_ARGMAX; /* first of equals; no random number used */
        return;
    }

    const float m = logits[best];
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        int c = s->idx[i];
        s->p[c] = expf((logits[c] - m) / temperature);
        total += s->p[c];
    }

    if (top_p > 0.0f && top_p < 1.0f) {
        /* pop the heap until the nucleus holds top_p of the mass; popped
         * classes go to the end of the array, most probable last */
        int *h = s->idx;
        for (int i = n / 2 - 1; i >= 0; i--)
            sift_down(h, n, i, s->p);
        const double need = (double)top_p * total;
        double mass = 0.0;
        int size = n;
        while (size > 0 && (size == n || mass < need)) {
            int top = h[0];
            h[0] = h[--size];
            h[size] = top;
            sift_down(h, size, 0, s->p);
            mass += s->p[top];
        }
        s->prep = PREP_NUCLEUS;
        s->size = size;
        s->mass = mass;
        return;
    }
    s->prep = PREP_ALL;
    s->mass = total;
}

int rnn_sample_draw(rnn_sampler *s, rnn_rng *rng)
{
    if (!s || !rng || s->prep == PREP_NONE) return -1;
    if (s->prep == PREP_ARGMAX) return s->best;
    const double u = (double)rnn_rng_uniform(rng);
    const double target = u * s->mass;
    double cum = 0.0;
    if (s->prep == PREP_NUCLEUS) {
        const int *h = s->idx;
        int last = h[s->n - 1];
        for (int i = s->n - 1; i >= s->size; i--) {
            int c = h[i];
            if (s->p[c] > 0.0f) last = c;
            cum += s->p[c];
            if (target < cum) return c;
        }
        return last;
    }
    int last = s->best;
    for (int i = 0; i < s->n; i++) {
        int c = s->idx[i];
        if (s->p[c] > 0.0f) last = c;
        cum += s->p[c];
        if (target < cum) return c;
    }
    return last;
}

int rnn_sample(rnn_sampler *s, rnn_rng *rng, const float *logits, int V, float temperature,
               float top_p, const uint8_t *forbidden)
{
    if (!s || !rng) return -1;
    rnn_sample_prepare(s, logits, V, temperature, top_p, forbidden);
    return rnn_sample_draw(s, rng);
}
