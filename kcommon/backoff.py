"""The one retry schedule: exponential backoff with jitter, short while an outage is young.

Used by every reconnecting or retrying part: REST retries and the live stream (console.api),
the bot monitor feed (console.botwatch), the Deepgram socket and a call's STT lane (voice).

Two rules shape it. Jitter: when Knowlarity's stream drops, every console of an account
reconnects at once; spreading the retries avoids a thundering herd on the way back up.
Patience: most outages are short (a Wi-Fi hop, a proxy restart), and a schedule that
doubles straight to a 30 s cap turned a 20 s outage into 45 s without a stream. So the
first `patience` retries are capped at `fast_cap` (a few seconds: the first attempt after
the network is back comes within that), and only an outage that outlasts them backs off
to `cap`, sparing a server that is really down.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RECONNECT", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """`delay(n, r)` for the n-th retry in a row (n >= 1) and a uniform random r in [0, 1).

    The un-jittered delay is base * factor**(n-1), capped at `fast_cap` for n <= `patience`,
    then fast_cap * factor**(n - patience) capped at `cap`; jitter then takes up to `jitter` (a fraction) off it, so delays
    stay within [(1 - jitter) * d, d]. With `fast_cap` None it is a plain capped backoff.
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 8.0
    jitter: float = 0.5
    fast_cap: float | None = None
    patience: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs base > 0, factor >= 1, cap >= base, 0 <= jitter <= 1")
        if self.fast_cap is not None and not self.base <= self.fast_cap <= self.cap:
            raise ValueError("backoff needs base <= fast_cap <= cap")
        if self.patience < 0:
            raise ValueError("backoff patience must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay before retry `attempt`."""
        n = max(attempt, 1)
        if self.fast_cap is None:
            return min(self.cap, self.base * self.factor ** min(n - 1, 64))
        if n <= self.patience:
            return min(self.fast_cap, self.base * self.factor ** min(n - 1, 64))
        # past its patience the schedule grows on from fast_cap, not straight to the cap
        return min(self.cap, self.fast_cap * self.factor ** min(n - self.patience, 64))

    def delay(self, attempt: int, rnd: float) -> float:
        return self.ceiling(attempt) * (1.0 - self.jitter * min(max(rnd, 0.0), 1.0))


# Reconnecting a feed (the live stream, a bot's monitor): 0.5, 1, 2, 3, 3, ... s for the first
# twelve tries (about half a minute of outage), then 6, 12, 24, 30 s.
RECONNECT = Backoff(base=0.5, factor=2.0, fast_cap=3.0, patience=12, cap=30.0, jitter=0.5)
