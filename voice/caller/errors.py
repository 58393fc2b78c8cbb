"""The one exception the caller raises for bad input (everything else is a report outcome)."""

from __future__ import annotations


class CallerError(ValueError):
    """Bad caller input (a WAV that cannot be read, an unsupported rate, a bad URL)."""
