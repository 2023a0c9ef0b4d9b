/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: the port table, the one source of port indices.
 *
 * The plugin's PortIndex enum and the lv2:port list of rnnmidi.ttl are both
 * generated from RNNMIDI_CONTROLS below (the TTL by plugin/lv2/ttlgen.c at
 * build time), so an index can never disagree between C and Turtle. The first
 * three ports are fixed: the atom input, the atom output, the optional audio
 * input. Control ranges and defaults mirror core/engine's parameter table
 * (tests/unit/test_lv2_bundle.c checks that they agree). RNNMIDI_PORT_DOCS
 * gives every port, fixed or control, its rdfs:comment and port group. */
#ifndef RNNMIDI_LV2_PORTS_H
#define RNNMIDI_LV2_PORTS_H

#define RNNMIDI_URI "https://rnnmidi.org/plugins/rnnmidi"
/* LV2's convention: an even minor version (not 0) and an even micro version
 * mark a release; odd ones mark development versions. */
#define RNNMIDI_MINOR_VERSION 2
#define RNNMIDI_MICRO_VERSION 0

/* Port kinds. */
#define RNNMIDI_FLOAT 0
#define RNNMIDI_INT 1
#define RNNMIDI_ENUM 2
#define RNNMIDI_TOGGLE 3

/* Input sources (the input_source port). */
#define RNNMIDI_SOURCE_MIDI 0
#define RNNMIDI_SOURCE_AUDIO 1
#define RNNMIDI_SOURCE_BOTH 2

/* X(ENUM, symbol, name, default, min, max, kind, engine parameter or -1,
 *   scale points "label=value|..." or "", unit "" or an LV2 units suffix) */
#define RNNMIDI_CONTROLS(X)                                                                    \
    X(MODE, "mode", "Mode", 2, 0, 2, RNNMIDI_ENUM, RNN_PARAM_MODE,                           \
      "Continue=0|Call and response=1|Accompany=2", "")                                      \
    X(TEMPERATURE, "temperature", "Temperature", 1.0, 0.0, 2.0, RNNMIDI_FLOAT,                \
      RNN_PARAM_TEMPERATURE, "", "coef")                                                       \
    X(TOP_P, "top_p", "Top-p", 0.95, 0.05, 1.0, RNNMIDI_FLOAT, RNN_PARAM_TOP_P, "", "")       \
    X(KEY, "key", "Key", 0, 0, 11, RNNMIDI_ENUM, RNN_PARAM_KEY,                              \
      "C=0|C#=1|D=2|D#=3|E=4|F=5|F#=6|G=7|G#=8|A=9|A#=10|B=11", "")                          \
    X(SCALE, "scale", "Scale", 0, 0, 10, RNNMIDI_ENUM, RNN_PARAM_SCALE,                      \
      "Off=0|Major=1|Minor=2|Harmonic minor=3|Dorian=4|Phrygian=5|Lydian=6|Mixolydian=7|"    \
      "Major pentatonic=8|Minor pentatonic=9|Blues=10",                                      \
      "")                                                                                    \
    X(LOWEST, "lowest", "Lowest note", 36, 0, 127, RNNMIDI_INT, RNN_PARAM_LOWEST, "",        \
      "midiNote")                                                                            \
    X(HIGHEST, "highest", "Highest note", 96, 0, 127, RNNMIDI_INT, RNN_PARAM_HIGHEST, "",    \
      "midiNote")                                                                            \
    X(RESPONSE_BARS, "response_bars", "Response length", 2, 1, 16, RNNMIDI_INT,             \
      RNN_PARAM_RESPONSE_BARS, "", "bar")                                                    \
    X(LISTEN_GAP, "listen_gap", "Listen gap", 2.0, 0.25, 8.0, RNNMIDI_FLOAT,                 \
      RNN_PARAM_LISTEN_GAP, "", "beat")                                                      \
    X(DENSITY, "density", "Density", 0.5, 0.0, 1.0, RNNMIDI_FLOAT, RNN_PARAM_DENSITY, "", "") \
    X(CHANNEL, "channel", "Output channel", 1, 1, 16, RNNMIDI_INT, RNN_PARAM_CHANNEL, "", "")  \
    X(VELOCITY, "velocity", "Velocity", 100, 1, 127, RNNMIDI_INT, RNN_PARAM_VELOCITY, "", "") \
    X(GATE, "gate", "Drum gate", 0.5, 0.05, 1.0, RNNMIDI_FLOAT, RNN_PARAM_GATE, "", "")      \
    X(SEED, "seed", "Seed", 0, 0, 16777215, RNNMIDI_INT, RNN_PARAM_SEED, "", "")              \
    X(THRU, "thru", "MIDI thru", 1, 0, 1, RNNMIDI_TOGGLE, RNN_PARAM_THRU, "", "")             \
    X(TEMPO, "tempo", "Free-run tempo", 120, 20, 300, RNNMIDI_FLOAT, RNN_PARAM_TEMPO, "",    \
      "bpm")                                                                                 \
    X(INPUT_SOURCE, "input_source", "Input source", 0, 0, 2, RNNMIDI_ENUM, -1,               \
      "MIDI=0|Audio=1|MIDI and audio=2", "")                                                 \
    X(REPEAT_LIMIT, "repeat_limit", "Repeat limit", 8, 0, 32, RNNMIDI_INT,                   \
      RNN_PARAM_REPEAT_LIMIT, "", "")

/* Port groups (pg:Group), defined by symbol in rnnmidi.ttl.in. */
#define RNNMIDI_GROUP_IO "io"
#define RNNMIDI_GROUP_TIMING "timing"
#define RNNMIDI_GROUP_PITCH "pitch"
#define RNNMIDI_GROUP_SAMPLING "sampling"

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
      "How many times in a row the network may strike one pitch; 0 is no limit.")

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

#endif
