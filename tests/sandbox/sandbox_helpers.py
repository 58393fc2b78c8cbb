"""Constants and small helpers shared by the sandbox tests."""

from __future__ import annotations

from sandbox.server import DEFAULT_API_KEY, DEFAULT_SR_API_KEY

AUTH = {"Authorization": DEFAULT_SR_API_KEY, "x-api-key": DEFAULT_API_KEY}
API = "/Basic/v1/account"
META_KEYS = {"limit", "next", "offset", "previous", "total_count"}
