/* SPDX-License-Identifier: MIT */
/* Tests of core/listen: the skyline rules step by step (a held lower note
 * struck again when a higher one ends, a note hidden under a held one, a note
 * struck and released inside one step, overlapping notes of one pitch), a
 * live key struck again, a new line, the drum set of a step; and random note
 * sets heard as rnn_encode feeds them, against the rules of listen.h computed
 * directly for every step from the whole note list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/listen.h"

#define ON(p) RNN_MELODY_NOTE_ON(p)
#define OFF RNN_MELODY_NOTE_OFF

static int melody_step(rnn_listen *l)
{
    return rnn_listen_step(l, RNN_KIND_MELODY);
}

static void test_skyline_steps(void **state)
{
    (void)state;
    rnn_listen l;
    rnn_listen_init(&l);
    assert_int_equal(melody_step(&l), 0); /* the rest goes on */
    rnn_listen_note_on(&l, 60);
    assert_int_equal(melody_step(&l), ON(60));
    assert_int_equal(melody_step(&l), 0); /* it holds */
    rnn_listen_note_on(&l, 64);
    assert_int_equal(melody_step(&l), ON(64)); /* over the held 60 */
    rnn_listen_note_off(&l, 64);
    assert_int_equal(melody_step(&l), ON(60)); /* the held 60 again */
    rnn_listen_note_on(&l, 55);
    assert_int_equal(melody_step(&l), 0); /* hidden under 60 */
    assert_int_equal(rnn_listen_sounding(&l), 2);
    rnn_listen_note_off(&l, 60);
    assert_int_equal(melody_step(&l), ON(55)); /* the hidden note comes out */
    rnn_listen_note_on(&l, 72);
    rnn_listen_note_off(&l, 72);
    assert_int_equal(melody_step(&l), ON(72)); /* a grace note sounds for its step */
    assert_int_equal(melody_step(&l), ON(55)); /* then the held note again */
    rnn_listen_note_off(&l, 55);
    assert_int_equal(melody_step(&l), OFF);
    assert_int_equal(melody_step(&l), 0);
    rnn_listen_note_on(&l, 50);
    rnn_listen_note_off(&l, 50);
    assert_int_equal(melody_step(&l), ON(50)); /* a grace note alone */
    assert_int_equal(melody_step(&l), OFF);
    assert_int_equal(rnn_listen_sounding(&l), 0);
    /* a note-off and a note-on in one step: the note-on */
    rnn_listen_note_on(&l, 62);
    assert_int_equal(melody_step(&l), ON(62));
    rnn_listen_note_off(&l, 62);
    rnn_listen_note_on(&l, 59);
    assert_int_equal(melody_step(&l), ON(59));
    /* two notes struck in one step: the higher */
    rnn_listen_note_on(&l, 40);
    rnn_listen_note_on(&l, 67);
    assert_int_equal(melody_step(&l), ON(67));
}

static void test_overlapping_pitch(void **state)
{
    (void)state;
    rnn_listen l;
    rnn_listen_init(&l);
    rnn_listen_note_on(&l, 60);
    assert_int_equal(melody_step(&l), ON(60));
    rnn_listen_note_on(&l, 60); /* a second note of 60 over the first: a new attack */
    assert_int_equal(melody_step(&l), ON(60));
    rnn_listen_note_off(&l, 60); /* the first ends, the second sounds on */
    assert_int_equal(melody_step(&l), 0);
    assert_int_equal(rnn_listen_sounding(&l), 1);
    rnn_listen_note_off(&l, 60);
    assert_int_equal(melody_step(&l), OFF);
    /* ends of pitches not sounding and pitches out of range change nothing */
    rnn_listen_note_off(&l, 60);
    rnn_listen_note_off(&l, 61);
    rnn_listen_note_on(&l, -1);
    rnn_listen_note_on(&l, 128);
    rnn_listen_note_off(&l, 128);
    rnn_listen_key_on(&l, 200);
    assert_int_equal(rnn_listen_sounding(&l), 0);
    assert_int_equal(rnn_listen_struck(&l), 0);
    assert_int_equal(melody_step(&l), 0);
}

static void test_key_struck_again(void **state)
{
    (void)state;
    rnn_listen l;
    rnn_listen_init(&l);
    rnn_listen_key_on(&l, 64);
    assert_int_equal(melody_step(&l), ON(64));
    rnn_listen_key_on(&l, 64); /* the key is down already: struck again, one key */
    assert_int_equal(rnn_listen_sounding(&l), 1);
    assert_int_equal(melody_step(&l), ON(64));
    rnn_listen_note_off(&l, 64); /* one release lifts it */
    assert_int_equal(rnn_listen_sounding(&l), 0);
    assert_int_equal(melody_step(&l), OFF);
    /* under a higher key, a key struck again stays hidden */
    rnn_listen_key_on(&l, 70);
    rnn_listen_key_on(&l, 65);
    assert_int_equal(melody_step(&l), ON(70));
    rnn_listen_key_on(&l, 65);
    assert_int_equal(melody_step(&l), 0);
    assert_int_equal(rnn_listen_sounding(&l), 2);
}

static void test_new_line(void **state)
{
    (void)state;
    rnn_listen l;
    rnn_listen_init(&l);
    rnn_listen_note_on(&l, 48);
    assert_int_equal(melody_step(&l), ON(48));
    assert_int_equal(melody_step(&l), 0);
    rnn_listen_note_on(&l, 90);
    assert_int_equal(rnn_listen_struck(&l), 1);
    rnn_listen_new_line(&l); /* the strike of 90 is forgotten, both notes sound on */
    assert_int_equal(rnn_listen_struck(&l), 0);
    assert_int_equal(rnn_listen_sounding(&l), 2);
    assert_int_equal(melody_step(&l), ON(90)); /* a new line starts with what sounds */
    rnn_listen_note_off(&l, 90);
    rnn_listen_new_line(&l);
    assert_int_equal(melody_step(&l), ON(48));
    rnn_listen_init(&l); /* nothing sounds any more */
    assert_int_equal(rnn_listen_sounding(&l), 0);
    assert_int_equal(melody_step(&l), 0);
}

static void test_drums(void **state)
{
    (void)state;
    rnn_listen l;
    rnn_listen_init(&l);
    assert_int_equal(rnn_listen_step(&l, RNN_KIND_DRUMS), 0);
    assert_int_equal(rnn_listen_drum(&l, 36), 0); /* kick */
    assert_int_equal(rnn_listen_drum(&l, 40), 1); /* snare */
    assert_int_equal(rnn_listen_drum(&l, 38), 1);
    assert_int_equal(rnn_listen_drum(&l, 59), 8); /* ride */
    assert_int_equal(rnn_listen_drum(&l, 0), -1); /* not in the map */
    assert_int_equal(rnn_listen_drum(&l, -3), -1);
    assert_int_equal(rnn_listen_drum(&l, 128), -1);
    assert_int_equal(rnn_listen_struck(&l), 1);
    assert_int_equal(rnn_listen_sounding(&l), 0); /* hits have no length */
    assert_int_equal(rnn_listen_step(&l, RNN_KIND_DRUMS), 1 | 2 | 256);
    assert_int_equal(rnn_listen_struck(&l), 0);
    assert_int_equal(rnn_listen_step(&l, RNN_KIND_DRUMS), 0);
    /* a step closed in another encoding still ends it */
    rnn_listen_drum(&l, 42);
    assert_int_equal(rnn_listen_step(&l, (rnn_kind)0), 0);
    assert_int_equal(rnn_listen_step(&l, RNN_KIND_DRUMS), 0);
}

/* ---------------------------------------------- against the rules directly */

typedef struct {
    int pitch;
    int on, off; /* steps, off > on */
} gnote;

/* The event of step s by listen.h's rules, from the whole list: the top pitch
 * sounding at s and at s - 1, and whether a note of the top pitch starts at s. */
static int top_at(const gnote *g, int n, int s)
{
    int top = -1;
    for (int i = 0; i < n; i++)
        if (g[i].on <= s && s < g[i].off && g[i].pitch > top) top = g[i].pitch;
    return top;
}

static int rule_event(const gnote *g, int n, int s)
{
    int top = top_at(g, n, s), prev = s > 0 ? top_at(g, n, s - 1) : -1;
    int attack = 0;
    for (int i = 0; i < n; i++)
        attack |= g[i].on == s && g[i].pitch == top;
    if (top >= 0 && (attack || top != prev)) return ON(top);
    if (top < 0 && prev >= 0) return OFF;
    return 0;
}

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void test_random_against_rules(void **state)
{
    (void)state;
    uint64_t seed = 77;
    enum { N = 40, LEN = 120 };
    for (int trial = 0; trial < 300; trial++) {
        gnote g[N];
        int n = 1 + (int)(rnd(&seed) % N);
        int span = 8 + (int)(rnd(&seed) % 16); /* few pitches: many overlaps */
        for (int i = 0; i < n; i++) {
            g[i].pitch = 50 + (int)(rnd(&seed) % (uint32_t)span);
            g[i].on = (int)(rnd(&seed) % (LEN - 20));
            uint32_t longest = rnd(&seed) % 2 ? 3 : 16;
            g[i].off = g[i].on + 1 + (int)(rnd(&seed) % longest);
        }
        /* fed as rnn_encode feeds an island: ends of a step before its starts */
        rnn_listen l;
        rnn_listen_init(&l);
        for (int s = 0; s < LEN; s++) {
            for (int i = 0; i < n; i++)
                if (g[i].off == s) rnn_listen_note_off(&l, g[i].pitch);
            for (int i = 0; i < n; i++)
                if (g[i].on == s) rnn_listen_note_on(&l, g[i].pitch);
            int got = melody_step(&l), want = rule_event(g, n, s);
            if (got != want)
                fail_msg("trial %d step %d: listen gives %d, the rules %d", trial, s, got, want);
        }
        assert_int_equal(rnn_listen_sounding(&l), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skyline_steps),
        cmocka_unit_test(test_overlapping_pitch),
        cmocka_unit_test(test_key_struck_again),
        cmocka_unit_test(test_new_line),
        cmocka_unit_test(test_drums),
        cmocka_unit_test(test_random_against_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
