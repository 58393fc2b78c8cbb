"""OpenAI speech as an alternative pair: TTS (audio.speech) and STT (audio.transcriptions).

TTS asks for `response_format="pcm"` (raw 24 kHz s16le mono, no header to wait for)
and streams the body with `with_streaming_response`, resampling to the call's rate
as bytes arrive, so the first audio leaves before the sentence is rendered.

OpenAI's transcription endpoint takes whole files, so STT cuts the call's audio into
utterances locally (`Endpointer`: WebRTC VAD, ~600 ms of silence ends one), wraps
each as a 16 kHz WAV and posts it; the text comes back as one final Transcript per
utterance (no interims: barge-in is the session's local VAD's job anyway). Utterances
are transcribed one at a time, in order, so finals never overtake each other.

Works against any server with the same endpoints (`OPENAI_BASE_URL`), e.g. a local
whisper or TTS server that mimics OpenAI's API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from pydantic import SecretStr

from voice.audio import Resampler
from voice.logs import CallLog
from voice.protocol import pcm_to_wav
from voice.providers.base import ProviderError, Transcript, TranscriptOutbox
from voice.providers.endpoint import Endpointer
from voice.providers.openai_llm import CLIENT_ERRORS, describe_openai_error, endpoint_label, make_client

LOGGER = logging.getLogger("voice.providers.openai")

OPENAI_PCM_RATE = 24000
UPLOAD_RATE = 16000
MIN_VOICED_MS = 200  # shorter "utterances" are clicks and coughs: not worth a request


class OpenAITTS:
    """`TTSProvider` over OpenAI's speech endpoint."""

    name = "openai-tts"

    def __init__(
        self,
        api_key: SecretStr | str | None,
        *,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        base_url: str | None = None,
        timeout_s: float = 15.0,
        read_bytes: int = 4800,
    ) -> None:
        self.client, self._key = make_client(api_key, base_url, timeout_s)
        self.model = model
        self.voice = voice
        self.base_url = base_url
        self.read_bytes = read_bytes

    def __repr__(self) -> str:
        return f"OpenAITTS(model={self.model!r}, voice={self.voice!r}, endpoint={endpoint_label(self.base_url)!r})"

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        resampler = Resampler(OPENAI_PCM_RATE, sample_rate)
        try:
            async with self.client.audio.speech.with_streaming_response.create(
                model=self.model, voice=self.voice, input=text, response_format="pcm"
            ) as response:
                async for chunk in response.iter_bytes(self.read_bytes):
                    out = resampler.process(chunk)
                    if out:
                        yield out
        except CLIENT_ERRORS as exc:
            raise describe_openai_error(exc, self._key, "OpenAI speech") from None
        tail = resampler.flush()
        if tail:
            yield tail


class OpenAISTT:
    """`STTProvider`: local endpointing, then OpenAI transcription per utterance."""

    name = "openai-stt"

    def __init__(
        self,
        api_key: SecretStr | str | None,
        *,
        model: str = "gpt-4o-mini-transcribe",
        base_url: str | None = None,
        language: str | None = "en",
        prompt: str | None = None,
        silence_ms: int = 600,
        timeout_s: float = 15.0,
    ) -> None:
        self.client, self._key = make_client(api_key, base_url, timeout_s)
        self.model = model
        self.base_url = base_url
        self.language = language
        self.prompt = prompt
        self.silence_ms = silence_ms

    def __repr__(self) -> str:
        return f"OpenAISTT(model={self.model!r}, endpoint={endpoint_label(self.base_url)!r})"

    async def open(self, *, sample_rate: int, call_id: str) -> OpenAISTTStream:
        if sample_rate <= 0:
            raise ProviderError(f"bad sample rate {sample_rate}")
        return OpenAISTTStream(self, sample_rate=sample_rate, call_id=call_id)

    async def transcribe(self, wav: bytes) -> str:
        kwargs: dict[str, object] = {"model": self.model, "file": ("utterance.wav", wav, "audio/wav")}
        if self.language:
            kwargs["language"] = self.language
        if self.prompt:
            kwargs["prompt"] = self.prompt
        try:
            result = await self.client.audio.transcriptions.create(**kwargs)  # type: ignore[call-overload]
        except CLIENT_ERRORS as exc:
            raise describe_openai_error(exc, self._key, "OpenAI transcription") from None
        return str(getattr(result, "text", "") or "").strip()


class OpenAISTTStream(TranscriptOutbox):
    """One call's utterance segmentation and transcription."""

    def __init__(self, provider: OpenAISTT, *, sample_rate: int, call_id: str) -> None:
        self.provider = provider
        self.call_id = call_id
        self.log = CallLog(call_id, "OPENAI", LOGGER)
        self._resampler = Resampler(sample_rate, UPLOAD_RATE)
        self._endpointer = Endpointer(UPLOAD_RATE, silence_ms=provider.silence_ms)
        self._utterance = bytearray()
        self._utterances: asyncio.Queue[bytes | None] = asyncio.Queue()
        super().__init__()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._worker(), name=f"openai-stt-{call_id}")

    async def send(self, pcm: bytes) -> None:
        self.send_nowait(pcm)

    def send_nowait(self, pcm: bytes) -> None:
        """Endpointing in place, utterances queued for the worker: never waits."""
        if self._closing or not pcm:
            return
        self._segment(self._endpointer.push(self._resampler.process(pcm)))

    def _segment(self, events: list) -> None:
        for ev in events:
            if ev.kind in ("start", "audio"):
                self._utterance += ev.audio
            else:
                audio, self._utterance = bytes(self._utterance), bytearray()
                if ev.voiced_ms >= MIN_VOICED_MS:
                    self._utterances.put_nowait(audio)

    async def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._segment(self._endpointer.push(self._resampler.flush()) + self._endpointer.flush())
            self._utterances.put_nowait(None)
        await asyncio.shield(self._task)

    async def _worker(self) -> None:
        try:
            while True:
                audio = await self._utterances.get()
                if audio is None:
                    return
                try:
                    text = await self.provider.transcribe(pcm_to_wav(audio, UPLOAD_RATE))
                except ProviderError as exc:
                    if "HTTP 401" in str(exc) or "HTTP 403" in str(exc):
                        self._out.put_nowait(exc)
                        return
                    # One lost utterance is better than a dead stream; the session's
                    # watchdog and the caller repeating themselves cover it.
                    self.log.warning("transcription failed, utterance dropped: %s", exc)
                    continue
                if text:
                    self.log.debug("Transcript (final) | text=%r", text)
                    self._out.put_nowait(Transcript(text, final=True, speech_final=True))
        finally:
            self._out.put_nowait(None)
