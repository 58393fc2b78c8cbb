"""A self-call: dial the bot the way the Stream Node does and time its first playAudio.

Only what the checklist needs: the HTTP upgrade (404/403 are the guide's issue 8), the
metadata frame, and the first playAudio, which must come within the Stream Node's limit
(issue 1) as a mono 16-bit WAV at the stream's rate (issue 4). Then it hangs up.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from voice.protocol import CallMetadata, PlayAudio, ProtocolError, encode_metadata, parse_bot_event


@dataclass(slots=True)
class SelfCall:
    ok: bool
    greeting_ms: float | None = None
    status: int | None = None       # the HTTP status when the upgrade was refused
    body: str = ""                  # the refusal's body (first line), e.g. an ngrok error page
    error: str | None = None        # anything else that went wrong, one line
    sample_rate: int | None = None  # the first playAudio's WAV rate


async def self_call(url: str, *, sample_rate: int, callid: str, limit_s: float,
                    ssl_context: ssl.SSLContext | None = None, open_timeout: float = 5.0) -> SelfCall:
    meta = CallMetadata(callid=callid, virtual_number="+910000000000", customer_number="+910000000000")
    kwargs: dict[str, object] = {"open_timeout": open_timeout, "compression": None, "max_size": 16 * 1024 * 1024}
    if url.startswith("wss://") and ssl_context is not None:
        kwargs["ssl"] = ssl_context
    try:
        async with connect(url, **kwargs) as ws:  # type: ignore[arg-type]
            await ws.send(encode_metadata(meta))
            sent = time.monotonic()
            try:
                async with asyncio.timeout(limit_s):
                    while True:
                        raw = await ws.recv()
                        try:
                            event = parse_bot_event(raw)
                        except ProtocolError as exc:
                            return SelfCall(False, error=f"the bot sent a bad frame: {exc}")
                        if isinstance(event, PlayAudio):
                            ms = (time.monotonic() - sent) * 1000
                            return SelfCall(True, greeting_ms=ms, sample_rate=event.sample_rate)
            except TimeoutError:
                return SelfCall(False, error=f"no playAudio within {limit_s:g} s")
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                reason = exc.rcvd.reason if exc.rcvd is not None else ""
                why = f"code {code}: {reason}" if reason else f"code {code}"
                return SelfCall(False, error=f"the bot closed the call before greeting ({why})")
    except InvalidStatus as exc:
        body = exc.response.body.decode(errors="replace") if exc.response.body else ""
        headers = " ".join(f"{k}: {v}" for k, v in exc.response.headers.raw_items()).lower()
        marker = "ngrok" if "ngrok" in headers or "ngrok" in body.lower() else ""
        return SelfCall(False, status=exc.response.status_code, body=(marker + " " + body.strip().splitlines()[0][:120]
                                                                       if body.strip() else marker).strip())
    except ssl.SSLCertVerificationError as exc:
        return SelfCall(False, error=f"TLS certificate not trusted ({exc.verify_message})")
    except ssl.SSLError as exc:
        return SelfCall(False, error=f"TLS handshake failed ({exc.reason or exc})")
    except InvalidURI as exc:
        return SelfCall(False, error=f"not a WebSocket URL: {exc}")
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        return SelfCall(False, error=f"cannot connect ({why})")
    return SelfCall(False, error="the call ended unexpectedly")  # pragma: no cover
