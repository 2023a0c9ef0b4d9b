-- SPDX-License-Identifier: MIT
-- ardour7-lua tests/ardour/record_region.lua
-- Headless Ardour (Dummy backend, 48 kHz, the session's 120 BPM 4/4): a MIDI
-- track "Src" with rnnmidi (PLUGIN_URI) whose MIDI output feeds a
-- record-armed MIDI track "Rec" with ACE Reasonable Synth. Rolling the
-- transport with recording on for REC_SECONDS makes Ardour write the plugin's
-- notes into a region; every note is printed as
--   NOTE <start sample> <start in ticks of 1920 per beat> <pitch> <length ticks>
-- for tests/ardour/run.sh to check against Ardour's grid.
local dir = os.getenv ("SESSION_DIR") or "/tmp/rnnmidi-ardour/session"
local name = "rnnmidi"
local uri = os.getenv ("PLUGIN_URI") or "https://rnnmidi.org/plugins/rnnmidi"
local synth_uri = "https://community.ardour.org/node/7596"
local rec_seconds = tonumber (os.getenv ("REC_SECONDS") or "6")
local rate = 48000

local backend = AudioEngine:set_backend ("None (Dummy)", "", "")
backend:set_device_name ("Silence")
backend:set_sample_rate (rate)
assert (AudioEngine:start (false) == 0, "AudioEngine:start failed")
assert (create_session (dir, name, rate), "create_session failed")

local midi1 = ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1)
local audio2 = ARDOUR.ChanCount (ARDOUR.DataType ("audio"), 2)
local none = ARDOUR.PluginInfo ()

local src = Session:new_midi_track (midi1, midi1, true, none, nil, nil, 1, "Src",
                                    ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
local plug = ARDOUR.LuaAPI.new_plugin (Session, uri, ARDOUR.PluginType.LV2, "")
assert (not plug:isnil (), "plugin not found: " .. uri)
assert (src:add_processor_by_index (plug, 0, nil, true) == 0)
print ("PLUGIN", plug:display_name ())
-- a fixed seed (the same notes on every run) and a busier density, so the few
-- seconds recorded always hold enough notes to check; indices count the
-- control inputs in plugin/lv2/ports.h order
for nth, value in pairs ({ [9] = 0.75, [13] = 7 }) do
  assert (ARDOUR.LuaAPI.set_processor_param (plug, nth, value), "set_processor_param failed")
  assert (ARDOUR.LuaAPI.get_processor_param (plug, nth, true) == value, "parameter not set")
end
sleep (1) -- let the engine settle the new ports before the next track

-- the instrument is added after the track exists: creating a track with its
-- instrument in one call aborted Ardour 7.3 now and then ("Port already exists")
local rec = Session:new_midi_track (midi1, audio2, true, none, nil, nil, 1, "Rec",
                                    ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
local synth = ARDOUR.LuaAPI.new_plugin (Session, synth_uri, ARDOUR.PluginType.LV2, "")
assert (not synth:isnil (), "ACE Reasonable Synth not found")
assert (rec:add_processor_by_index (synth, 0, nil, true) == 0)
src:output ():disconnect_all (nil)
rec:input ():disconnect_all (nil)
assert (rec:input ():connect (rec:input ():midi (0), src:output ():midi (0):name (), nil) == 0)

rec:rec_enable_control ():set_value (1, PBD.GroupControlDisposition.NoGroup)
Session:maybe_enable_record (false)
Session:request_roll (ARDOUR.TransportRequestSource.TRS_UI)
sleep (rec_seconds)
Session:request_stop (false, false, ARDOUR.TransportRequestSource.TRS_UI)
sleep (2)
Session:disable_record (false, false)
rec:rec_enable_control ():set_value (0, PBD.GroupControlDisposition.NoGroup)

-- Beats print as "beats:ticks" (1920 ticks a beat)
function ticks (b)
  local bt, tk = string.match (tostring (b), "(-?%d+):(%d+)")
  assert (bt, "cannot read beats from " .. tostring (b))
  return tonumber (bt) * 1920 + tonumber (tk)
end

local rl = rec:to_track ():playlist ():region_list ()
print ("REGIONS", rl:size ())
for r in rl:iter () do
  local mr = r:to_midiregion ()
  local pos = r:position ():samples ()
  local start = r:start ():samples ()
  print ("REGION", pos, start, r:length ():samples ())
  for note in ARDOUR.LuaAPI.note_list (mr:model ()):iter () do
    print ("NOTE", ticks (note:time ()), note:note (), ticks (note:length ()), note:channel ())
  end
end
Session:save_state ("", false, false, false, false, false)
close_session ()
AudioEngine:stop (false)
