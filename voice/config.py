"""Settings of the voice bot, read from the environment and `.env`.

The names are the ones Knowlarity's voice streaming guide uses (DEEPGRAM_API_KEY,
OPENAI_API_KEY, CARTESIA_API_KEY, CARTESIA_VOICE_ID, GREETING, SYSTEM_PROMPT,
TRANSFER_NUMBER, AUDIO_CHUNK_MS), so a `.env` written for the guide works unchanged.
With no provider key at all the bot runs on the offline providers.

`load_bot_settings()` turns a bad value into one `ConfigError` line naming the
setting, never a traceback, and never echoes a secret's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kcommon.errors import ConfigError as ConfigError  # the one ConfigError, shared with the console
from kcommon.redact import register_secret
from kcommon.text import escape_controls
from voice.turn.detector import TurnConfig

SUPPORTED_RATES = (8000, 16000, 24000, 32000, 48000)


def describe_validation_error(
    exc: ValidationError, *, secret_names: frozenset[str] = frozenset(), prefix: str = ""
) -> str:
    """One line naming every bad setting and what is wrong with it, never its value: a key
    pasted into the wrong setting (KNOWLARITY_CHANNEL, BOT_PATH, a base URL with user-info)
    would otherwise be echoed to the terminal. `secret_names` is kept for callers."""
    parts = []
    for err in exc.errors(include_input=False, include_context=False, include_url=False):
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        env_name = (prefix + name).upper()
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{env_name}: {escape_controls(msg)}")
    return "invalid setting " + "; ".join(parts)


def check_secret(value: SecretStr | None) -> SecretStr | None:
    """A key is one token: a pasted line break, tab or space inside, or nothing but spaces,
    is refused here with a reason instead of failing later inside an HTTP header."""
    if value is None:
        return None
    raw = value.get_secret_value()
    if not raw.strip():
        raise ValueError("is empty or only spaces")
    stripped = raw.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in stripped):
        raise ValueError("holds a line break, a space or a control character (paste the key alone)")
    return SecretStr(stripped)


def normalise_origin(origin: str) -> str | None:
    """'HTTPS://Example.com:443' -> 'https://example.com'; None if it is not an origin."""
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username is not None:
        return None
    scheme = parts.scheme.lower()
    default = 443 if scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


class BotSettings(BaseSettings):
    """Everything `kconsole bot` needs; every field has a working offline default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    deepgram_api_key: SecretStr | None = None
    deepgram_url: str = "wss://api.deepgram.com/v1/listen"
    deepgram_model: str = "nova-2"
    deepgram_language: str = "en"

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_stt_model: str = "gpt-4o-mini-transcribe"
    openai_tts_model: str = "gpt-4o-mini-tts"
    openai_tts_voice: str = "alloy"

    cartesia_api_key: SecretStr | None = None
    cartesia_voice_id: str | None = None
    cartesia_url: str = "https://api.cartesia.ai"
    cartesia_model: str = "sonic-english"
    cartesia_version: str = "2024-06-10"

    # Which pair of speech providers to use when keys allow a choice.
    stt_provider: Literal["auto", "deepgram", "openai", "local"] = "auto"
    llm_provider: Literal["auto", "openai", "script"] = "auto"
    tts_provider: Literal["auto", "cartesia", "openai", "local"] = "auto"

    greeting: str = "Hello! Thanks for calling Acme. How can I help you today?"
    system_prompt: str = (
        "You are a friendly phone receptionist for Acme. Keep every answer to one or two short "
        "sentences; this is a phone call. If the caller asks for a person, call transfer_to_agent. "
        "When the caller says goodbye, say a short goodbye and call end_call."
    )
    transfer_number: str | None = None
    # Turn-taking: "adaptive" decides the end of the caller's turn from their words and
    # melody, waiting between the two silences; "fixed" is a plain silence (600 ms offline,
    # Deepgram's 300 ms endpointing). SPECULATIVE_START lets the reply be prepared on a
    # probably-final transcript (never spoken before the turn is confirmed).
    turn_detection: Literal["adaptive", "fixed"] = "adaptive"
    turn_min_silence_ms: int = Field(default=200, ge=50, le=2000)
    turn_max_silence_ms: int = Field(default=1400, ge=200, le=5000)
    speculative_start: bool = True
    audio_chunk_ms: int = Field(default=100, ge=20, le=1000)
    first_chunk_ms: int = Field(default=40, ge=10, le=200)

    bot_host: str = "127.0.0.1"
    bot_port: int = Field(default=8765, ge=0, le=65535)
    bot_path: str = "/voice"
    bot_sample_rate: int = 16000
    bot_token: SecretStr | None = None
    monitor_token: SecretStr | None = None
    # /monitor without any token: only when asked for, and only on a loopback interface.
    monitor_open: bool = False
    # Web origins (scheme://host[:port], comma-separated) whose pages may open /voice or
    # /monitor. A browser always sends Origin; the Stream Node and our own clients send none.
    bot_allowed_origins: str = ""
    bot_script: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    record_dir: Path | None = None

    # Limits a deployment keeps (README, "Limits"): what one caller, or a burst of them, may cost.
    bot_max_calls: int = Field(default=200, ge=1)
    bot_idle_timeout_s: float = Field(default=30.0, gt=0)
    bot_max_audio_speed: float = Field(default=1.5, ge=1.0)
    bot_max_frames_per_s: int = Field(default=200, ge=10)
    record_max_mb: float = Field(default=2048.0, gt=0)
    record_max_age_days: float = Field(default=30.0, gt=0)
    # Offline recogniser decoders shared by all calls (~7 MiB each); 0: 2 per core + 2.
    stt_local_decoders: int = Field(default=0, ge=0, le=256)

    @field_validator("deepgram_api_key", "openai_api_key", "cartesia_api_key", "bot_token", "monitor_token")
    @classmethod
    def _one_token(cls, value: SecretStr | None) -> SecretStr | None:
        return check_secret(value)

    @field_validator("bot_sample_rate")
    @classmethod
    def _rate_supported(cls, value: int) -> int:
        if value not in SUPPORTED_RATES:
            raise ValueError(f"must be one of {', '.join(map(str, SUPPORTED_RATES))}")
        return value

    @field_validator("bot_allowed_origins")
    @classmethod
    def _origins_well_formed(cls, value: str) -> str:
        for origin in filter(None, (o.strip() for o in value.split(","))):
            if normalise_origin(origin) is None:
                raise ValueError("each origin must look like https://host or https://host:port")
        return value

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o for o in (normalise_origin(x) for x in self.bot_allowed_origins.split(",")) if o)

    def turn_config(self) -> TurnConfig | None:
        """The turn detector's limits (None: fixed silence)."""
        if self.turn_detection == "fixed":
            return None
        return TurnConfig(min_silence_ms=self.turn_min_silence_ms,
                          max_silence_ms=max(self.turn_min_silence_ms, self.turn_max_silence_ms))

    @field_validator("bot_path")
    @classmethod
    def _path_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


BOT_SECRETS = frozenset({"DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "BOT_TOKEN", "MONITOR_TOKEN"})


def load_bot_settings(**overrides: object) -> BotSettings:
    """Read settings; raise ConfigError (one line, no secret) if any is malformed."""
    try:
        settings = BotSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, secret_names=BOT_SECRETS)) from None
    register_secrets(settings)
    return settings


def register_secrets(settings: BaseSettings) -> None:
    """Hand every secret of `settings` to the one redactor, so no log line can show it."""
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            register_secret(value)
