"""Console settings from the environment and `.env`.

KNOWLARITY_SR_API_KEY goes in the `Authorization` header and KNOWLARITY_API_KEY (the
application access key) in `x-api-key`, as the REST documentation says. The base URL
and the stream URL are settings so both can point at the sandbox. The stream URL is a
template: `{sr_api_key}` is filled in at connect time and never shown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kcommon.errors import ConfigError
from voice.config import check_secret, describe_validation_error, register_secrets

Channel = Literal["Basic", "Advance", "Premium", "Enterprise"]

DEFAULT_BASE_URL = "https://kpi.knowlarity.com"
DEFAULT_STREAM_URL = "https://konnect.knowlarity.com:8100/update-stream/{sr_api_key}/konnect"


class ConsoleSettings(BaseSettings):
    """Where the console connects and as whom."""

    model_config = SettingsConfigDict(env_file=".env", env_prefix="KNOWLARITY_", extra="ignore")

    sr_api_key: SecretStr | None = None
    api_key: SecretStr | None = None
    channel: Channel = "Basic"
    # The account's user name, for the endpoints documented with "USERNAME:KEY" headers
    # (plans, available numbers, tasks, agents). Off by default: bare keys everywhere.
    username: str | None = None
    base_url: str = DEFAULT_BASE_URL
    stream_url: str = DEFAULT_STREAM_URL
    timeout: float = Field(default=15.0, gt=0, le=300)
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=3, ge=0, le=10)
    k_number: str | None = None       # the SR number used as caller id / k_number for calls
    agent_number: str | None = None   # "my" number: picks my calls out of the account's stream

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_case(cls, value: object) -> object:
        if isinstance(value, str):
            for name in ("Basic", "Advance", "Premium", "Enterprise"):
                if value.strip().lower() == name.lower():
                    return name
        return value

    @field_validator("sr_api_key", "api_key")
    @classmethod
    def _one_token(cls, value: SecretStr | None) -> SecretStr | None:
        return check_secret(value)

    @field_validator("base_url", "stream_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def has_credentials(self) -> bool:
        return bool(self.sr_api_key and self.api_key)

    def require_credentials(self) -> None:
        """Raise ConfigError naming whichever key is missing."""
        missing = [n for n, v in (("KNOWLARITY_SR_API_KEY", self.sr_api_key), ("KNOWLARITY_API_KEY", self.api_key)) if not v]
        if missing:
            raise ConfigError(f"missing setting {', '.join(missing)} (set it in the environment or .env)")


CONSOLE_SECRETS = frozenset({"KNOWLARITY_SR_API_KEY", "KNOWLARITY_API_KEY"})


def load_console_settings(**overrides: object) -> ConsoleSettings:
    """Read settings; raise ConfigError (one line, no secret) if any is malformed."""
    try:
        settings = ConsoleSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, secret_names=CONSOLE_SECRETS, prefix="KNOWLARITY_")) from None
    register_secrets(settings)
    return settings
