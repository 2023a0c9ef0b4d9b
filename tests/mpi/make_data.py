#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write N small melody MIDI files into DIR (deterministic; a few land in the
valid split by the sha256 rule of training/dataset.h). Usage: make_data.py DIR N"""
import hashlib
import os
import random
import sys

import mido

out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
rng = random.Random(9)
scale = [0, 2, 4, 5, 7, 9, 11, 12]
splits = {}
for i in range(n):
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    root = 55 + rng.randrange(12)
    gap = 0
    for _ in range(48 + rng.randrange(64)):
        note = root + scale[rng.randrange(len(scale))]
        dur = 120 * (1 + rng.randrange(4))
        tr.append(mido.Message("note_on", note=note, velocity=90, time=gap))
        tr.append(mido.Message("note_off", note=note, velocity=0, time=dur))
        gap = 120 * rng.randrange(2)
    tr.append(mido.MetaMessage("end_of_track", time=0))
    path = os.path.join(out, "m%03d.mid" % i)
    mid.save(path)
    h = hashlib.sha256(open(path, "rb").read()).hexdigest()[0]
    splits[path] = "test" if h == "f" else "valid" if h == "e" else "train"
print(" ".join("%s:%d" % (s, list(splits.values()).count(s)) for s in ("train", "valid", "test")))
