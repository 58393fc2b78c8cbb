"""Are the provider keys present and accepted? One minimal, free request per vendor.

- Deepgram: `GET /v1/projects` with `Authorization: Token KEY` (the listen URL's host);
- OpenAI (or a compatible server at OPENAI_BASE_URL): the models list, with the
  `openai` client the bot uses;
- Cartesia: `GET /voices/{CARTESIA_VOICE_ID}` with `X-API-Key` and `Cartesia-Version`,
  which also proves the voice exists.

401/403 means the key was refused: a fail. A vendor that cannot be reached from here
(no route, DNS, a firewall, a timeout) is a warning that says so: the key may well be
good, this machine just cannot tell. Keys never appear in any message.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx

from kcommon.errors import ConfigError
from voice.config import BotSettings
from voice.doctor.result import CheckResult, fail, ok, warn
from voice.providers.factory import choose


def _unreachable(check: str, vendor: str, exc: BaseException) -> CheckResult:
    why = type(exc).__name__ if not str(exc) else str(exc)
    return warn(check, f"{vendor} is unreachable from here ({why[:100]}): the key was not checked",
                f"run `kconsole doctor` where the bot runs, or check this machine's network / proxy for {vendor}")


def _refused(check: str, vendor: str, variable: str, status: int) -> CheckResult:
    return fail(check, f"{vendor} refused {variable} (HTTP {status}): the key is wrong, revoked or expired",
                f"put a valid key in {variable} (.env) and restart the bot")


def _deepgram_base(listen_url: str) -> str:
    parts = urlsplit(listen_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


async def check_deepgram(settings: BotSettings, timeout: float) -> CheckResult:
    assert settings.deepgram_api_key is not None
    url = _deepgram_base(settings.deepgram_url) + "/v1/projects"
    headers = {"Authorization": f"Token {settings.deepgram_api_key.get_secret_value()}"}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return _unreachable("keys.deepgram", "Deepgram", exc)
    if resp.status_code in (401, 403):
        return _refused("keys.deepgram", "Deepgram", "DEEPGRAM_API_KEY", resp.status_code)
    if resp.status_code >= 400:
        return warn("keys.deepgram", f"Deepgram answered HTTP {resp.status_code} to a key check",
                    "check status.deepgram.com; the key itself was not refused")
    return ok("keys.deepgram", "DEEPGRAM_API_KEY accepted by Deepgram")


async def check_openai(settings: BotSettings, timeout: float) -> CheckResult:
    import openai  # noqa: PLC0415 - only when the bot uses OpenAI

    from voice.providers.openai_llm import endpoint_label, make_client  # noqa: PLC0415 - vendor SDKs only for this check

    where = ("OpenAI" if not settings.openai_base_url
             else f"the OpenAI-compatible server at {endpoint_label(settings.openai_base_url)}")
    client, _ = make_client(settings.openai_api_key, settings.openai_base_url, timeout)
    try:
        models = await client.with_options(max_retries=0).models.list()
        names = [m.id for m in models.data]
    except openai.AuthenticationError as exc:
        return _refused("keys.openai", where, "OPENAI_API_KEY", exc.status_code)
    except openai.PermissionDeniedError as exc:
        return _refused("keys.openai", where, "OPENAI_API_KEY", exc.status_code)
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        return _unreachable("keys.openai", where, exc.__cause__ or exc)
    except openai.APIStatusError as exc:
        return warn("keys.openai", f"{where} answered HTTP {exc.status_code} to a key check", "the key itself was not refused")
    finally:
        await client.close()
    if names and settings.openai_model not in names:
        return warn("keys.openai", f"OPENAI_API_KEY accepted by {where}, but it has no model {settings.openai_model!r}",
                    f"set OPENAI_MODEL to one it has ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})")
    return ok("keys.openai", f"OPENAI_API_KEY accepted by {where}")


async def check_cartesia(settings: BotSettings, timeout: float) -> CheckResult:
    assert settings.cartesia_api_key is not None
    from voice.providers.cartesia import DEFAULT_VOICE_ID  # noqa: PLC0415 - vendor SDKs only for this check

    voice = settings.cartesia_voice_id or DEFAULT_VOICE_ID
    url = f"{settings.cartesia_url.rstrip('/')}/voices/{voice}"
    headers = {"X-API-Key": settings.cartesia_api_key.get_secret_value(), "Cartesia-Version": settings.cartesia_version}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return _unreachable("keys.cartesia", "Cartesia", exc)
    if resp.status_code in (401, 403):
        return _refused("keys.cartesia", "Cartesia", "CARTESIA_API_KEY", resp.status_code)
    if resp.status_code == 404:
        return fail("keys.cartesia", f"CARTESIA_API_KEY accepted, but Cartesia has no voice {voice!r}",
                    "set CARTESIA_VOICE_ID to a voice id from play.cartesia.ai")
    if resp.status_code >= 400:
        return warn("keys.cartesia", f"Cartesia answered HTTP {resp.status_code} to a key check",
                    "the key itself was not refused")
    return ok("keys.cartesia", "CARTESIA_API_KEY accepted by Cartesia" + ("" if settings.cartesia_voice_id else
                                                                          " (default voice: set CARTESIA_VOICE_ID for yours)"))


async def check_keys(settings: BotSettings, *, timeout: float = 5.0) -> list[CheckResult]:
    try:
        stt, llm, tts = choose(settings)
    except ConfigError as exc:
        return [fail("keys", str(exc), "set the key, or choose 'auto' / 'local' for that provider")]
    out: list[CheckResult] = []
    if "deepgram" == stt:
        out.append(await check_deepgram(settings, timeout))
    if "openai" in (stt, llm, tts):
        out.append(await check_openai(settings, timeout))
    if tts == "cartesia":
        out.append(await check_cartesia(settings, timeout))
    if not out:
        out.append(ok("keys", "no vendor keys set: the offline providers are used (pocketsphinx, the bot script, eSpeak NG)"))
    return out
