"""Offline speech to text: pocketsphinx, constrained to what the bot expects to hear.

pocketsphinx ships its US-English acoustic model, so this recogniser needs no key and
no network. A general large-vocabulary model is poor on the phone, so when given a
vocabulary (a bot script's phrases, `BotScript.vocabulary()`) it builds a small
trigram language model from those phrases and a pronunciation dictionary of just
their words: recognition then prefers the script's sentences but can still produce
any sequence of its words, which the intent matcher scores fuzzily. Measured on the
script's own phrases synthesised by eSpeak, this lifts intent accuracy from ~60-75%
to 95% at 8 kHz and 100% at 16-48 kHz (tests/voice/providers/test_pocketsphinx_stt.py).

Design notes (why it looks like this):
- Streaming: `Endpointer` (WebRTC VAD) cuts utterances; audio is decoded as it
  arrives, interim hypotheses are published every `interim_ms` of speech. With a
  turn detector (`voice.turn`, the default) the endpointer cuts *segments* at the
  detector's minimum silence (200 ms); each segment is decoded in full (so its text
  is the accurate, CMN-corrected one, not a first-pass partial) and the detector
  reads the turn's words so far with the melody of the last ones: complete, the
  turn ends there; not ("I want to... uh...", half a phone number), it waits for
  more speech up to the maximum (1.4 s), and the next segment joins the same turn.
  A turn that is probably complete but not certain sends an `eager` interim first,
  early in the pause (from the partial hypothesis, at the detector's `eager_ms`), so a
  reply can be prepared while the rest of the turn's silence is waited out. With `turn=None` a fixed `silence_ms` ends every
  utterance, as before.
- The loop never waits on the decoder: each stream has one asyncio task that hands
  batches of audio to a shared thread pool, so a stream's decoder is only ever used
  by one thread at a time while different calls decode in parallel. pocketsphinx
  holds the GIL while it works, so it is configured for short holds: batches are
  small and the flat-lexicon second pass and lattice best path (a 40 ms stall at
  each utterance end, for no accuracy gain here) are off.
- A decoder is ~7 MiB (pocketsphinx loads the acoustic model into each one) and a
  call needs one only while its caller speaks. So a call *leases* a decoder from a
  bounded pool per vocabulary at the start of each utterance and gives it back at its
  end: memory follows concurrent utterances, not calls (300 silent calls used to hold
  2 GB). The call keeps its own channel estimate (cepstral mean) between leases. When
  every decoder is leased, an utterance waits with its audio until one is free
  (bounded), and is decoded then: later, never lost, never out of order. Decoders idle
  for `idle_decoder_s` are freed (one is kept) so a burst of calls gives its memory back.
- Decoder creation costs 15-300 ms (~1 s for the general model), so decoders are
  created on the pool's threads and kept while in use; `warm()` makes one ahead of the
  first call.
- Every decoded sample gets a little dither (see DITHER): digital silence
  otherwise skews the features and costs ~15 points of accuracy.
- Narrowband calls (8 kHz) are upsampled to the model's 16 kHz, and the empty band
  above 4 kHz is filled with low-level noise. The model was trained on wideband
  speech; an empty upper band skews its features, and filling it (which the
  decoder's own noise removal then subtracts) raised 8 kHz accuracy from ~70% to
  ~93% in our measurements.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import Resampler
from voice.logs import CallLog
from voice.providers.base import ProviderError, Transcript, TranscriptOutbox
from voice.providers.endpoint import Endpointer, SegmentEvent
from voice.providers.text import words as split_words
from voice.turn import TurnConfig, TurnDetector, TurnState

log = logging.getLogger("voice.providers.pocketsphinx")

MODEL_RATE = 16000
# Decoders one recogniser may hold at once (~7 MiB each). Most are leased for a whole
# utterance (streaming: interim results, the final at once); BATCH_RESERVE of them only
# ever decode an utterance that ended while the others were all leased, in one go (a
# 2 s utterance takes ~70 ms), so such an utterance waits for CPU, not for another
# caller to stop talking. pocketsphinx decodes ~30x faster than real time per core.
BATCH_RESERVE = 2
DEFAULT_MAX_DECODERS = BATCH_RESERVE + 2 * (os.cpu_count() or 2)
IDLE_DECODER_S = 30.0
MAX_WAITING_UTTERANCES = 4
MAX_BACKLOG_S = 20.0
BAND_FILL_LEVEL = 2000.0  # std of the >4 kHz fill noise, int16 units (about -24 dBFS)
# pocketsphinx's live cepstral mean normalisation (cmn_live.c): a set mean counts as
# CMN_WIN frames of history, and the running sum is decayed past CMN_WIN_HWM frames.
CMN_WIN = 500
CMN_WIN_HWM = 800
# Re-decode an utterance when its own cepstral mean is this far (L2) from the mean it
# was decoded with. The first utterance of a call starts from the model's neutral mean
# (distance 40-70 on eSpeak at 8/16 kHz). Later ones start from the call's own mean but
# still differ by 13-27 with their phonetic content, and their first pass is already
# right: for them only a new channel (CMN_CHANNEL_CHANGE) is worth a second pass, which
# costs ~100 ms of CPU at the end of every utterance, i.e. on the caller's wait.
CMN_REDECODE_DISTANCE = 12.0
CMN_CHANNEL_CHANGE = 35.0
# Where a call's first utterance starts its cepstral mean (pocketsphinx's `cmninit`), per
# front end, and how far the utterance's own mean may be from it before it is re-decoded.
# The model's own initial mean (40,3,-1,0,...) is that of its training audio; ours passes
# through dither and, for narrowband calls, upsampling with a noise-filled upper band,
# which moves the mean far from it (distance 30 at 16 kHz, 66 at 8 kHz on eSpeak speech):
# every first utterance needed a second pass (~60 ms of CPU holding the GIL). The priors
# are the mean of the utterances' own means over the script's phrases by three eSpeak
# voices: 16 kHz linear (wideband), 8 kHz linear and through a G.711 phone line
# (narrowband); `python -m bench.cmn_prior --check` recomputes and checks them, each voice
# against a prior from the other two. Wideband: a first pass from the prior was as
# accurate as, or better than, two passes from the model's mean (100/91/80 % intent
# accuracy vs 100/86/77), so it is trusted like a call's own mean (re-decoded only on a
# channel change). Narrowband: 1-3 points below two passes (97/83/55 vs 100/86/52), so its
# first utterance still gets the second pass, started early in the pause (SECOND_PASS_AT_MS).
CMN_PRIOR_WIDEBAND = "51.6,-3.6,-4.9,10.1,-12.7,-2.5,-0.4,-11.8,-2.8,-6.7,3.7,-4.8,-4.0"
CMN_PRIOR_NARROWBAND = "60.2,-25.6,27.4,-19.1,1.9,2.7,-21.5,12.4,-19.3,-3.5,11.4,-18.5,6.2"
# A first utterance that needs its second pass gets it once the caller has paused this
# long (the turn cannot end before min_silence_ms, 200): the ~60 ms of CPU is then spent
# while the caller's pause is still being waited out, not after it. Speech that goes on
# is decoded on with the corrected mean, in the same utterance.
SECOND_PASS_AT_MS = 90
# Gaussian dither (std in int16 units, about -66 dBFS) added to everything decoded.
# Digital silence (exact zeros, as synthesised or gated audio has) drives the front
# end's log spectrum and noise floor to extremes, which skews CMN; audio that went
# through one more resampler has no exact zeros and was recognised worse (84% vs 98%
# on the script phrases at 24-48 kHz). Dither makes every source look like a real
# line: 100% at 16-48 kHz after it. Real phone audio has far more noise than this.
DITHER = 16.0
DECODE_CHUNK = 960  # bytes per process_raw call: 30 ms, about 1 ms of GIL each


# ---- models: language model + dictionary built from a vocabulary ----------------------

# What callers say around the script's phrases, added to every vocabulary so the
# recogniser can hear a hesitation or an Indian-English "haan" / "theek hai" as
# itself instead of forcing it into script words (which the turn detector would
# then read as words of a sentence: "are you my order" for "haan, my order").
CONVERSATIONAL = ("uh", "um", "hmm", "haan", "ji", "accha", "theek hai", "okay", "and", "aur", "so",
                  "my phone number is", "my mobile number is")
# Pronunciations CMUdict lacks (ARPAbet), for the words above.
EXTRA_PRONUNCIATIONS = {"accha": "AA CH AH", "theek": "T IY K", "hai": "HH AY", "aur": "AO R"}


@dataclass(frozen=True, slots=True)
class RecognizerModel:
    """Files a decoder is built from. `lm_path` None means the general English model."""

    key: str
    hmm: str
    dict_path: str
    lm_path: str | None
    language_weight: float
    oov: tuple[str, ...] = ()


_models: dict[str, RecognizerModel] = {}
_models_lock = threading.Lock()
_model_dir: str | None = None


def _workdir() -> str:
    global _model_dir
    if _model_dir is None:
        _model_dir = tempfile.mkdtemp(prefix="kconsole-stt-")
        atexit.register(shutil.rmtree, _model_dir, True)
    return _model_dir


def _ps() -> Any:
    try:
        import pocketsphinx  # noqa: PLC0415 - keep a broken install inside ProviderError
    except ImportError as exc:
        raise ProviderError(f"pocketsphinx is not installed ({exc}); pip install pocketsphinx") from None
    return pocketsphinx


def build_model(vocabulary: Sequence[str] | None) -> RecognizerModel:
    """The model for a vocabulary (cached): a small trigram LM and its dictionary.

    Words without a pronunciation in CMUdict are left out (and listed in `oov`);
    the recogniser can then never output them, so the log says so.
    """
    lines = [" ".join(split_words(v)) for v in vocabulary] if vocabulary is not None else None
    lines = [line for line in lines if line] if lines is not None else None
    key = "general" if lines is None else hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    with _models_lock:
        if key in _models:
            return _models[key]
        ps = _ps()
        root = Path(ps.get_model_path()) / "en-us"
        hmm = str(root / "en-us")
        full_dict = root / "cmudict-en-us.dict"
        if lines is None:
            model = RecognizerModel(key, hmm, str(full_dict), str(root / "en-us.lm.bin"), 6.5)
        else:
            if not lines:
                raise ProviderError("the recogniser's vocabulary is empty")
            wanted = {w for line in lines for w in line.split()}
            entries: list[str] = []
            found: set[str] = set()
            with open(full_dict, encoding="utf-8") as f:
                for entry in f:
                    word = entry.split(" ", 1)[0]
                    base = word.split("(", 1)[0]
                    if base in wanted:
                        entries.append(entry.rstrip("\n"))
                        found.add(base)
            for word in sorted(wanted - found):
                if word in EXTRA_PRONUNCIATIONS:
                    entries.append(f"{word} {EXTRA_PRONUNCIATIONS[word]}")
                    found.add(word)
            oov = tuple(sorted(wanted - found))
            if oov:
                log.warning("[POCKETSPHINX] no pronunciation for %s; the recogniser cannot hear them", ", ".join(oov))
            usable = [" ".join(w for w in line.split() if w in found) for line in lines]
            usable = [line for line in usable if line]
            if not usable:
                raise ProviderError("none of the vocabulary's words has a known pronunciation")
            from pocketsphinx.lm import ArpaBoLM  # noqa: PLC0415 - pocketsphinx's LM builder only for a custom vocabulary

            lm = ArpaBoLM(text="\n".join(usable), add_start=True, discount_mass=0.2)
            lm.compute()
            base = os.path.join(_workdir(), key)
            with open(base + ".lm", "w", encoding="utf-8") as f:
                lm.write(f)
            with open(base + ".dict", "w", encoding="utf-8") as f:
                f.write("\n".join(entries) + "\n")
            model = RecognizerModel(key, hmm, base + ".dict", base + ".lm", 10.0, oov)
        _models[key] = model
        return model


def _new_decoder(model: RecognizerModel) -> Any:
    ps = _ps()
    try:
        return ps.Decoder(
            hmm=model.hmm,
            dict=model.dict_path,
            lm=model.lm_path,
            samprate=MODEL_RATE,
            lw=model.language_weight,
            fwdflat=False,
            bestpath=False,
            loglevel="FATAL",
        )
    except (RuntimeError, ValueError) as exc:
        raise ProviderError(f"pocketsphinx could not build a decoder: {exc}") from None


class _DecoderPool:
    """At most `max_decoders` decoders for one model, leased per utterance.

    `lease` never blocks: it returns an idle decoder, creates one while under the bound
    (on the calling pool thread), or returns None and remembers `waiter`, which is
    called (from whatever thread releases) once a decoder is free again. A streaming
    lease (held for an utterance) leaves `reserve` decoders for batch leases.
    """

    def __init__(self, model: RecognizerModel, max_decoders: int = DEFAULT_MAX_DECODERS,
                 reserve: int = BATCH_RESERVE) -> None:
        self.model = model
        self.max_decoders = max(1, max_decoders)
        self.reserve = min(reserve, self.max_decoders - 1)
        self._idle: list[tuple[Any, float]] = []  # (decoder, released at)
        self._lock = threading.Lock()
        self._waiters: list[Callable[[], object]] = []
        self.initial_cmn: str | None = None
        self.created = 0  # ever
        self.live = 0  # idle + leased
        self.leased = 0
        self.peak = 0

    def lease(self, waiter: Callable[[], object] | None = None, *, streaming: bool = False) -> Any | None:
        with self._lock:
            if streaming and self.leased >= self.max_decoders - self.reserve:
                return None  # the rest are kept for utterances waiting to be decoded in one go
            if self._idle:
                self.leased += 1
                self.peak = max(self.peak, self.leased)
                return self._idle.pop()[0]
            if self.live >= self.max_decoders:
                if waiter is not None and waiter not in self._waiters:
                    self._waiters.append(waiter)
                return None
            self.live += 1  # reserved: created below, outside the lock
            self.leased += 1
            self.peak = max(self.peak, self.leased)
        try:
            dec = _new_decoder(self.model)
        except BaseException:
            self._forget()
            raise
        with self._lock:
            self.created += 1
            if self.initial_cmn is None:
                self.initial_cmn = dec.get_cmn()
        return dec

    def release(self, dec: Any) -> None:
        with self._lock:
            self.leased -= 1
            self._idle.append((dec, time.monotonic()))
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def discard(self) -> None:
        """A leased decoder that cannot be reused (its stream was cancelled mid-decode)."""
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self.live -= 1
            self.leased -= 1
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def trim(self, idle_s: float, keep: int = 1) -> int:
        """Free decoders idle for more than `idle_s`, keeping `keep` idle ones; how many freed."""
        now = time.monotonic()
        with self._lock:
            old = [d for d in self._idle[: max(0, len(self._idle) - keep)] if now - d[1] > idle_s]
            for item in old:
                self._idle.remove(item)
            self.live -= len(old)
        return len(old)

    def add_idle(self, dec: Any) -> None:
        with self._lock:
            self.live += 1
            self._idle.append((dec, time.monotonic()))

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)


_EXECUTOR = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="pocketsphinx")


def _parse_cmn(value: str) -> np.ndarray:
    return np.array([float(v) for v in value.split(",")], dtype=np.float64)


# ---- the narrowband fill -----------------------------------------------------------------


def _make_band_noise(seconds: float = 2.0, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(MODEL_RATE * seconds)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / MODEL_RATE) < 4000] = 0
    noise = np.fft.irfft(spectrum, n)
    return (noise * (BAND_FILL_LEVEL / (np.std(noise) + 1e-9))).astype(np.float32)


_BAND_NOISE = _make_band_noise()


class _BandFill:
    """Adds the (looped) >4 kHz noise to upsampled narrowband audio, continuously."""

    def __init__(self) -> None:
        self._pos = 0

    def apply(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        n = len(_BAND_NOISE)
        idx = (np.arange(len(x)) + self._pos) % n
        self._pos = (self._pos + len(x)) % n
        return np.clip(x + _BAND_NOISE[idx], -32768, 32767).astype(np.int16).tobytes()


# ---- the provider and its streams -------------------------------------------------------


class PocketsphinxSTT:
    """`STTProvider` for offline recognition.

    `vocabulary`: phrases and words to expect (None: general English, much less
    accurate). `turn`: how the end of a turn is decided (the adaptive detector's
    limits); None ends every utterance after a fixed `silence_ms`. `interim_ms`:
    how often a partial hypothesis is published while the caller speaks.
    `max_backlog_s`: audio queued beyond this while the CPU cannot keep up is dropped
    (oldest first) rather than letting the call fall ever further behind.
    `max_decoders`: decoders leased at once by all calls (memory: ~7 MiB each).
    `idle_decoder_s`: a decoder unused this long is freed (one is always kept).
    `cmn_priors`: start a call's first utterance from the front end's measured cepstral
    mean (CMN_PRIOR_*) rather than the model's, so it needs no second pass.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        vocabulary: Sequence[str] | None = None,
        *,
        silence_ms: int = 600,
        turn: TurnConfig | None = TurnConfig(),
        interim_ms: int = 300,
        max_utterance_ms: int = 15000,
        vad_aggressiveness: int = 2,
        max_backlog_s: float = MAX_BACKLOG_S,
        max_decoders: int = DEFAULT_MAX_DECODERS,
        idle_decoder_s: float = IDLE_DECODER_S,
        cmn_priors: bool = True,
    ) -> None:
        self.vocabulary = list(vocabulary) if vocabulary is not None else None
        self.cmn_priors = cmn_priors
        self.silence_ms = silence_ms
        self.turn = turn
        self.interim_ms = interim_ms
        self.max_utterance_ms = max_utterance_ms
        self.vad_aggressiveness = vad_aggressiveness
        self.max_backlog_s = max_backlog_s
        self.max_decoders = max_decoders
        self.idle_decoder_s = idle_decoder_s
        self._pool: _DecoderPool | None = None
        self._pool_lock = threading.Lock()
        self._trim_handle: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        size = "general" if self.vocabulary is None else f"{len(self.vocabulary)} phrases"
        ending = "adaptive turn detection" if self.turn is not None else f"silence_ms={self.silence_ms}"
        return f"PocketsphinxSTT(vocabulary={size}, {ending})"

    def cmn_prior(self, sample_rate: int) -> tuple[str | None, float]:
        """A call's initial cepstral mean at `sample_rate` (None: the model's own), and the
        distance from it at which its first utterance is re-decoded."""
        if not self.cmn_priors:
            return None, CMN_REDECODE_DISTANCE
        if sample_rate < MODEL_RATE:
            return CMN_PRIOR_NARROWBAND, CMN_REDECODE_DISTANCE
        return CMN_PRIOR_WIDEBAND, CMN_CHANNEL_CHANGE

    @property
    def pool(self) -> _DecoderPool | None:
        """The shared decoder pool, once built (by `warm()` or the first call)."""
        return self._pool

    def _pool_blocking(self) -> _DecoderPool:
        with self._pool_lock:
            if self._pool is None:
                vocabulary = self.vocabulary
                if vocabulary is not None and self.turn is not None:
                    vocabulary = [*vocabulary, *CONVERSATIONAL]
                self._pool = _DecoderPool(build_model(vocabulary), self.max_decoders)
            return self._pool

    async def warm(self, decoders: int = 1) -> None:
        """Build the model and `decoders` idle decoders now, off the event loop."""
        loop = asyncio.get_running_loop()
        pool = await loop.run_in_executor(_EXECUTOR, self._pool_blocking)
        ready = await asyncio.gather(*(loop.run_in_executor(_EXECUTOR, pool.lease) for _ in range(decoders)))
        for dec in ready:
            if dec is not None:
                pool.release(dec)

    async def open(self, *, sample_rate: int, call_id: str) -> PocketsphinxStream:
        if sample_rate <= 0:
            raise ProviderError(f"bad sample rate {sample_rate}")
        loop = asyncio.get_running_loop()
        pool = self._pool if self._pool is not None else await loop.run_in_executor(_EXECUTOR, self._pool_blocking)
        return PocketsphinxStream(self, pool, sample_rate=sample_rate, call_id=call_id)

    def _stream_closed(self, pool: _DecoderPool) -> None:
        """Free decoders a burst of calls left idle, `idle_decoder_s` after the last call ended."""
        if self._trim_handle is not None:
            self._trim_handle.cancel()
        loop = asyncio.get_running_loop()

        def trim() -> None:
            self._trim_handle = None
            if pool.trim(self.idle_decoder_s * 0.99):
                from voice.memory import give_back_memory  # noqa: PLC0415 - voice.memory only when a pool is trimmed

                loop.run_in_executor(_EXECUTOR, give_back_memory, True)

        self._trim_handle = loop.call_later(self.idle_decoder_s, trim)


class PocketsphinxStream(TranscriptOutbox):
    """One call's recognition. Create through `PocketsphinxSTT.open`.

    Holds a decoder only from the start of an utterance to its end (see the module's
    notes); `_cmn` is this call's channel estimate, carried from one lease to the next.
    """

    def __init__(self, provider: PocketsphinxSTT, pool: _DecoderPool, *, sample_rate: int, call_id: str) -> None:
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.log = CallLog(call_id, "POCKETSPHINX", log)
        self._provider = provider
        self._pool = pool
        self._decoder: Any | None = None
        self._cmn: str | None = None  # this call's channel estimate, once it has spoken
        self.cmn_prior, self._first_redecode = provider.cmn_prior(sample_rate)
        self.utterance_cmn: np.ndarray | None = None  # the last utterance's own cepstral mean
        # Upsampling a narrowband call: soxr's HQ filter hands out audio in ~100 ms
        # blocks, which would delay every end-of-turn decision by that much; the quick
        # filter streams sample by sample, and the band it would image into is filled
        # with noise anyway (_BandFill). Measured: 98% intent accuracy at 8 kHz either way.
        self._resampler = Resampler(sample_rate, MODEL_RATE, quality="QQ" if sample_rate < MODEL_RATE else "HQ")
        self._fill = _BandFill() if sample_rate < MODEL_RATE else None
        self._rng = np.random.default_rng(11)
        turn = provider.turn
        self.turn_detection = turn is not None
        self._turn = TurnDetector(MODEL_RATE, turn) if turn is not None else None
        self._turn_text = ""  # decoded segments of the turn still going on
        self._endpointer = Endpointer(
            MODEL_RATE,
            silence_ms=turn.min_silence_ms if turn is not None else provider.silence_ms,
            max_utterance_ms=provider.max_utterance_ms,
            aggressiveness=provider.vad_aggressiveness,
        )
        self._interim_bytes = max(1, provider.interim_ms * MODEL_RATE * 2 // 1000)
        self._since_interim = 0
        self._last_interim = ""
        self._in_utt = False
        self._utt_audio = bytearray()
        self._utt_cmn: np.ndarray | None = None
        self._pass_checked = False  # this utterance's pause check for a second pass is done
        self._eager_sent = False  # an eager interim went out in the current pause
        self._waiting: deque[bytes] = deque()  # whole utterances waiting for a decoder
        self._waiting_warned = False
        self.redecodes = 0
        self.waited = 0
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._max_backlog = int(provider.max_backlog_s * sample_rate * 2)
        self._dropped_warned = False
        self._wake = asyncio.Event()
        self._closing = False
        super().__init__()
        loop = asyncio.get_running_loop()
        self._wake_soon: Callable[[], object] = lambda: loop.call_soon_threadsafe(self._wake.set)
        self._task = loop.create_task(self._run(), name=f"pocketsphinx-{call_id}")

    async def send(self, pcm: bytes) -> None:
        self.send_nowait(pcm)

    def send_nowait(self, pcm: bytes) -> None:
        """Queues for the recogniser's thread: never waits."""
        if self._closing or not pcm:
            return
        self._backlog.append(bytes(pcm))
        self._backlog_bytes += len(pcm)
        while self._backlog_bytes > self._max_backlog and len(self._backlog) > 1:
            self._backlog_bytes -= len(self._backlog.popleft())
            if not self._dropped_warned:
                self._dropped_warned = True
                self.log.warning("recogniser is behind; dropping the oldest audio")
        self._wake.set()

    async def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._wake.set()
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            self._task.cancel()
            raise

    # ---- worker side ----

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._turn_text and self._turn is not None:
                    # a turn is open: if the audio stops coming (a caller that sends no silence),
                    # the turn still ends, after the longest wait, by the wall clock
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._turn.config.max_silence_ms / 1000)
                    except TimeoutError:
                        if self._turn_text and not self._in_utt:
                            out: list[Transcript] = []
                            self._end_turn(out, "no more audio")
                            for t in out:
                                self._out.put_nowait(t)
                        continue
                else:
                    await self._wake.wait()
                self._wake.clear()
                last = self._closing
                if not self._backlog and not last and not self._waiting:
                    continue
                batch = b"".join(self._backlog)
                self._backlog.clear()
                self._backlog_bytes = 0
                results = await loop.run_in_executor(_EXECUTOR, self._process, batch, last)
                for t in results:
                    self._out.put_nowait(t)
                if last and not self._backlog:
                    break
            self._give_back()
        except ProviderError as exc:
            self._out.put_nowait(exc)
        except Exception as exc:  # pocketsphinx raises bare RuntimeErrors
            self.log.exception("recognition failed")
            self._out.put_nowait(ProviderError(f"offline recognition failed: {exc}"))
        finally:
            # A decoder that was busy when we were cancelled is dropped, never reused.
            if self._decoder is not None:
                self._decoder = None
                self._pool.discard()
            self._waiting.clear()
            self._provider._stream_closed(self._pool)
            self._out.put_nowait(None)

    @property
    def backlog_bytes(self) -> int:
        """Audio received and not yet decoded (bounded by max_backlog_s)."""
        return self._backlog_bytes

    # -- leasing (pool threads only; never concurrently for one stream) --

    def _lease(self, *, streaming: bool) -> Any | None:
        dec = self._pool.lease(None if streaming else self._wake_soon, streaming=streaming)
        if dec is not None:
            cmn = self._cmn or self.cmn_prior or self._pool.initial_cmn
            if cmn is not None:
                dec.set_cmn(cmn)
        return dec

    def _give_back(self) -> None:
        dec, self._decoder = self._decoder, None
        if dec is not None:
            self._cmn = dec.get_cmn()
            self._pool.release(dec)

    def _begin(self, dec: Any) -> None:
        try:
            self._utt_cmn = _parse_cmn(dec.get_cmn())
        except ValueError:
            self._utt_cmn = None
        self._pass_checked = False
        dec.start_utt()

    def _try_begin_current(self) -> None:
        """Mid-utterance without a decoder (all were leased): take one if free and catch up."""
        if self._decoder is not None or self._waiting:
            return
        dec = self._lease(streaming=True)
        if dec is None:
            return
        self._decoder = dec
        self._begin(dec)
        audio = bytes(self._utt_audio)
        for i in range(0, len(audio), DECODE_CHUNK):
            dec.process_raw(audio[i : i + DECODE_CHUNK], False, False)

    def _decode_waiting(self, out: list[Transcript]) -> None:
        """Utterances that ended while every decoder was leased, oldest first, as decoders free up."""
        while self._waiting:
            dec = self._lease(streaming=False)
            if dec is None:
                return
            audio = self._waiting.popleft()
            self._decoder = dec
            self._begin(dec)
            for i in range(0, len(audio), DECODE_CHUNK):
                dec.process_raw(audio[i : i + DECODE_CHUNK], False, False)
            text = self._finish_utterance(audio)
            self._give_back()
            self.log.debug("decoded after waiting for a decoder | text=%r", text)
            self._utterance_text(text, out)

    def _feed(self, pcm: bytes) -> None:
        if not pcm:
            return
        if self._fill is not None:
            pcm = self._fill.apply(pcm)
        if DITHER > 0:
            x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
            x += self._rng.normal(0, DITHER, len(pcm) // 2).astype(np.float32)
            pcm = np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()
        self._utt_audio += pcm
        if self._decoder is not None:
            for i in range(0, len(pcm), DECODE_CHUNK):
                self._decoder.process_raw(pcm[i : i + DECODE_CHUNK], False, False)

    def _own_cmn(self, dec: Any) -> tuple[np.ndarray, float] | None:
        """This utterance's own cepstral mean so far, and its distance from the one it started
        with; updates the decoder's running mean (live CMN's own update, which keeps its sums)."""
        prior = self._utt_cmn
        frames = dec.n_frames()
        if prior is None or frames <= 0:
            return None
        try:
            updated = _parse_cmn(dec.get_cmn(True))
        except ValueError:
            return None
        if frames + CMN_WIN <= CMN_WIN_HWM:
            own = (updated * (CMN_WIN + frames) - prior * CMN_WIN) / frames
        else:  # the running mean was already re-estimated mid-utterance
            own = updated
        if not np.all(np.isfinite(own)):
            return None
        self.utterance_cmn = own
        return own, float(np.linalg.norm(own - prior))

    def _needs_second_pass(self, distance: float) -> bool:
        return distance >= (self._first_redecode if self._cmn is None else CMN_CHANNEL_CHANGE)

    def _second_pass(self, dec: Any, own: np.ndarray, audio: bytes) -> None:
        """Decode the utterance so far again from its own mean; it stays open for more audio."""
        self.redecodes += 1
        dec.set_cmn(",".join(f"{v:.4f}" for v in own))
        dec.start_utt()
        for i in range(0, len(audio), DECODE_CHUNK):
            dec.process_raw(audio[i : i + DECODE_CHUNK], False, False)

    def _check_pass_in_pause(self) -> None:
        """Early in the first pause of an utterance: if it needs its second pass, run it now,
        while the caller's pause is still being waited out, rather than at the turn's end."""
        dec = self._decoder
        if self._pass_checked or dec is None or self._endpointer.pause_ms < SECOND_PASS_AT_MS:
            return
        self._pass_checked = True
        measured = self._own_cmn(dec)
        if measured is None or not self._needs_second_pass(measured[1]):
            return
        self.log.debug("second pass in the pause: CMN distance %.1f after %d frames", measured[1], dec.n_frames())
        dec.end_utt()
        self._second_pass(dec, measured[0], bytes(self._utt_audio))
        self._utt_cmn = None  # decoded from its own mean now: nothing more to correct

    def _eager_in_pause(self, out: list[Transcript]) -> None:
        """A pause inside the segment that already sounds like the end: send the turn's words
        so far as an `eager` interim, once per pause, so the answer is prepared (held, not
        spoken) while the rest of the turn's silence is waited out, instead of after it."""
        turn, dec = self._turn, self._decoder
        pause = self._endpointer.pause_ms
        if pause == 0:
            self._eager_sent = False
            return
        if turn is None or dec is None or self._eager_sent or pause < turn.config.eager_ms:
            return
        self._eager_sent = True
        hyp = dec.hyp()
        text = f"{self._turn_text} {hyp.hypstr.strip() if hyp is not None else ''}".strip()
        if not text:
            return
        turn.transcript(text)
        decision = turn.decide()
        if decision.state is TurnState.LIKELY or (not decision.over and decision.p_complete >= turn.config.eager_p):
            out.append(Transcript(text, final=False, speech_final=False, eager=True))

    def _finish_utterance(self, audio: bytes) -> str:
        """End the utterance; re-decode it once if the channel estimate was off.

        Live CMN starts each utterance from the mean of earlier speech, weighted as
        CMN_WIN frames. From the model's neutral mean the first utterance of a call
        was decoded with a wrong mean and recognised poorly (~75% instead of ~95% on
        the script's phrases); it now starts from the front end's prior (CMN_PRIOR_*),
        later ones from the call's own mean. The mean of this utterance alone can be
        recovered from the updated running mean; when it is as far from the starting
        mean as a changed channel, a second pass with it (the same as batch CMN, in
        small GIL-friendly chunks) replaces the first.
        """
        dec = self._decoder
        assert dec is not None
        dec.end_utt()
        hyp = dec.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        measured = self._own_cmn(dec)
        if measured is None:
            return text
        self.log.debug("pass 1 %r, %d frames, CMN distance %.1f", text, dec.n_frames(), measured[1])
        if not self._needs_second_pass(measured[1]):
            return text
        self._second_pass(dec, measured[0], audio)
        dec.end_utt()
        hyp = dec.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def _process(self, pcm: bytes, last: bool) -> list[Transcript]:
        """Runs on a pool thread, never concurrently for one stream."""
        out: list[Transcript] = []
        self._decode_waiting(out)
        audio = self._resampler.process(pcm, last=last) if pcm or last else b""
        step = self._endpointer.frame_bytes
        # frame by frame, so a turn decision lands on the frame it is due
        for i in range(0, len(audio), step):
            frame = audio[i : i + step]
            self._handle(self._endpointer.push(frame), out)
            if self._turn is not None:
                self._turn.push(frame)
                self._check_turn(out)
        if last:
            self._handle(self._endpointer.flush(), out)
            if self._turn_text:
                self._end_turn(out, "end of stream")
        return out

    def _check_turn(self, out: list[Transcript]) -> None:
        """Between segments of a turn: has the pause grown long enough to end it?"""
        if self._turn_text and not self._in_utt and self._turn is not None and self._turn.decide().over:
            self._end_turn(out, "pause")

    def _segment_done(self, text: str, out: list[Transcript]) -> None:
        """A segment (speech up to a short pause) is decoded: is the turn over, or only paused?"""
        turn = self._turn
        assert turn is not None
        if text:
            self._turn_text = f"{self._turn_text} {text}".strip()
        if not self._turn_text:
            return
        turn.transcript(self._turn_text)
        decision = turn.decide()
        if decision.over:
            self._end_turn(out, "segment")
        elif decision.state is TurnState.LIKELY or decision.p_complete >= turn.config.eager_p:
            out.append(Transcript(self._turn_text, final=False, speech_final=False, eager=True))
        elif text:
            out.append(Transcript(self._turn_text, final=False, speech_final=False))

    def _end_turn(self, out: list[Transcript], why: str) -> None:
        text, self._turn_text = self._turn_text, ""
        if self._turn is not None:
            d = self._turn.decide()
            self.log.debug("turn over (%s) after %.0f ms of silence (p=%.2f, %s)", why, d.silence_ms, d.p_complete,
                           d.text.ending.value if d.text else "-")
            self._turn.reset()
        self.log.debug("Transcript (final) | text=%r", text)
        out.append(Transcript(text, final=True, speech_final=True))

    def _handle(self, events: list[SegmentEvent], out: list[Transcript]) -> None:
        for ev in events:
            if ev.kind == "start":
                self._utt_audio = bytearray()
                self._utt_cmn = None
                self._in_utt = True
                self._since_interim = 0
                self._last_interim = ""
                self._try_begin_current()
                self._feed(ev.audio)
            elif ev.kind == "audio":
                self._try_begin_current()
                self._feed(ev.audio)
                self._check_pass_in_pause()
                self._eager_in_pause(out)
                self._since_interim += len(ev.audio)
                dec = self._decoder
                if dec is not None and self._since_interim >= self._interim_bytes:
                    self._since_interim = 0
                    hyp = dec.hyp()
                    text = f"{self._turn_text} {hyp.hypstr.strip() if hyp is not None else ''}".strip()
                    if text and text != self._last_interim:
                        self._last_interim = text
                        out.append(Transcript(text, final=False, speech_final=False))
            else:
                self._in_utt = False
                audio_utt, self._utt_audio = bytes(self._utt_audio), bytearray()
                if self._decoder is None:  # every streaming decoder was leased: decode it in one go
                    self._wait_for_decoder(audio_utt)
                    self._decode_waiting(out)
                    continue
                text = self._finish_utterance(audio_utt)
                self._give_back()
                self._utterance_text(text, out)

    def _utterance_text(self, text: str, out: list[Transcript]) -> None:
        """A decoded utterance: a segment of the turn (turn detection) or a final of its own."""
        if self._turn is not None:
            self._segment_done(text, out)
        elif text:
            self.log.debug("Transcript (final) | text=%r", text)
            out.append(Transcript(text, final=True, speech_final=True))

    def _wait_for_decoder(self, audio: bytes) -> None:
        self.waited += 1
        self._waiting.append(audio)
        while len(self._waiting) > MAX_WAITING_UTTERANCES:
            self._waiting.popleft()
            if not self._waiting_warned:
                self._waiting_warned = True
                self.log.warning("every recogniser decoder is busy; dropping the oldest waiting utterance")
