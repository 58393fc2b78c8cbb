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

Quotas (a caller must not be able to fill the disk):

- the folder is created on the caller's first audio frame: a connection that sends
  metadata and nothing else leaves nothing on disk;
- caller.wav never holds more audio than the call's wall time (audio arriving faster
  than real time is cut at what the clock allows);
- `RecordingStore` keeps the whole directory under `RECORD_MAX_MB` and `RECORD_MAX_AGE_DAYS`:
  the oldest finished recordings are deleted first (off the event loop), and when only
  live calls are left over the quota, their recordings stop (one log line each).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

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


class Quota(Protocol):
    def charge(self, nbytes: int) -> bool: ...
    def opened(self, folder: Path) -> None: ...
    def closed(self, folder: Path, nbytes: int) -> None: ...


class _NoQuota:
    def charge(self, nbytes: int) -> bool:
        return True

    def opened(self, folder: Path) -> None:
        pass

    def closed(self, folder: Path, nbytes: int) -> None:
        pass


# Events published before the caller's first audio (call_started, the greeting's states)
# are held until the folder exists; a call that never sends audio keeps at most this many.
MAX_EARLY_EVENTS = 200


class CallRecorder:
    """Records one call; every method is cheap and never raises into the call.

    Nothing touches the disk until the caller's first audio frame (`folder` is None
    until then); a call closed before that leaves no folder at all.
    """

    def __init__(
        self, root: Path, call_id: str, sample_rate: int, started: float, *,
        quota: Quota | None = None, logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.root = Path(root)
        self.call_id = call_id
        self.folder: Path | None = None
        self.rate = sample_rate
        self.started = started
        self.quota: Quota = quota or _NoQuota()
        self.log = logger or log
        self.bytes_written = 0
        self._caller: _Track | None = None
        self._bot: _Track | None = None
        self._events: IO[str] | None = None
        self._early_events: list[str] = []
        self._pending: list[tuple[int, bytes]] = []  # bot audio not yet played: (start sample, pcm)
        self._closed = False
        self._failed = False

    def _open(self) -> bool:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = self.root / f"{stamp}_{safe_name(self.call_id)}"
        folder = base
        n = 2
        try:
            while folder.exists():
                folder = Path(f"{base}-{n}")
                n += 1
            folder.mkdir(parents=True)
            self.folder = folder
            self._caller = _Track(folder / "caller.wav", self.rate)
            self._bot = _Track(folder / "bot.wav", self.rate)
            self._events = open(folder / "events.jsonl", "w", encoding="utf-8")
        except OSError as exc:
            self._fail(exc)
            return False
        self.quota.opened(folder)
        self.log.info("recording to %s", folder)
        early, self._early_events = self._early_events, []
        for line in early:
            self._write_event(line)
        return True

    def _charge(self, nbytes: int) -> bool:
        if not self.quota.charge(nbytes):
            self._stop("the recordings directory is at its quota (RECORD_MAX_MB)")
            return False
        self.bytes_written += nbytes
        return True

    def _pos(self, t: float) -> int:
        return max(0, round((t - self.started) * self.rate))

    def caller_audio(self, pcm: bytes, now: float) -> None:
        if self._closed:
            return
        if self._caller is None and not self._open():
            return
        track = self._caller
        assert track is not None
        try:
            wall = self._pos(now)
            arrival_start = wall - len(pcm) // 2
            if arrival_start - track.samples > self.rate // 5:
                if not self._charge(2 * (arrival_start - track.samples)):
                    return
                track.pad_to(arrival_start)
            room = wall - track.samples  # never more audio than the call has lasted
            if room <= 0:
                return
            if len(pcm) > 2 * room:
                pcm = pcm[: 2 * room]
            if self._charge(len(pcm)):
                track.write(pcm)
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
        line = event.model_dump_json() + "\n"
        if self._events is None:
            if len(self._early_events) < MAX_EARLY_EVENTS:
                self._early_events.append(line)
            return
        self._write_event(line)

    def _write_event(self, line: str) -> None:
        if self._events is None or not self._charge(len(line)):
            return
        try:
            self._events.write(line)
        except OSError as exc:
            self._fail(exc)

    def close(self, now: float) -> None:
        if self._closed:
            return
        if self._bot is not None:
            self._commit(self._pos(now), cut=True)
        self._finish()

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._early_events.clear()
        if self.folder is None:  # never opened: the call sent no audio
            return
        for track in (self._caller, self._bot, self._events):
            if track is None:
                continue
            try:
                track.close()
            except (OSError, ValueError) as exc:  # pragma: no cover - disk trouble at close
                self.log.warning("recording %s: %s", self.folder, exc)
        self.quota.closed(self.folder, self.bytes_written)

    def _commit(self, upto: int, *, cut: bool) -> None:
        bot = self._bot
        if bot is None:  # not opened yet: nothing is committed before the caller's first audio
            if cut:
                self._pending = [(start, pcm) for start, pcm in self._pending if start < upto]
            return
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
                if start < bot.samples:  # overlaps (clock rounding): skip the overlap
                    pcm = pcm[2 * (bot.samples - start) :]
                if not self._charge(2 * max(0, start - bot.samples) + len(pcm)):
                    return
                bot.pad_to(start)
                bot.write(pcm)
            self._pending = keep
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self._stop(str(exc))

    def _stop(self, why: str) -> None:
        """Stop recording this call for good (the files written so far stay valid)."""
        if not self._failed:
            self.log.warning("recording to %s stopped: %s", self.folder or self.root, why)
        self._failed = True
        self._finish()

    def summary(self) -> dict[str, object]:
        caller = self._caller.samples if self._caller is not None else 0
        bot = self._bot.samples if self._bot is not None else 0
        return {"folder": str(self.folder) if self.folder else None, "caller_s": caller / self.rate, "bot_s": bot / self.rate}


# A folder this module made: "YYYYmmdd-HHMMSS_<safe call id>[-n]". Retention never
# touches anything else an operator keeps in the directory.
_OURS = re.compile(r"^\d{8}-\d{6}_[A-Za-z0-9._-]+$")
PRUNE_HIGH = 0.9  # start deleting the oldest recordings at 90 % of the quota ...
PRUNE_LOW = 0.8  # ... down to 80 %, so that pruning runs now and then, not on every write


@dataclass
class _Finished:
    folder: Path
    ended: float  # wall clock (time.time()), for the age limit
    nbytes: int


class RecordingStore:
    """The quotas of `record_dir`: its recordings' total size and their age.

    An index of the finished recordings (oldest first) is built once at start (`scan`,
    off the loop); after that every write is charged here in O(1) (`charge`), and
    deleting the oldest runs in a thread. Live recordings are never deleted: when they
    alone fill the quota, `charge` says no and each of them stops recording.
    """

    def __init__(self, root: Path, *, max_bytes: int, max_age_s: float) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.used = 0
        self.deleted = 0
        self._finished: dict[Path, _Finished] = {}  # insertion order = oldest first
        self._deleting = 0
        self._task: asyncio.Task[None] | None = None

    def recorder(self, call_id: str, sample_rate: int, started: float,
                 logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None) -> CallRecorder:
        return CallRecorder(self.root, call_id, sample_rate, started, quota=self, logger=logger)

    # ---- the index -----------------------------------------------------------------------

    def scan(self) -> None:
        """Index what is already on disk (blocking: run it in a thread)."""
        found: list[_Finished] = []
        try:
            children = list(self.root.iterdir())
        except OSError:
            children = []
        for child in children:
            if not _OURS.match(child.name) or not child.is_dir() or child in self._finished:
                continue
            try:
                size = sum(f.stat().st_size for f in child.iterdir() if f.is_file())
                found.append(_Finished(child, child.stat().st_mtime, size))
            except OSError:
                continue
        for item in sorted(found, key=lambda f: f.ended):
            self._finished[item.folder] = item
            self.used += item.nbytes

    # ---- Quota (called by the recorders, on the loop) -----------------------------------

    def charge(self, nbytes: int) -> bool:
        over = self.used + nbytes - self.max_bytes
        if over > 0 and over > self._prunable():
            return False
        self.used += nbytes
        if self.used > self.max_bytes * PRUNE_HIGH:
            self._kick()
        return True

    def opened(self, folder: Path) -> None:
        oldest = next(iter(self._finished.values()), None)
        if oldest is not None and time.time() - oldest.ended > self.max_age_s:
            self._kick()

    def closed(self, folder: Path, nbytes: int) -> None:
        self._finished[folder] = _Finished(folder, time.time(), nbytes)

    def _prunable(self) -> int:
        return self._deleting + sum(f.nbytes for f in self._finished.values())

    # ---- deleting the oldest ---------------------------------------------------------------

    def _victims(self) -> list[_Finished]:
        now = time.time()
        target = self.max_bytes * PRUNE_LOW
        out: list[_Finished] = []
        projected = self.used - self._deleting
        for item in list(self._finished.values()):
            if projected <= target and now - item.ended <= self.max_age_s:
                break
            out.append(item)
            projected -= item.nbytes
            del self._finished[item.folder]
        self._deleting += sum(v.nbytes for v in out)
        return out

    def _delete(self, victims: list[_Finished]) -> None:
        for item in victims:
            shutil.rmtree(item.folder, ignore_errors=True)

    def _done(self, victims: list[_Finished]) -> None:
        freed = sum(v.nbytes for v in victims)
        self._deleting -= freed
        self.used -= freed
        self.deleted += len(victims)
        if victims:
            log.info("[SERVER] recordings: deleted the %d oldest (%.1f MiB) to keep %s under RECORD_MAX_MB=%.0f "
                     "and RECORD_MAX_AGE_DAYS=%g", len(victims), freed / 2**20, self.root, self.max_bytes / 2**20,
                     self.max_age_s / 86400)

    def _kick(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool, a test): prune right here
            self.prune_now()
            return
        self._task = loop.create_task(self._prune(), name="recordings-prune")

    async def _prune(self) -> None:
        while victims := self._victims():
            try:
                await asyncio.to_thread(self._delete, victims)
            finally:
                self._done(victims)

    def prune_now(self) -> None:
        """Apply both limits now (blocking)."""
        while victims := self._victims():
            self._delete(victims)
            self._done(victims)

    async def start(self) -> None:
        """Index the directory and apply the limits to what was already there."""
        await asyncio.to_thread(self.scan)
        self._kick()

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def dump_events(path: Path) -> list[dict[str, object]]:
    """Read an events.jsonl back (tests, tools)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
