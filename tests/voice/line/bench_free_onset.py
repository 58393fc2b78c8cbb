"""Onset of a synthesised phrase by level (the first 5 ms window above -40 dBFS)."""

from __future__ import annotations

import numpy as np


def onset_s(pcm: bytes, rate: int, threshold_dbfs: float = -40.0) -> float:
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    w = max(1, rate // 200)
    limit = 32768 * 10 ** (threshold_dbfs / 20)
    for i in range(0, len(x) - w, w):
        if np.sqrt(np.mean(x[i : i + w] ** 2)) >= limit:
            return i / rate
    return 0.0
