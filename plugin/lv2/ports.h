/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: the port table, the one source of port indices.
 *
 * The plugin's PortIndex enum and the lv2:port list of rnnmidi.ttl are both
 * generated from RNNMIDI_CONTROLS below (the TTL by plugin/lv2/ttlgen.c at
 * build time), so an index can never disagree between C and Turtle. The first
 * three ports are fixed: the atom input, the atom output, the optional audio
 * input. A control port of an engine setting takes its symbol, name, range,
 * default, unit and scale points from core/engine's parameter table
 * (rnn_engine_param_desc); the one control that is the plugin's own, the
 * input source, is described here. RNNMIDI_PORT_DOCS gives every port,
 * fixed or control, its rdfs:comment and port group. */
#ifndef RNNMIDI_LV2_PORTS_H
#define RNNMIDI_LV2_PORTS_H

#include "../../core/engine.h"

#define RNNMIDI_URI "https://rnnmidi.org/plugins/rnnmidi"
/* LV2's convention: an even minor version (not 0) and an even micro version
 * mark a release; odd ones mark development versions. */
#define RNNMIDI_MINOR_VERSION 2
#define RNNMIDI_MICRO_VERSION 0

/* The learn port's choices. */
#define RNNMIDI_LEARN_OFF 0
#define RNNMIDI_LEARN_ON 1
#define RNNMIDI_LEARN_FREEZE 2

/* The learn_state output's values. */
#define RNNMIDI_LSTATE_OFF 0      /* learn off, or no model */
#define RNNMIDI_LSTATE_LISTENING 1 /* recording, waiting for 8 new bars */
#define RNNMIDI_LSTATE_LEARNING 2 /* an update runs or is due, or the learner is being made */
#define RNNMIDI_LSTATE_FROZEN 3
#define RNNMIDI_LSTATE_CANNOT 4 /* the model cannot be learned (attention) */

/* Input sources (the input_source port). */
#define RNNMIDI_SOURCE_MIDI 0
#define RNNMIDI_SOURCE_AUDIO 1
#define RNNMIDI_SOURCE_BOTH 2

/* X(ENUM, engine parameter or -1 for the plugin's own control), in
 * lv2:index order after the fixed ports. */
#define RNNMIDI_CONTROLS(X)                                                                    \
    X(MODE, RNN_PARAM_MODE)                                                                    \
    X(TEMPERATURE, RNN_PARAM_TEMPERATURE)                                                      \
    X(TOP_P, RNN_PARAM_TOP_P)                                                                  \
    X(KEY, RNN_PARAM_KEY)                                                                      \
    X(SCALE, RNN_PARAM_SCALE)                                                                  \
    X(LOWEST, RNN_PARAM_LOWEST)                                                                \
    X(HIGHEST, RNN_PARAM_HIGHEST)                                                              \
    X(RESPONSE_BARS, RNN_PARAM_RESPONSE_BARS)                                                  \
    X(LISTEN_GAP, RNN_PARAM_LISTEN_GAP)                                                        \
    X(DENSITY, RNN_PARAM_DENSITY)                                                              \
    X(CHANNEL, RNN_PARAM_CHANNEL)                                                              \
    X(VELOCITY, RNN_PARAM_VELOCITY)                                                            \
    X(GATE, RNN_PARAM_GATE)                                                                    \
    X(SEED, RNN_PARAM_SEED)                                                                    \
    X(THRU, RNN_PARAM_THRU)                                                                    \
    X(TEMPO, RNN_PARAM_TEMPO)                                                                  \
    X(INPUT_SOURCE, -1)                                                                        \
    X(REPEAT_LIMIT, RNN_PARAM_REPEAT_LIMIT)                                                    \
    X(LEARN, -1)                                                                               \
    X(LEARN_RATE, -1)                                                                          \
    X(FORGET, -1)                                                                              \
    X(LEARN_STATE, -1)                                                                         \
    X(LEARN_PHRASES, -1)                                                                       \
    X(LEARN_UPDATES, -1)                                                                       \
    X(LEARN_NLL_BEFORE, -1)                                                                    \
    X(LEARN_NLL_AFTER, -1)

/* Port groups (pg:Group), defined by symbol in rnnmidi.ttl.in. */
#define RNNMIDI_GROUP_IO "io"
#define RNNMIDI_GROUP_TIMING "timing"
#define RNNMIDI_GROUP_PITCH "pitch"
#define RNNMIDI_GROUP_SAMPLING "sampling"
#define RNNMIDI_GROUP_LEARN "learn"

/* Y(ENUM, group, comment): one row per port, fixed ports included. */
#define RNNMIDI_PORT_DOCS(Y)                                                                   \
    Y(CONTROL_IN, RNNMIDI_GROUP_IO,                                                            \
      "MIDI to listen to, the host's transport and position, and model file messages.")        \
    Y(NOTIFY, RNNMIDI_GROUP_IO,                                                                \
      "The generated MIDI (with the input when MIDI thru is on) and the model's status.")      \
    Y(AUDIO_IN, RNNMIDI_GROUP_IO,                                                              \
      "Optional mono audio: notes sung or played into it are heard like MIDI input when "      \
      "Input source includes audio.")                                                          \
    Y(MODE, RNNMIDI_GROUP_TIMING,                                                              \
      "When the network plays. Continue: after you pause for Listen gap beats, it "            \
      "continues your phrase for Response length bars. Call and response: it answers each "    \
      "phrase from the next bar line, as long as the call. Accompany: it plays all the "       \
      "time while the transport rolls.")                                                       \
    Y(TEMPERATURE, RNNMIDI_GROUP_SAMPLING,                                                     \
      "How adventurous the choices are: 1 plays as the model learned, lower is safer, "        \
      "higher is wilder, 0 always takes the likeliest event.")                                 \
    Y(TOP_P, RNNMIDI_GROUP_SAMPLING,                                                           \
      "Draws only from the likeliest events that together hold this share of the "             \
      "probability; lower leaves out the unlikely ones.")                                      \
    Y(KEY, RNNMIDI_GROUP_PITCH, "Root note of the scale that generated notes are held to.")    \
    Y(SCALE, RNNMIDI_GROUP_PITCH,                                                              \
      "Notes outside this scale (on Key) are never drawn; Off allows all twelve.")             \
    Y(LOWEST, RNNMIDI_GROUP_PITCH, "No generated note is lower than this.")                    \
    Y(HIGHEST, RNNMIDI_GROUP_PITCH, "No generated note is higher than this.")                  \
    Y(RESPONSE_BARS, RNNMIDI_GROUP_TIMING,                                                     \
      "How many bars the network plays when it continues your phrase.")                        \
    Y(LISTEN_GAP, RNNMIDI_GROUP_TIMING,                                                        \
      "Beats of silence after which your phrase counts as finished.")                          \
    Y(DENSITY, RNNMIDI_GROUP_SAMPLING,                                                         \
      "How busy the output is: 0.5 plays as the model learned, lower is sparser, higher "      \
      "is busier.")                                                                            \
    Y(CHANNEL, RNNMIDI_GROUP_IO,                                                               \
      "MIDI channel of generated melodies; drum models always play on channel 10.")            \
    Y(VELOCITY, RNNMIDI_GROUP_IO, "Velocity of the generated notes.")                          \
    Y(GATE, RNNMIDI_GROUP_TIMING,                                                              \
      "Length of drum hits, as a fraction of a grid step.")                                    \
    Y(SEED, RNNMIDI_GROUP_SAMPLING,                                                            \
      "Seed of the random draws: any value but 0 replays the same notes from the same "        \
      "position; 0 draws new notes at every start.")                                           \
    Y(THRU, RNNMIDI_GROUP_IO, "Pass the incoming MIDI to the output with the generated notes.") \
    Y(TEMPO, RNNMIDI_GROUP_TIMING, "Tempo of the grid when the host sends no transport.")      \
    Y(INPUT_SOURCE, RNNMIDI_GROUP_IO,                                                          \
      "What the network hears: the MIDI input, notes detected on the audio input, or both.")   \
    Y(REPEAT_LIMIT, RNNMIDI_GROUP_SAMPLING,                                                    \
      "How many times in a row the network may strike one pitch; 0 is no limit.")              \
    Y(LEARN, RNNMIDI_GROUP_LEARN,                                                              \
      "Learn your style: On keeps what you play and, in the background, fine-tunes a copy "    \
      "of the model on it every 8 bars; Freeze keeps what was learned and learns no more; "    \
      "Off plays the model as it is now.")                                                     \
    Y(LEARN_RATE, RNNMIDI_GROUP_LEARN,                                                         \
      "How far learning may move the model from the original: 1 is the default bound, "        \
      "0 keeps it where it is, 4 lets it go four times as far.")                               \
    Y(FORGET, RNNMIDI_GROUP_LEARN,                                                             \
      "Forget what was learned and play the original model again.")                            \
    Y(LEARN_STATE, RNNMIDI_GROUP_LEARN,                                                        \
      "What learning does now; Cannot learn is shown for a model learning cannot change "      \
      "(one with attention), which plays on unchanged.")                                       \
    Y(LEARN_PHRASES, RNNMIDI_GROUP_LEARN,                                                      \
      "Phrases of yours heard since the model was loaded or forgotten.")                       \
    Y(LEARN_UPDATES, RNNMIDI_GROUP_LEARN,                                                      \
      "Updates kept: each made your held-back bars no less likely.")                           \
    Y(LEARN_NLL_BEFORE, RNNMIDI_GROUP_LEARN,                                                   \
      "Mean surprise (negative log-likelihood, nats a step) of your newest bars under the "     \
      "model before the last update.")                                                         \
    Y(LEARN_NLL_AFTER, RNNMIDI_GROUP_LEARN,                                                    \
      "The same after the last update: lower means the model now expects your playing "        \
      "better.")

typedef enum {
    RNNMIDI_CONTROL_IN = 0, /* atom: MIDI, time:Position, patch messages */
    RNNMIDI_NOTIFY = 1,     /* atom: MIDI, patch notifications */
    RNNMIDI_AUDIO_IN = 2,   /* optional mono audio: sung or played notes */
#define RNNMIDI_PORT_ENUM(E, ...) RNNMIDI_##E,
    RNNMIDI_CONTROLS(RNNMIDI_PORT_ENUM)
#undef RNNMIDI_PORT_ENUM
        RNNMIDI_N_PORTS
} PortIndex;

#define RNNMIDI_FIRST_CONTROL RNNMIDI_MODE

/* The engine setting of a control port, or -1 (the plugin's own control, or
 * not a control port). Any thread. */
static inline int rnnmidi_control_param(int port)
{
    static const int param[RNNMIDI_N_PORTS] = {[RNNMIDI_CONTROL_IN] = -1,
                                               [RNNMIDI_NOTIFY] = -1,
                                               [RNNMIDI_AUDIO_IN] = -1,
#define RNNMIDI_PARAM_OF(E, p) [RNNMIDI_##E] = (p),
                                               RNNMIDI_CONTROLS(RNNMIDI_PARAM_OF)
#undef RNNMIDI_PARAM_OF
    };
    return port >= 0 && port < RNNMIDI_N_PORTS ? param[port] : -1;
}

/* Control ports the plugin writes (the learning status). Any thread. */
static inline int rnnmidi_control_output(int port)
{
    return port >= RNNMIDI_LEARN_STATE && port <= RNNMIDI_LEARN_NLL_AFTER;
}

/* What a control port shows a host: the engine's description of its
 * setting, or the plugin's own for the input source and learning; NULL for
 * the fixed ports. Static data; any thread. */
static inline const rnn_param_desc *rnnmidi_control_desc(int port)
{
    static const char *const source_labels[] = {"MIDI", "Audio", "MIDI and audio"};
    static const char *const learn_labels[] = {"Off", "On", "Freeze"};
    static const char *const state_labels[] = {"Off", "Listening", "Learning", "Frozen",
                                               "Cannot learn this preset"};
    static const rnn_param_desc own[] = {
        [RNNMIDI_INPUT_SOURCE - RNNMIDI_INPUT_SOURCE] =
            {"input_source", "Input source", RNNMIDI_SOURCE_MIDI, RNNMIDI_SOURCE_MIDI,
             RNNMIDI_SOURCE_BOTH, RNN_PARAM_CHOICE, "", source_labels},
        [RNNMIDI_LEARN - RNNMIDI_INPUT_SOURCE] = {"learn", "Learn", RNNMIDI_LEARN_OFF,
                                                  RNNMIDI_LEARN_OFF, RNNMIDI_LEARN_FREEZE,
                                                  RNN_PARAM_CHOICE, "", learn_labels},
        [RNNMIDI_LEARN_RATE - RNNMIDI_INPUT_SOURCE] = {"learn_rate", "Learn rate", 1.0f, 0.0f,
                                                       4.0f, RNN_PARAM_REAL, "coef", NULL},
        [RNNMIDI_FORGET - RNNMIDI_INPUT_SOURCE] = {"forget", "Forget", 0, 0, 1, RNN_PARAM_SWITCH,
                                                   "", NULL},
        [RNNMIDI_LEARN_STATE - RNNMIDI_INPUT_SOURCE] =
            {"learn_state", "Learn state", RNNMIDI_LSTATE_OFF, RNNMIDI_LSTATE_OFF,
             RNNMIDI_LSTATE_CANNOT, RNN_PARAM_CHOICE, "", state_labels},
        [RNNMIDI_LEARN_PHRASES - RNNMIDI_INPUT_SOURCE] = {"learn_phrases", "Phrases heard", 0, 0,
                                                          1e6f, RNN_PARAM_INTEGER, "", NULL},
        [RNNMIDI_LEARN_UPDATES - RNNMIDI_INPUT_SOURCE] = {"learn_updates", "Updates", 0, 0, 1e6f,
                                                          RNN_PARAM_INTEGER, "", NULL},
        [RNNMIDI_LEARN_NLL_BEFORE - RNNMIDI_INPUT_SOURCE] = {"learn_nll_before", "NLL before",
                                                             0, 0, 20, RNN_PARAM_REAL, "", NULL},
        [RNNMIDI_LEARN_NLL_AFTER - RNNMIDI_INPUT_SOURCE] = {"learn_nll_after", "NLL after", 0,
                                                            0, 20, RNN_PARAM_REAL, "", NULL},
    };
    if (port == RNNMIDI_INPUT_SOURCE || (port >= RNNMIDI_LEARN && port <= RNNMIDI_LEARN_NLL_AFTER))
        return &own[port - RNNMIDI_INPUT_SOURCE];
    int param = rnnmidi_control_param(port);
    return param >= 0 ? rnn_engine_param_desc((rnn_engine_param)param) : NULL;
}

#endif
