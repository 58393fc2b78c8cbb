"""Reading a recording folder back, whatever state it was left in.

A recording can be incomplete in several honest ways, and a replay should show what is
there and say what is not, never refuse:

- the bot was killed mid-call: events.jsonl ends in the middle of a line, there is no
  `call_ended`, and the WAV headers may declare fewer frames than the files hold;
- it was made by an older version: no events.jsonl at all, or events of kinds (or with
  fields) this version does not know, or no per-turn metrics;
- a file is simply missing or empty.

`load_recording` returns a `Recording` whose `missing` lists each such gap in one line.
A recording without a `call_ended` event gets a synthetic one at its last instant, so a
replay ends the call where the recording ends (and says why).
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from voice.bus import AudioFrame, CallEnded, CallStarted, Dropped, MonitorEvent, parse_monitor_event

EVENTS_FILE = "events.jsonl"
CALLER_WAV = "caller.wav"
BOT_WAV = "bot.wav"
TRUNCATED_REASON = "recording ends here (no call_ended event: the bot stopped or the file was cut)"
_FOLDER_STAMP = re.compile(r"^(\d{8}-\d{6})_(.+?)(?:-\d+)?$")


@dataclass(frozen=True, slots=True)
class Track:
    """One side's audio: mono int16 PCM at `rate`."""

    pcm: bytes
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate if self.rate else 0.0


@dataclass(slots=True)
class Recording:
    """One recorded call. Event times are wall-clock seconds; `start_ts` is the WAVs' time 0."""

    folder: Path
    call_id: str
    start_ts: float
    sample_rate: int
    events: list[MonitorEvent] = field(default_factory=list)
    caller: Track | None = None
    bot: Track | None = None
    missing: list[str] = field(default_factory=list)
    truncated: bool = False  # no call_ended: the end is synthetic

    @property
    def duration_s(self) -> float:
        last = max((e.ts for e in self.events), default=self.start_ts) - self.start_ts
        audio = max((t.seconds for t in (self.caller, self.bot) if t is not None), default=0.0)
        return max(0.0, last, audio)

    def at(self, ts: float) -> float:
        """Seconds into the call of a wall-clock instant."""
        return ts - self.start_ts


def is_recording(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in (EVENTS_FILE, CALLER_WAV, BOT_WAV))


def find_recordings(path: Path) -> list[Path]:
    """`path` itself if it is a recording, else the recordings directly under it (oldest first)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such directory: {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"not a directory: {path}")
    if is_recording(path):
        return [path]
    return sorted(child for child in path.iterdir() if is_recording(child))


# ---- audio ---------------------------------------------------------------------------------


def read_track(path: Path, missing: list[str], label: str) -> Track | None:
    """A mono 16-bit WAV, read by walking its RIFF chunks rather than trusting its sizes.

    A WAV whose writer died keeps a header that declares fewer (or zero) data bytes than
    the file holds; everything after the data chunk's start is taken then, and noted.
    """
    if not path.is_file():
        missing.append(f"no {path.name}: {label} audio is not in this recording")
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        missing.append(f"cannot read {path.name}: {exc.strerror or exc}")
        return None
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        missing.append(f"{path.name} is {'empty' if not raw else 'not a WAV file'}: no {label} audio")
        return None
    pos, rate, channels, width = 12, 0, 0, 0
    while pos + 8 <= len(raw):
        chunk, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt " and size >= 16:
            _fmt, channels, rate, _br, _align, bits = struct.unpack("<HHIIHH", raw[body : body + 16])
            width = bits // 8
        elif chunk == b"data":
            data = raw[body : body + size]
            if body + size > len(raw) or size == 0:
                data = raw[body:]
                if data:
                    missing.append(f"{path.name}'s header was not finalised (the recording was cut): read what it holds")
            elif body + size < len(raw) and not _more_chunks(raw, body + size + (size & 1)):
                data = raw[body:]
                missing.append(f"{path.name}'s header declares less audio than the file holds: read all of it")
            if not rate or channels != 1 or width != 2:
                missing.append(f"{path.name} is not mono 16-bit PCM ({channels} ch, {8 * width}-bit): no {label} audio")
                return None
            data = data[: len(data) - len(data) % 2]
            return Track(data, rate)
        pos = body + size + (size & 1)
    missing.append(f"{path.name} has no audio data chunk: no {label} audio")
    return None


def _more_chunks(raw: bytes, pos: int) -> bool:
    """True if a plausible RIFF chunk (four printable ASCII bytes) starts at `pos`."""
    tag = raw[pos : pos + 4]
    return len(tag) == 4 and all(32 <= b < 127 for b in tag)


# ---- events --------------------------------------------------------------------------------


def read_events(path: Path, missing: list[str]) -> list[MonitorEvent]:
    if not path.is_file():
        missing.append(f"no {path.name} (an older recording?): no transcript, states or timings; audio only")
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        missing.append(f"cannot read {path.name}: {exc.strerror or exc}")
        return []
    lines = text.split("\n")
    events: list[MonitorEvent] = []
    unknown: Counter[str] = Counter()
    bad = 0
    cut_last = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            if number == len(lines):  # no newline after it: the writer died mid-line
                cut_last = True
            else:
                bad += 1
            continue
        try:
            event = parse_monitor_event(line)
        except ValidationError:
            kind = data.get("kind") if isinstance(data, dict) else None
            unknown[str(kind) if kind else "?"] += 1
            continue
        if isinstance(event, (AudioFrame, Dropped)):
            continue
        events.append(event)
    if cut_last:
        missing.append(f"{path.name} ends mid-line (the recording was cut): its last event is lost")
    if bad:
        missing.append(f"{path.name}: {bad} unreadable line{'s' * (bad != 1)} skipped")
    if unknown:
        kinds = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(unknown.items()))
        missing.append(f"{path.name}: events this version cannot read skipped ({kinds})")
    events.sort(key=lambda e: e.ts)
    return events


# ---- the whole folder ----------------------------------------------------------------------


def load_recording(folder: Path) -> Recording:
    folder = Path(folder)
    missing: list[str] = []
    events = read_events(folder / EVENTS_FILE, missing)
    caller = read_track(folder / CALLER_WAV, missing, "caller")
    bot = read_track(folder / BOT_WAV, missing, "bot")
    started = next((e for e in events if isinstance(e, CallStarted)), None)
    match = _FOLDER_STAMP.match(folder.name)
    call_id = events[0].call_id if events else (match.group(2) if match else folder.name)
    audio = caller or bot
    rate = started.sample_rate if started else audio.rate if audio is not None else 16000
    for track, label in ((caller, "caller"), (bot, "bot")):
        if track is not None and track.rate != rate:
            missing.append(f"{label} audio is at {track.rate} Hz but the call ran at {rate} Hz")
    if started is not None:
        start_ts = started.ts
    elif events:
        start_ts = events[0].ts
        missing.append("no call_started event: caller and numbers unknown; time 0 is the first event")
    else:
        start_ts = _folder_time(folder, match)
    rec = Recording(folder=folder, call_id=call_id, start_ts=start_ts, sample_rate=rate, events=events,
                    caller=caller, bot=bot, missing=missing)
    if started is None:
        rec.events.insert(0, CallStarted(call_id=call_id, ts=start_ts, sample_rate=rate))
    if events and not any(k == "turn_metrics" for k in (e.kind for e in events)):
        missing.append("no turn_metrics events (an older recording?): no per-turn timings")
    if not any(isinstance(e, CallEnded) for e in rec.events):
        rec.truncated = True
        end = rec.start_ts + rec.duration_s
        rec.events.append(CallEnded(call_id=call_id, ts=end, reason=TRUNCATED_REASON, duration_s=round(rec.duration_s, 3)))
        if events:
            missing.append("no call_ended event: the recording stops before the call ended")
    return rec


def _folder_time(folder: Path, match: re.Match[str] | None) -> float:
    """Time 0 of a recording without events: the folder's timestamp (local time), else its mtime."""
    if match is not None:
        try:
            return time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S"))
        except ValueError:
            pass
    try:
        return folder.stat().st_mtime
    except OSError:  # pragma: no cover
        return 0.0
