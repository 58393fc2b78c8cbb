"""The local speaker and microphone, through sounddevice (PortAudio).

Sound is optional: a server, a CI box or a container usually has no PortAudio and no
device, and the rest of the product must not care. So `sounddevice` is imported only
when a Player or Microphone is opened, and every way it can fail (the package
missing, the PortAudio library missing, no device, a device that refuses the rate)
becomes one `SoundUnavailable` whose message says what to do — never a traceback.

All audio here is mono pcm_s16le, like everywhere else in `voice`. A device that
will not open at the stream's rate is opened at its own default rate and the audio
is resampled at this edge (one stateful resampler per direction).

Used by `kconsole call --play/--mic` and by the console's "Listen" (with
`voice.audio.mix`).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from types import ModuleType, TracebackType
from typing import Any

from voice.audio import Framer, Resampler, chunk_bytes, duration_ms, rms_dbfs

INSTALL_HINT = "install PortAudio: `sudo apt-get install libportaudio2` (Debian/Ubuntu) or `brew install portaudio` (macOS)"


class SoundUnavailable(RuntimeError):
    """Sound cannot be used here; the message is one line that says why and what to do."""


def load_sounddevice() -> ModuleType:
    """Import sounddevice now, turning every failure into SoundUnavailable.

    sounddevice raises OSError at import time when the PortAudio library is missing,
    which is the common case on servers; that is not a bug to report, it is a
    missing system package to name.
    """
    try:
        import sounddevice  # noqa: PLC0415 - lazy on purpose: PortAudio is optional
    except OSError as exc:
        raise SoundUnavailable(f"sound is unavailable ({exc}); {INSTALL_HINT}") from None
    except ImportError:
        raise SoundUnavailable(
            "sound is unavailable: the 'sounddevice' package is not installed (pip install sounddevice); "
            f"then {INSTALL_HINT}"
        ) from None
    return sounddevice


def _portaudio_errors(sd: ModuleType) -> tuple[type[BaseException], ...]:
    err = getattr(sd, "PortAudioError", None)
    base: tuple[type[BaseException], ...] = (OSError, ValueError)
    return (err, *base) if isinstance(err, type) else base


def _default_rate(sd: ModuleType, device: int | str | None, kind: str) -> int:
    info: Any = sd.query_devices(device, kind=kind)
    return int(round(float(info["default_samplerate"])))


def _check_device(sd: ModuleType, device: int | str | None, kind: str) -> None:
    """Fail early and clearly when there is no device of this kind."""
    try:
        sd.query_devices(device, kind=kind)
    except _portaudio_errors(sd) as exc:
        noun = "output (speaker)" if kind == "output" else "input (microphone)"
        raise SoundUnavailable(f"no audio {noun} device available: {exc}") from None


class Player:
    """Plays mono int16 audio on the speaker without ever blocking the caller.

    `write` appends to a buffer that PortAudio's callback drains in its own thread; a
    buffer longer than `max_buffer_ms` loses its oldest audio (a listener that fell
    behind should hear the present, not a growing delay). `clear` silences at once
    (barge-in). `level_dbfs` is the RMS level of the block played last, for a meter.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        device: int | str | None = None,
        max_buffer_ms: float = 10_000,
        block_ms: float = 20,
    ) -> None:
        self.sample_rate = sample_rate
        self.device = device
        self.max_buffer_ms = max_buffer_ms
        self.block_ms = block_ms
        self.level_dbfs: float = -math.inf
        self.device_rate = sample_rate
        self.underruns = 0
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._resampler: Resampler | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Player:
        """Open the output stream. Raises SoundUnavailable with the reason."""
        if self._stream is not None:
            return self
        sd = load_sounddevice()
        _check_device(sd, self.device, "output")
        errors = _portaudio_errors(sd)
        try:
            self._stream = self._open(sd, self.sample_rate)
        except errors:
            # The device refuses this rate: open it at its own rate and resample here.
            try:
                rate = _default_rate(sd, self.device, "output")
                self._stream = self._open(sd, rate)
            except errors as exc:
                raise SoundUnavailable(f"cannot open the audio output device: {exc}") from None
            self.device_rate = rate
            self._resampler = Resampler(self.sample_rate, rate)
        try:
            self._stream.start()
        except errors as exc:
            self._stream = None
            raise SoundUnavailable(f"cannot start the audio output device: {exc}") from None
        return self

    def _open(self, sd: ModuleType, rate: int) -> Any:
        return sd.RawOutputStream(
            samplerate=rate,
            channels=1,
            dtype="int16",
            device=self.device,
            blocksize=max(1, int(rate * self.block_ms / 1000)),
            callback=self._callback,
        )

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.stop()
            stream.close()
        except Exception:  # noqa: BLE001 - closing a dying device must never raise into a call
            pass

    def __enter__(self) -> Player:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active(self) -> bool:
        return self._stream is not None

    # -- audio -----------------------------------------------------------------------------

    def write(self, pcm: bytes) -> None:
        """Queue audio for playing; returns at once."""
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        limit = chunk_bytes(self.device_rate, self.max_buffer_ms)
        with self._lock:
            self._buf += pcm
            if len(self._buf) > limit:
                del self._buf[: len(self._buf) - limit]

    def clear(self) -> None:
        """Drop everything not yet played (killAudio)."""
        with self._lock:
            self._buf.clear()
        self.level_dbfs = -math.inf

    @property
    def buffered_ms(self) -> float:
        with self._lock:
            return duration_ms(len(self._buf), self.device_rate)

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio's thread: fill `outdata` from the buffer, silence if short."""
        need = frames * 2
        with self._lock:
            chunk = bytes(self._buf[:need])
            del self._buf[:need]
        if chunk:
            self.level_dbfs = rms_dbfs(chunk)
        else:
            self.level_dbfs = -math.inf
        if len(chunk) < need:
            if chunk:
                self.underruns += 1
            chunk += bytes(need - len(chunk))
        outdata[:] = chunk


class Microphone:
    """The microphone as an async iterator of fixed frames (20 ms by default).

    PortAudio calls back in its own thread; each block is handed to the event loop,
    resampled to `sample_rate` if the device needed its own rate, and cut into
    frames. If the consumer falls behind by more than `max_queue_frames`, the oldest
    frames are dropped (`dropped` counts them): live audio must stay live.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        frame_ms: float = 20,
        device: int | str | None = None,
        max_queue_frames: int = 500,
    ) -> None:
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.device = device
        self.device_rate = sample_rate
        self.level_dbfs: float = -math.inf
        self.dropped = 0
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(max_queue_frames)
        self._framer = Framer(chunk_bytes(sample_rate, frame_ms))
        self._resampler: Resampler | None = None
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Microphone:
        """Open the input stream (call from the event loop). Raises SoundUnavailable."""
        if self._stream is not None:
            return self
        self._loop = asyncio.get_running_loop()
        sd = load_sounddevice()
        _check_device(sd, self.device, "input")
        errors = _portaudio_errors(sd)
        try:
            self._stream = self._open(sd, self.sample_rate)
        except errors:
            try:
                rate = _default_rate(sd, self.device, "input")
                self._stream = self._open(sd, rate)
            except errors as exc:
                raise SoundUnavailable(f"cannot open the microphone: {exc}") from None
            self.device_rate = rate
            self._resampler = Resampler(rate, self.sample_rate)
        try:
            self._stream.start()
        except errors as exc:
            self._stream = None
            raise SoundUnavailable(f"cannot start the microphone: {exc}") from None
        return self

    def _open(self, sd: ModuleType, rate: int) -> Any:
        return sd.RawInputStream(
            samplerate=rate,
            channels=1,
            dtype="int16",
            device=self.device,
            blocksize=max(1, int(rate * self.frame_ms / 1000)),
            callback=self._callback,
        )

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        data = bytes(indata)
        try:
            loop.call_soon_threadsafe(self._on_audio, data)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _on_audio(self, data: bytes) -> None:
        if self._resampler is not None:
            data = self._resampler.process(data)
        for frame in self._framer.push(data):
            self.level_dbfs = rms_dbfs(frame)
            if self._queue.full():
                self._queue.get_nowait()
                self.dropped += 1
            self._queue.put_nowait(frame)

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a dying device must never raise
                pass
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def __aenter__(self) -> Microphone:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        if self._stream is None and self._loop is None:
            self.start()
        while True:
            frame = await self._queue.get()
            if frame is None:
                return
            yield frame
