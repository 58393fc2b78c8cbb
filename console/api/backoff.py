"""The client's retry schedule is the product's one backoff (`kcommon.backoff`), re-exported
here because it is part of this package's public surface (`KnowlarityClient(backoff=...)`)."""

from __future__ import annotations

from kcommon.backoff import RECONNECT, Backoff

__all__ = ["RECONNECT", "Backoff"]
