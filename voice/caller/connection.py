"""Opening the WebSocket to the bot, and saying in one line why it failed or closed."""

from __future__ import annotations

import ssl
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from voice.caller.options import CallerOptions

MAX_FRAME_BYTES = 16 * 1024 * 1024  # a bot may send a long WAV in one playAudio


class DialError(Exception):
    """The connection could not be opened; the message says why, for a person."""


async def dial(url: str, options: CallerOptions) -> ClientConnection:
    """Open the Stream Node's WebSocket as Knowlarity does: no compression, no pings."""
    tls_context = options.tls_context(url)
    tls: dict[str, Any] = {"ssl": tls_context} if tls_context is not None else {}
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else None
    try:
        return await connect(
            url, **tls, additional_headers=headers, open_timeout=options.open_timeout, max_size=MAX_FRAME_BYTES,
            close_timeout=2, ping_interval=None, compression=None,
        )
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ssl.SSLError) as exc:
        raise DialError(describe_connect_error(exc)) from None


def describe_connect_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); use --insecure for a self-signed certificate"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            return (f"HTTP {status}: the bot refused the connection; it may require a token (--token), "
                    "or a stale server with other routes holds the port")
        if status == 404:
            return "HTTP 404: no WebSocket route at that path (check the URL's path, e.g. /voice)"
        return f"HTTP {status}: the server refused the WebSocket upgrade"
    if isinstance(exc, InvalidHandshake):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out opening the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the bot running?)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def close_text(exc: ConnectionClosed | None, ws: ClientConnection | None = None) -> str:
    if exc is not None:
        frame = exc.rcvd
        if frame is None:
            return "(no close frame)"
        return f"(code {frame.code}: {frame.reason})" if frame.reason else f"(code {frame.code})"
    code = ws.close_code if ws is not None else None
    reason = ws.close_reason if ws is not None else None
    if code is None:
        return "(no close frame)"
    return f"(code {code}: {reason})" if reason else f"(code {code})"
