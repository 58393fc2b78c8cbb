"""Bounded exponential backoff with jitter, shared by REST retries and stream reconnects.

Jitter matters here: when Knowlarity's stream drops, every console of an account reconnects
at once; spreading the retries avoids a thundering herd on the way back up.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """`delay(n, r)` for the n-th retry (n >= 1) and a uniform random r in [0, 1).

    The un-jittered delay is base * factor**(n-1), capped at `cap`; jitter then takes up to
    `jitter` (a fraction) off it, so delays stay within [(1 - jitter) * d, d].
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 8.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs base > 0, factor >= 1, cap >= base, 0 <= jitter <= 1")

    def ceiling(self, attempt: int) -> float:
        exponent = min(max(attempt, 1) - 1, 64)
        return min(self.cap, self.base * self.factor**exponent)

    def delay(self, attempt: int, rnd: float) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling * (1.0 - self.jitter * min(max(rnd, 0.0), 1.0))
