"""Offline text to speech: eSpeak NG, driven through ctypes.

`espeakng-loader` ships libespeak-ng and its data, so this voice needs no key, no
network and no system package: it is what a fresh machine speaks with, and the
fallback when a vendor's TTS fails mid-call.

eSpeak NG is a C library with one global state (voice, rate, callback) and it is not
thread-safe. So there is exactly one engine per process, every synthesis holds one
lock, and all of them run on one dedicated worker thread: the event loop never waits
on the library, and calls queue behind each other (a sentence takes a few
milliseconds, eSpeak is ~1000x faster than real time). The synthesis callback pushes
each buffer into the caller's asyncio queue as it is produced, so the first bytes reach
the call before the sentence is finished; returning 1 from the callback aborts a
synthesis whose listener has gone (barge-in).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import re
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from voice.audio import Resampler
from voice.providers.base import ProviderError

log = logging.getLogger("voice.providers.espeak")

NATIVE_RATE = 22050
MAX_TEXT_CHARS = 4000

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / flags, from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _VOLUME, _PITCH = 1, 2, 3
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_BUFFER_MS = 40

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(eq=False)
class _Job:
    """One synthesis: where its audio goes and whether its listener is still there."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes | None]
    cancelled: threading.Event = field(default_factory=threading.Event)


class _Engine:
    """The process-wide eSpeak NG instance. Use only from `_EXECUTOR`, under `lock`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader  # noqa: PLC0415 - keep import errors inside ProviderError

            lib_path = espeakng_loader.get_library_path()
            data_path = espeakng_loader.get_data_path()
            lib = ctypes.CDLL(lib_path)
        except (ImportError, OSError, AttributeError) as exc:
            raise ProviderError(
                f"eSpeak NG cannot be loaded ({exc}); reinstall the 'espeakng-loader' package"
            ) from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, str(data_path).encode(), 0)
        if rate <= 0:
            raise ProviderError(f"eSpeak NG failed to initialise with its data at {data_path}")
        self.lib = lib
        self.rate = rate
        self.lock = threading.Lock()
        self.job: _Job | None = None
        self._voice: tuple[str, int, int] | None = None
        # Keep a reference: ctypes callbacks die with their Python object.
        self._callback = _CALLBACK(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short] | None, nsamples: int, _events: int | None) -> int:
        job = self.job
        if job is None or job.cancelled.is_set():
            return 1  # abort: nobody is listening any more
        if wav and nsamples > 0:
            job.loop.call_soon_threadsafe(job.queue.put_nowait, ctypes.string_at(wav, nsamples * 2))
        return 0

    def configure(self, voice: str, rate_wpm: int, pitch: int) -> None:
        if self._voice == (voice, rate_wpm, pitch):
            return
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ProviderError(f"eSpeak NG has no voice named {voice!r}")
        self.lib.espeak_SetParameter(_RATE, rate_wpm, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        self._voice = (voice, rate_wpm, pitch)

    def synth(self, job: _Job, text: str, voice: str, rate_wpm: int, pitch: int) -> None:
        """Blocking: synthesise `text` into `job.queue`, then put the end marker."""
        try:
            with self.lock:
                self.configure(voice, rate_wpm, pitch)
                data = text.encode("utf-8")
                self.job = job
                try:
                    status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                finally:
                    self.job = None
                if status != 0 and not job.cancelled.is_set():
                    raise ProviderError(f"eSpeak NG synthesis failed (status {status})")
        finally:
            job.loop.call_soon_threadsafe(job.queue.put_nowait, None)


_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
_engine: _Engine | None = None
_engine_error: ProviderError | None = None
_engine_lock = threading.Lock()


def _get_engine() -> _Engine:
    global _engine, _engine_error
    with _engine_lock:
        if _engine is None:
            if _engine_error is not None:
                raise _engine_error
            try:
                _engine = _Engine()
            except ProviderError as exc:
                _engine_error = exc
                raise
        return _engine


def _synth_job(job: _Job, text: str, voice: str, rate_wpm: int, pitch: int) -> None:
    _get_engine().synth(job, text, voice, rate_wpm, pitch)


class EspeakTTS:
    """The offline voice. `rate_wpm` is speed in words per minute (80-450), `pitch` 0-100."""

    name = "espeak"

    def __init__(self, *, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50) -> None:
        if not 80 <= rate_wpm <= 450:
            raise ValueError("rate_wpm must be between 80 and 450")
        if not 0 <= pitch <= 100:
            raise ValueError("pitch must be between 0 and 100")
        if not voice or not re.fullmatch(r"[A-Za-z0-9_\-+]+", voice):
            raise ValueError(f"bad eSpeak voice name {voice!r}")
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.pitch = pitch

    def __repr__(self) -> str:
        return f"EspeakTTS(voice={self.voice!r}, rate_wpm={self.rate_wpm}, pitch={self.pitch})"

    @staticmethod
    async def warm() -> None:
        """Load the library now (on the worker thread) so the first call pays nothing."""
        await asyncio.get_running_loop().run_in_executor(_EXECUTOR, _get_engine)

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        clean = _CONTROL.sub(" ", text).strip()[:MAX_TEXT_CHARS]
        if not clean:
            return
        loop = asyncio.get_running_loop()
        job = _Job(loop, asyncio.Queue())
        future = loop.run_in_executor(_EXECUTOR, _synth_job, job, clean, self.voice, self.rate_wpm, self.pitch)
        resampler = Resampler(NATIVE_RATE, sample_rate)
        try:
            while True:
                chunk = await job.queue.get()
                if chunk is None:
                    break
                out = resampler.process(chunk)
                if out:
                    yield out
            await future  # re-raises a ProviderError from the worker
            tail = resampler.flush()
            if tail:
                yield tail
        finally:
            # On cancellation (barge-in) or an abandoned iterator: stop eSpeak early.
            job.cancelled.set()
