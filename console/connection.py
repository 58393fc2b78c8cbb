"""Connection state in words: which feed is failing, why, and what to change.

The top bar's badges say *that* a feed is down; the views say *why* with these lines,
naming the URL that fails (the live stream and the REST API are separate settings, and a
console pointed at a sandbox or proxy for REST can still be streaming from Knowlarity).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from console.config import DEFAULT_BASE_URL, DEFAULT_STREAM_URL, ConsoleSettings
from console.state import FeedStatus


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def explain_stream(status: FeedStatus, settings: ConsoleSettings | None) -> str | None:
    """One line for the Live view while the stream is not live, else None."""
    if status.status in ("live", "off"):
        return None
    where = f"the live stream ({_host(settings.stream_url)})" if settings is not None else "the live stream"
    if status.status == "connecting":
        text = f"connecting to {where} …"
    elif status.status == "retrying":
        wait = f"; next try in {status.retry_in:.0f} s" if status.retry_in is not None else ""
        text = f"{where} is not answering: {status.reason or 'no connection'}{wait}"
    else:
        text = f"{where} failed: {status.reason or 'unknown error'} (the console stopped retrying)"
    if settings is not None:
        custom_base = settings.base_url.rstrip("/") != DEFAULT_BASE_URL.rstrip("/")
        default_stream = settings.stream_url.rstrip("/") == DEFAULT_STREAM_URL.rstrip("/")
        if custom_base and default_stream:
            text += (f". KNOWLARITY_BASE_URL points at {_host(settings.base_url)} but KNOWLARITY_STREAM_URL is "
                     "still Knowlarity's: set it too")
    return text


def explain_bot(status: FeedStatus) -> str | None:
    """One line for the Bot view while its monitor feed is not live, else None."""
    if status.status == "failed":
        return f"The bot's monitor feed failed: {status.reason or 'unknown error'}. No calls can show until it connects."
    if status.status == "retrying":
        wait = f" (next try in {status.retry_in:.0f} s)" if status.retry_in is not None else ""
        return f"The bot's monitor feed is not connected: {status.reason or 'no connection'}{wait}."
    if status.status == "connecting":
        return "Connecting to the bot's monitor feed …"
    return None
