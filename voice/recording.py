"""Optional per-call recording: caller.wav, bot.wav and events.jsonl in one folder.

Both WAVs start at the call's start (the metadata frame) and share its timeline, so
they can be laid side by side or mixed:

- caller.wav is the caller's PCM in arrival order; a gap in arrival longer than 200 ms
  (a network stall) is filled with silence so later speech stays at its true time;
- bot.wav places each chunk at the instant the playback clock says it started playing.
  Audio scheduled in the future is held back until its time has passed, so when a
  barge-in kills playback at instant T, what would have played after T is discarded:
  bot.wav holds what the caller heard, not what was generated.

events.jsonl has every bus event of the call (transcripts, sentences, states, metrics),
one JSON object per line. The folder name is the date and a sanitised call id, so a
hostile call id cannot write outside `record_dir`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import wave
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from voice.bus import AudioFrame

log = logging.getLogger("voice.recording")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(call_id: str) -> str:
    name = _UNSAFE.sub("_", call_id).strip("._") or "call"
    return name[:80]


class _Track:
    """A mono 16-bit WAV written sequentially, padded with silence to a sample position."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.rate = sample_rate
        self._wav = wave.open(str(path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.samples = 0

    def pad_to(self, sample: int) -> None:
        gap = sample - self.samples
        while gap > 0:
            n = min(gap, self.rate)
            self._wav.writeframes(bytes(2 * n))
            self.samples += n
            gap -= n

    def write(self, pcm: bytes) -> None:
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        self._wav.writeframes(pcm)
        self.samples += len(pcm) // 2

    def close(self) -> None:
        self._wav.close()


class CallRecorder:
    """Records one call; every method is cheap and never raises into the call."""

    def __init__(self, root: Path, call_id: str, sample_rate: int, started: float) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{stamp}_{safe_name(call_id)}"
        folder = base
        n = 2
        while folder.exists():
            folder = Path(f"{base}-{n}")
            n += 1
        folder.mkdir(parents=True)
        self.folder = folder
        self.rate = sample_rate
        self.started = started
        self._caller = _Track(folder / "caller.wav", sample_rate)
        self._bot = _Track(folder / "bot.wav", sample_rate)
        self._events: IO[str] = open(folder / "events.jsonl", "w", encoding="utf-8")
        self._pending: list[tuple[int, bytes]] = []  # bot audio not yet played: (start sample, pcm)
        self._closed = False
        self._failed = False

    def _pos(self, t: float) -> int:
        return max(0, round((t - self.started) * self.rate))

    def caller_audio(self, pcm: bytes, now: float) -> None:
        if self._closed:
            return
        try:
            arrival_start = self._pos(now) - len(pcm) // 2
            if arrival_start - self._caller.samples > self.rate // 5:
                self._caller.pad_to(arrival_start)
            self._caller.write(pcm)
        except OSError as exc:
            self._fail(exc)

    def bot_audio(self, pcm: bytes, start: float) -> None:
        if self._closed:
            return
        self._pending.append((self._pos(start), pcm))

    def advance(self, now: float) -> None:
        """Commit bot audio whose playback has begun by `now` (called as time passes)."""
        if self._closed or not self._pending:
            return
        self._commit(self._pos(now), cut=False)

    def cut(self, at: float) -> None:
        """killAudio at `at`: keep what played before it, drop the rest."""
        if self._closed:
            return
        self._commit(self._pos(at), cut=True)

    def event(self, event: BaseModel) -> None:
        if self._closed or isinstance(event, AudioFrame):
            return
        try:
            self._events.write(event.model_dump_json() + "\n")
        except OSError as exc:
            self._fail(exc)

    def close(self, now: float) -> None:
        if self._closed:
            return
        self._commit(self._pos(now), cut=True)
        self._closed = True
        for closer in (self._caller.close, self._bot.close, self._events.close):
            try:
                closer()
            except OSError as exc:  # pragma: no cover - disk trouble at close
                log.warning("recording %s: %s", self.folder, exc)

    def _commit(self, upto: int, *, cut: bool) -> None:
        keep: list[tuple[int, bytes]] = []
        try:
            for start, pcm in self._pending:
                if start >= upto:
                    if not cut:
                        keep.append((start, pcm))
                    continue
                n = len(pcm) // 2
                end = start + n
                if cut and end > upto:
                    pcm = pcm[: 2 * (upto - start)]
                elif not cut and end > upto:
                    # started but not finished: write it now, its tail is certain unless cut
                    # later; a later cut can only shorten what follows it.
                    keep.append((start, pcm))
                    continue
                self._bot.pad_to(start)
                if start < self._bot.samples:  # overlaps (clock rounding): skip the overlap
                    pcm = pcm[2 * (self._bot.samples - start) :]
                self._bot.write(pcm)
            self._pending = keep
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        if not self._failed:
            log.warning("recording to %s stopped: %s", self.folder, exc)
        self._failed = True
        self._closed = True

    def summary(self) -> dict[str, object]:
        return {"folder": str(self.folder), "caller_s": self._caller.samples / self.rate, "bot_s": self._bot.samples / self.rate}


def dump_events(path: Path) -> list[dict[str, object]]:
    """Read an events.jsonl back (tests, tools)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
