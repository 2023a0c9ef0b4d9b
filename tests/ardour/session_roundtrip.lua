-- SPDX-License-Identifier: MIT
-- ardour7-lua tests/ardour/session_roundtrip.lua, run twice by
-- tests/ardour/roundtrip.sh (Dummy backend, 48 kHz, 120 BPM 4/4):
--   PHASE=save:   a MIDI track "Src" with rnnmidi (PLUGIN_URI) whose model
--                 comes from the user preset PRESET_LABEL (a state:state with
--                 rnnmidi:model naming a file outside the session), feeding a
--                 MIDI track "Rec" with ACE Reasonable Synth; the session is
--                 saved and closed. Prints "PRESET <label>" and "SAVED".
--   PHASE=reopen: the session, moved meanwhile, is loaded; "Rec" records the
--                 plugin for REC_SECONDS and every recorded note is printed as
--                 NOTE <start ticks> <pitch> <length ticks> <channel 0..15>;
--                 then the session is saved again ("RESAVED").
local dir = os.getenv ("SESSION_DIR")
local phase = os.getenv ("PHASE")
local name = "roundtrip"
local uri = os.getenv ("PLUGIN_URI") or "https://rnnmidi.org/plugins/rnnmidi"
local synth_uri = "https://community.ardour.org/node/7596"
local label = os.getenv ("PRESET_LABEL") or "Session round trip"
local rec_seconds = tonumber (os.getenv ("REC_SECONDS") or "6")
local rate = 48000
assert (dir and (phase == "save" or phase == "reopen"), "SESSION_DIR and PHASE=save|reopen")

local backend = AudioEngine:set_backend ("None (Dummy)", "", "")
backend:set_device_name ("Silence")
backend:set_sample_rate (rate)
assert (AudioEngine:start (false) == 0, "AudioEngine:start failed")

if phase == "save" then
  assert (create_session (dir, name, rate), "create_session failed")
  local midi1 = ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1)
  local audio2 = ARDOUR.ChanCount (ARDOUR.DataType ("audio"), 2)
  local none = ARDOUR.PluginInfo ()
  local src = Session:new_midi_track (midi1, midi1, true, none, nil, nil, 1, "Src",
                                      ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
  local plug = ARDOUR.LuaAPI.new_plugin (Session, uri, ARDOUR.PluginType.LV2, "")
  assert (not plug:isnil (), "plugin not found: " .. uri)
  assert (src:add_processor_by_index (plug, 0, nil, true) == 0)
  -- a fixed seed and a busier density, as in record_region.lua
  for nth, value in pairs ({ [9] = 0.75, [13] = 7 }) do
    assert (ARDOUR.LuaAPI.set_processor_param (plug, nth, value), "set_processor_param failed")
  end
  local p = plug:to_insert ():plugin (0)
  local pr = p:preset_by_label (label)
  assert (pr, "preset not found: " .. label)
  assert (p:load_preset (pr), "load_preset failed")
  print ("PRESET", pr.label)
  sleep (2) -- the worker loads the model; run() swaps it in

  local rec = Session:new_midi_track (midi1, audio2, true, none, nil, nil, 1, "Rec",
                                      ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
  local synth = ARDOUR.LuaAPI.new_plugin (Session, synth_uri, ARDOUR.PluginType.LV2, "")
  assert (not synth:isnil (), "ACE Reasonable Synth not found")
  assert (rec:add_processor_by_index (synth, 0, nil, true) == 0)
  src:output ():disconnect_all (nil)
  rec:input ():disconnect_all (nil)
  assert (rec:input ():connect (rec:input ():midi (0), src:output ():midi (0):name (), nil) == 0)
  sleep (1)
  Session:save_state ("", false, false, false, false, false)
  print ("SAVED")
  close_session ()
else
  assert (load_session (dir, name), "load_session failed")
  sleep (2) -- restore() hands the model to the worker
  local rec = Session:route_by_name ("Rec")
  local src = Session:route_by_name ("Src")
  assert (not rec:isnil () and not src:isnil (), "tracks not found")
  rec:input ():disconnect_all (nil)
  assert (rec:input ():connect (rec:input ():midi (0), src:output ():midi (0):name (), nil) == 0)
  rec:to_track ():rec_enable_control ():set_value (1, PBD.GroupControlDisposition.NoGroup)
  Session:maybe_enable_record (false)
  Session:request_roll (ARDOUR.TransportRequestSource.TRS_UI)
  sleep (rec_seconds)
  Session:request_stop (false, false, ARDOUR.TransportRequestSource.TRS_UI)
  sleep (2)
  Session:disable_record (false, false)

  local function ticks (b)
    local bt, tk = string.match (tostring (b), "(-?%d+):(%d+)")
    assert (bt, "cannot read beats from " .. tostring (b))
    return tonumber (bt) * 1920 + tonumber (tk)
  end
  local rl = rec:to_track ():playlist ():region_list ()
  print ("REGIONS", rl:size ())
  for r in rl:iter () do
    for note in ARDOUR.LuaAPI.note_list (r:to_midiregion ():model ()):iter () do
      print ("NOTE", ticks (note:time ()), note:note (), ticks (note:length ()), note:channel ())
    end
  end
  -- saved again: Ardour gives the plugin a new state folder
  Session:save_state ("", false, false, false, false, false)
  print ("RESAVED")
  close_session ()
end
AudioEngine:stop (false)
