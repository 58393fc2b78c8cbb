"""Settings: one clear line per bad value, never a secret's value, working offline defaults."""

from __future__ import annotations

import pytest

from console.config import load_console_settings
from kcommon.errors import ConfigError
from voice.config import load_bot_settings


def test_bot_runs_with_no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    s = load_bot_settings()
    assert s.deepgram_api_key is None and s.bot_sample_rate == 16000 and s.audio_chunk_ms == 100


def test_guide_names_are_read_from_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GREETING=Namaste!\nTRANSFER_NUMBER=+919000000000\nAUDIO_CHUNK_MS=60\nOPENAI_API_KEY=sk-secret\n")
    s = load_bot_settings()
    assert (s.greeting, s.transfer_number, s.audio_chunk_ms) == ("Namaste!", "+919000000000", 60)
    assert "sk-secret" not in repr(s) and s.openai_api_key is not None
    assert s.openai_api_key.get_secret_value() == "sk-secret"


def test_bad_bot_setting_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_SAMPLE_RATE", "11025")
    with pytest.raises(ConfigError, match="BOT_SAMPLE_RATE") as info:
        load_bot_settings()
    assert "\n" not in str(info.value)


def test_console_settings_channel_and_urls(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KNOWLARITY_CHANNEL", "premium")
    monkeypatch.setenv("KNOWLARITY_SR_API_KEY", "sr-secret-123")
    monkeypatch.setenv("KNOWLARITY_BASE_URL", "http://127.0.0.1:9/")
    s = load_console_settings()
    assert s.channel == "Premium" and s.base_url == "http://127.0.0.1:9"
    assert "sr-secret-123" not in repr(s)
    with pytest.raises(ConfigError, match="KNOWLARITY_API_KEY"):
        s.require_credentials()


def test_bad_console_setting_is_one_line_without_the_secret(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KNOWLARITY_CHANNEL", "Gold")
    monkeypatch.setenv("KNOWLARITY_TIMEOUT", "-1")
    with pytest.raises(ConfigError) as info:
        load_console_settings()
    text = str(info.value)
    assert "KNOWLARITY_CHANNEL" in text and "KNOWLARITY_TIMEOUT" in text and "\n" not in text
