"""The caller's end of a simulated bad phone line (`kconsole call --line SPEC`).

Every frame the caller sends goes through a `PhoneLine` first: the echo of what the
caller's speaker is playing (the bot's audio, queued as the Stream Node plays it:
back to back, emptied by killAudio), G.711 and the telephone band, noise, babble and
loss; then the `JitterShaper` decides when it leaves (held in a stall, then sent in a
burst). So a developer hears, on their own bot, what a speakerphone on a mobile does.

Everything here runs on the caller's own sample clock: the uplink frame that ends at
call time `due` holds samples up to `due * rate`, and a playAudio that arrived at call
time `at` starts playing on sample `at * rate` (or after what is queued). A caller
whose event loop wakes late sends late, but the echo in each frame sits exactly where
the line put it, so the delay the bot measures is the line's, not the loop's lateness.
"""

from __future__ import annotations

from collections import deque

from voice.line import JitterShaper, LineSpec, PhoneLine, Playout


class CallerLine:
    def __init__(self, spec: LineSpec, rate: int, frame_s: float) -> None:
        self.spec = spec
        self.rate = rate
        self.frame_s = frame_s
        self._line = PhoneLine(spec, rate)
        self._speaker = Playout()
        self._jitter = JitterShaper(spec.jitter_ms, spec.seed)
        self._held: deque[tuple[float, bytes]] = deque()

    def _sample(self, t: float | None) -> int | None:
        return None if t is None else round(t * self.rate)

    def bot_audio(self, pcm: bytes, at: float | None = None) -> None:
        """A playAudio arrived (at call time `at`, seconds): it plays from then, or after what is queued."""
        self._speaker.push(pcm, self._sample(at))

    def kill(self, at: float | None = None) -> None:
        """killAudio arrived at call time `at`: what was queued after that never plays."""
        self._speaker.kill(self._sample(at))

    def outgoing(self, frame: bytes, due: float) -> None:
        """The caller's next 20 ms, ending at call time `due` (when it would leave on a perfect network)."""
        played = self._speaker.pull(len(frame) // 2)
        self._held.append((self._jitter.release_at(due, self.frame_s), self._line.frame(frame, played)))

    def send(self, frame: bytes, due: float, now: float) -> list[bytes]:
        """The frames to send now: what the simulated line lets through once `frame` (due at
        `due`) is on it (echo, codec and noise added; held back by jitter, then a burst)."""
        self.outgoing(frame, due)
        return self.ready(max(now, due))

    def ready(self, now: float) -> list[bytes]:
        """Frames whose time has come, in order."""
        out = []
        while self._held and self._held[0][0] <= now + 1e-6:
            out.append(self._held.popleft()[1])
        return out
