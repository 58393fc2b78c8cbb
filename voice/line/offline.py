"""A call through a simulated line, offline and faster than real time.

The bot's audio is sent the way `Speaker` sends it (100 ms chunks, at most 0.8 s ahead
of the caller's playback, each tapped with its start on the playback clock), played by
the Stream Node's speaker (`Playout`), echoed and coded by the `PhoneLine`, delivered
when the `JitterShaper` lets it through, and handed to an `Uplink` as the bot's session
would. Used by the tests and by the bench's echo sweep: the same code path as a call,
minus the sockets, so a sweep of 64 lines takes seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from voice.line.simulator import JitterShaper, PhoneLine, Playout
from voice.line.spec import LineSpec
from voice.uplink import Uplink, UplinkOptions
from voice.vad import SpeechEnd, SpeechStart

FRAME_S = 0.02
CHUNK_S = 0.1
LEAD_S = 0.8


@dataclass
class OfflineCall:
    onsets: list[SpeechStart] = field(default_factory=list)
    ends: list[SpeechEnd] = field(default_factory=list)
    uplink_raw: bytearray = field(default_factory=bytearray)
    uplink_clean: bytearray = field(default_factory=bytearray)
    cpu_s: float = 0.0  # process time spent in the Uplink
    frames: int = 0
    uplink: Uplink | None = None
    arrivals: list[float] = field(default_factory=list)


def simulate_call(spec: LineSpec, rate: int, *, bot: bytes, bot_at: float = 0.3, caller: bytes = b"",
                  caller_at: float = 0.0, seconds: float | None = None, options: UplinkOptions | None = None,
                  stop_bot_on_onset: bool = False) -> OfflineCall:
    """Run one call; `stop_bot_on_onset` sends killAudio at the first confirmed onset (barge-in)."""
    n = int(rate * FRAME_S)
    total = seconds if seconds is not None else max(bot_at + len(bot) / 2 / rate, caller_at + len(caller) / 2 / rate) + 0.5
    frames = int(total / FRAME_S)
    voice = np.zeros(frames * n, dtype=np.int16)
    if caller:
        c = np.frombuffer(caller, dtype=np.int16)
        i = int(caller_at * rate)
        voice[i : i + len(c)] = c[: max(0, len(voice) - i)]
    line = PhoneLine(spec, rate)
    playout = Playout()
    jitter = JitterShaper(spec.jitter_ms, spec.seed)
    up = Uplink(rate, 0.0, options)
    out = OfflineCall(uplink=up)
    sent, sched, chunk = 0, bot_at, 2 * int(rate * CHUNK_S)
    pending: list[tuple[float, bytes]] = []
    killed = False
    for k in range(frames):
        t = k * FRAME_S
        while not killed and t >= bot_at and sent < len(bot) and sched - t < LEAD_S:
            piece = bot[sent : sent + chunk]
            playout.push(piece)
            up.play(piece, max(sched, t))
            sched = max(sched, t) + len(piece) / 2 / rate
            sent += len(piece)
        frame = line.frame(voice[k * n : (k + 1) * n].tobytes(), playout.pull(n))
        pending.append((jitter.release_at(t + FRAME_S, FRAME_S), frame))
        while pending and pending[0][0] <= t + FRAME_S + 1e-9:
            at, pcm = pending.pop(0)
            out.arrivals.append(at)
            c0 = time.process_time()
            res = up.push(pcm, at)
            out.cpu_s += time.process_time() - c0
            out.frames += 1
            out.uplink_raw += pcm
            out.uplink_clean += res.clean
            for ev in res.events:
                if isinstance(ev, SpeechStart):
                    out.onsets.append(ev)
                    if stop_bot_on_onset and not killed:
                        killed = True
                        playout.kill()
                        up.cut(at)
                else:
                    out.ends.append(ev)
    return out
