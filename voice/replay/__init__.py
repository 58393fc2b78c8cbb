"""Replaying recorded calls: read a recording folder, summarise it, walk its timeline.

A recording (see voice.recording) is caller.wav, bot.wav and events.jsonl sharing one
timeline that starts at the call's metadata frame. This package turns such a folder back
into the call as it happened, for `kconsole replay` (the Bot view on a replay source) and
for `kconsole replay --report` / `--json` (no terminal UI needed):

- `load`: read a folder tolerantly (older versions, a truncated events file, a WAV whose
  header was never finalised) and say plainly what is missing;
- `summary`: the outcome, per-turn timings, barge-ins and cut points, levels;
- `cursor`: a play / pause / step / seek position on the recorded timeline, at 1x-10x;
- `report`: the per-call summary and per-turn table as text and JSON.

Nothing here imports Textual.
"""

from voice.replay.load import Recording, Track, find_recordings, load_recording
from voice.replay.summary import CallSummary, TurnRow, summarize

__all__ = ["CallSummary", "Recording", "Track", "TurnRow", "find_recordings", "load_recording", "summarize"]
