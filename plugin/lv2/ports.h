/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: the port table, the one source of port indices.
 *
 * The plugin's PortIndex enum and the lv2:port list of rnnmidi.ttl are both
 * generated from RNNMIDI_CONTROLS below (the TTL by plugin/lv2/ttlgen.c at
 * build time), so an index can never disagree between C and Turtle. The first
 * three ports are fixed: the atom input, the atom output, the optional audio
 * input. Control ranges and defaults mirror core/engine's parameter table
 * (tests/unit/test_lv2_ports.c checks that they agree). */
#ifndef RNNMIDI_LV2_PORTS_H
#define RNNMIDI_LV2_PORTS_H

#define RNNMIDI_URI "https://rnnmidi.org/plugins/rnnmidi"
#define RNNMIDI_MINOR_VERSION 1
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
      RNN_PARAM_TEMPERATURE, "", "")                                                          \
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
