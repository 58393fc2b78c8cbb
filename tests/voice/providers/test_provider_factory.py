"""build_providers: offline with no configuration, vendors where keys allow, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcommon.errors import ConfigError
from voice.config import BotSettings
from voice.providers.base import LLMProvider, STTProvider, TTSProvider
from voice.providers.cartesia import CartesiaTTS
from voice.providers.deepgram import DeepgramSTT
from voice.providers.factory import ProviderSet, build_providers, choose
from voice.providers.local_stt import PocketsphinxSTT
from voice.providers.local_tts import EspeakTTS
from voice.providers.openai_llm import OpenAILLM
from voice.providers.openai_speech import OpenAISTT, OpenAITTS
from voice.providers.script import ScriptedLLM

KEYS = {"deepgram_api_key": "dg-KEY-111", "openai_api_key": "sk-KEY-222", "cartesia_api_key": "ca-KEY-333"}


def settings(**kw) -> BotSettings:
    return BotSettings(_env_file=None, **kw)  # type: ignore[call-arg]


def assert_protocols(p: ProviderSet) -> None:
    assert isinstance(p.stt, STTProvider) and isinstance(p.llm, LLMProvider) and isinstance(p.tts, TTSProvider)


def test_no_configuration_is_all_offline(monkeypatch):
    for var in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    p = build_providers(settings())
    assert_protocols(p)
    assert isinstance(p.stt, PocketsphinxSTT) and p.stt.vocabulary, "recogniser constrained to the script"
    assert isinstance(p.llm, ScriptedLLM) and isinstance(p.tts, EspeakTTS)
    assert p.fallback_tts is None
    assert p.script is not None
    assert p.description == "STT pocketsphinx (script vocabulary), LLM script receptionist.toml (9 intents), TTS espeak en-us"


def test_all_keys_use_the_guides_vendors_with_offline_fallback():
    p = build_providers(settings(**KEYS, cartesia_voice_id="v-1"))
    assert_protocols(p)
    assert isinstance(p.stt, DeepgramSTT) and isinstance(p.llm, OpenAILLM) and isinstance(p.tts, CartesiaTTS)
    assert isinstance(p.fallback_tts, EspeakTTS)
    assert p.description == "STT deepgram nova-2, LLM openai gpt-4o-mini, TTS cartesia sonic-english (fallback: espeak)"
    text = p.description + repr(p)
    assert not any(k in text for k in KEYS.values())


def test_openai_key_alone_gives_the_openai_pair():
    p = build_providers(settings(openai_api_key="sk-KEY-222"))
    assert isinstance(p.stt, OpenAISTT) and isinstance(p.llm, OpenAILLM) and isinstance(p.tts, OpenAITTS)
    assert isinstance(p.fallback_tts, EspeakTTS)


def test_local_compatible_llm_without_key():
    p = build_providers(settings(openai_base_url="http://127.0.0.1:11434/v1", openai_model="llama3.2"))
    assert isinstance(p.llm, OpenAILLM) and isinstance(p.stt, PocketsphinxSTT) and isinstance(p.tts, EspeakTTS)
    assert p.stt.vocabulary is None, "behind a real LLM the recogniser is not limited to the script"
    assert "LLM openai llama3.2 at 127.0.0.1:11434" in p.description


def test_explicit_choices_override_auto():
    p = build_providers(settings(**KEYS, stt_provider="local", llm_provider="script", tts_provider="openai"))
    assert isinstance(p.stt, PocketsphinxSTT) and isinstance(p.llm, ScriptedLLM) and isinstance(p.tts, OpenAITTS)
    assert choose(settings(**KEYS, stt_provider="openai", tts_provider="local")) == ("openai", "openai", "local")


@pytest.mark.parametrize(
    ("kw", "missing"),
    [({"stt_provider": "deepgram"}, "DEEPGRAM_API_KEY"), ({"tts_provider": "cartesia"}, "CARTESIA_API_KEY"),
     ({"llm_provider": "openai"}, "OPENAI_API_KEY"), ({"stt_provider": "openai"}, "OPENAI_API_KEY")],
)
def test_explicit_vendor_without_key_names_the_variable(kw, missing):
    with pytest.raises(ConfigError, match=missing):
        build_providers(settings(**kw))


def test_custom_and_broken_scripts(tmp_path: Path):
    good = tmp_path / "shop.toml"
    good.write_text('greeting = "Hi"\ngoodbye = "Bye"\nfallback = ["Eh?"]\n[[intents]]\nname = "a"\nkeywords = ["x"]\nreplies = ["y"]\n')
    p = build_providers(settings(bot_script=good))
    assert "LLM script shop.toml (1 intents)" in p.description
    bad = tmp_path / "bad.toml"
    bad.write_text("greeting = ")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        build_providers(settings(bot_script=bad))


async def test_warm_loads_offline_engines():
    p = build_providers(settings())
    await p.warm()
    assert isinstance(p.stt, PocketsphinxSTT) and p.stt.pool is not None and p.stt.pool.idle() >= 1
    await p.aclose()
