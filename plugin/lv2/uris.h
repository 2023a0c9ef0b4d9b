/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: every URID the plugin uses, mapped once at instantiate. */
#ifndef RNNMIDI_LV2_URIS_H
#define RNNMIDI_LV2_URIS_H

#include <lv2/atom/atom.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/parameters/parameters.h>
#include <lv2/patch/patch.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>
#include <lv2/buf-size/buf-size.h>

#include "ports.h"

#define RNNMIDI__model RNNMIDI_URI "#model"
#define RNNMIDI__status RNNMIDI_URI "#status"
/* state: the saved model is the session's own copy */
#define RNNMIDI__sessionCopy RNNMIDI_URI "#sessionCopy"
/* state: the learned model (Learn), in the session's state folder */
#define RNNMIDI__learned RNNMIDI_URI "#learned"

typedef struct {
    LV2_URID atom_Path;
    LV2_URID atom_String;
    LV2_URID atom_Int;
    LV2_URID atom_Bool;
    LV2_URID atom_Long;
    LV2_URID atom_Float;
    LV2_URID atom_Double;
    LV2_URID atom_URID;
    LV2_URID midi_Event;
    LV2_URID patch_Get;
    LV2_URID patch_Set;
    LV2_URID patch_property;
    LV2_URID patch_value;
    LV2_URID time_Position;
    LV2_URID time_bar;
    LV2_URID time_barBeat;
    LV2_URID time_beatUnit;
    LV2_URID time_beatsPerBar;
    LV2_URID time_beatsPerMinute;
    LV2_URID time_speed;
    LV2_URID bufsz_maxBlockLength;
    LV2_URID rnnmidi_model;
    LV2_URID rnnmidi_status;
    LV2_URID rnnmidi_sessionCopy;
    LV2_URID rnnmidi_learned;
} RnnmidiURIs;

static inline void map_rnnmidi_uris(LV2_URID_Map *map, RnnmidiURIs *u)
{
    u->atom_Path = map->map(map->handle, LV2_ATOM__Path);
    u->atom_String = map->map(map->handle, LV2_ATOM__String);
    u->atom_Int = map->map(map->handle, LV2_ATOM__Int);
    u->atom_Bool = map->map(map->handle, LV2_ATOM__Bool);
    u->atom_Long = map->map(map->handle, LV2_ATOM__Long);
    u->atom_Float = map->map(map->handle, LV2_ATOM__Float);
    u->atom_Double = map->map(map->handle, LV2_ATOM__Double);
    u->atom_URID = map->map(map->handle, LV2_ATOM__URID);
    u->midi_Event = map->map(map->handle, LV2_MIDI__MidiEvent);
    u->patch_Get = map->map(map->handle, LV2_PATCH__Get);
    u->patch_Set = map->map(map->handle, LV2_PATCH__Set);
    u->patch_property = map->map(map->handle, LV2_PATCH__property);
    u->patch_value = map->map(map->handle, LV2_PATCH__value);
    u->time_Position = map->map(map->handle, LV2_TIME__Position);
    u->time_bar = map->map(map->handle, LV2_TIME__bar);
    u->time_barBeat = map->map(map->handle, LV2_TIME__barBeat);
    u->time_beatUnit = map->map(map->handle, LV2_TIME__beatUnit);
    u->time_beatsPerBar = map->map(map->handle, LV2_TIME__beatsPerBar);
    u->time_beatsPerMinute = map->map(map->handle, LV2_TIME__beatsPerMinute);
    u->time_speed = map->map(map->handle, LV2_TIME__speed);
    u->bufsz_maxBlockLength = map->map(map->handle, LV2_BUF_SIZE__maxBlockLength);
    u->rnnmidi_model = map->map(map->handle, RNNMIDI__model);
    u->rnnmidi_status = map->map(map->handle, RNNMIDI__status);
    u->rnnmidi_sessionCopy = map->map(map->handle, RNNMIDI__sessionCopy);
    u->rnnmidi_learned = map->map(map->handle, RNNMIDI__learned);
}

#endif
