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

-- Ardour reports some failures (a port it cannot register, ...) by throwing a
-- C++ exception through the Lua call; the error value Lua then holds is not a
-- string, and ardour7-lua 7.3 aborts on it in LuaState::do_file with
-- "std::logic_error: basic_string: construction from null is not valid",
-- which hides what failed. checked () runs such a call under pcall and
-- raises a Lua error naming the step instead.
local function checked (what, f, ...)
  local r = table.pack (pcall (f, ...))
  if not r[1] then
    error (what .. ": " .. (type (r[2]) == "string" and r[2]
                            or "Ardour threw a C++ exception (see its messages above)"), 2)
  end
  return table.unpack (r, 2, r.n)
end

-- No output auto-connection (the tracks are wired below): with it, adding
-- the synth to Rec, which gives a MIDI track new audio outputs, makes Ardour
-- 7.3 queue an auto-connect request while it holds the process lock, and the
-- session's auto-connect thread, still busy with Rec's own request from
-- new_midi_track, takes those two locks in the other order: now and then both
-- wait for ever.
ARDOUR.config ():set_output_auto_connect (ARDOUR.AutoConnectOption.ManualConnect)

local midi1 = ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1)
local none = ARDOUR.PluginInfo ()

local src = checked ("new track Src", Session.new_midi_track, Session, midi1, midi1, true, none, nil, nil, 1, "Src",
                     ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
local plug = ARDOUR.LuaAPI.new_plugin (Session, uri, ARDOUR.PluginType.LV2, "")
assert (not plug:isnil (), "plugin not found: " .. uri)
assert (checked ("add rnnmidi to Src", src.add_processor_by_index, src, plug, 0, nil, true) == 0)
print ("PLUGIN", plug:display_name ())
-- a fixed seed (the same notes on every run) and a busier density, so the few
-- seconds recorded always hold enough notes to check; indices count the
-- control inputs in plugin/lv2/ports.h order
for nth, value in pairs ({ [9] = 0.75, [13] = 7 }) do
  assert (ARDOUR.LuaAPI.set_processor_param (plug, nth, value), "set_processor_param failed")
  assert (ARDOUR.LuaAPI.get_processor_param (plug, nth, true) == value, "parameter not set")
end

-- Rec is made with a MIDI output, the output a strict-I/O MIDI track has
-- while it holds no instrument; adding the synth then registers its audio
-- outputs under new names. Asked for audio outputs up front, Ardour 7.3 first
-- cuts them down to that one MIDI output and, when the synth comes, registers
-- "Rec/audio_out 1" again; the old port is only unregistered from the backend
-- when the session's auto-connect thread gets round to deleting it, so now
-- and then the name still exists and add_processor_by_index throws.
local rec = checked ("new track Rec", Session.new_midi_track, Session, midi1, midi1, true, none, nil, nil, 1, "Rec",
                     ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
local synth = ARDOUR.LuaAPI.new_plugin (Session, synth_uri, ARDOUR.PluginType.LV2, "")
assert (not synth:isnil (), "ACE Reasonable Synth not found")
assert (checked ("add ACE Reasonable Synth to Rec", rec.add_processor_by_index, rec, synth, 0, nil, true) == 0)
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
