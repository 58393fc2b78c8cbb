"""Pick the providers for a bot from its settings: vendors where keys allow, offline otherwise.

`STT_PROVIDER`, `LLM_PROVIDER` and `TTS_PROVIDER` choose explicitly; "auto" (the
default) takes the vendor whose key is set, in the guide's order (Deepgram, then
OpenAI for speech; OpenAI for the LLM — also when only `OPENAI_BASE_URL` points at a
local compatible server; Cartesia, then OpenAI for TTS), and the offline provider
when none is. With no configuration at all everything is offline: pocketsphinx,
the bot script, eSpeak NG. Choosing a vendor explicitly without its key is a
ConfigError naming the missing variable.

The offline recogniser is constrained to the bot script's phrases when the script
answers (that is what makes it understand callers); behind a real LLM it uses the
general English model, since the caller may say anything.

Vendor modules are imported only when chosen: a fresh offline bot never pays for
importing the `openai` package.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kcommon.errors import ConfigError
from voice.config import BotSettings
from voice.providers.base import LLMProvider, STTProvider, TTSProvider

if TYPE_CHECKING:
    from voice.providers.script import BotScript


@dataclass
class ProviderSet:
    """What a bot speaks and listens with.

    `tts` is the main voice; `fallback_tts` (the offline eSpeak voice whenever `tts` is
    a vendor, else None) speaks any sentence the main voice fails on. `description` is
    one human line for banners and logs; it never contains a key. `script` is the bot
    script when the scripted responder is in use.
    """

    stt: STTProvider
    llm: LLMProvider
    tts: TTSProvider
    fallback_tts: TTSProvider | None = None
    description: str = ""
    script: BotScript | None = field(default=None, repr=False)

    async def warm(self) -> None:
        """Load what is slow to load (decoders, the speech library) before the first call."""
        seen: set[int] = set()
        for provider in (self.stt, self.llm, self.tts, self.fallback_tts):
            warm = getattr(provider, "warm", None)
            if provider is not None and id(provider) not in seen and callable(warm):
                seen.add(id(provider))
                await warm()

    async def aclose(self) -> None:
        """Close vendor HTTP clients (the Cartesia connection pool); idempotent."""
        for provider in (self.stt, self.llm, self.tts, self.fallback_tts):
            close = getattr(provider, "aclose", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    await close()


def _key(secret: Any) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def _need(condition: bool, choice: str, variable: str) -> None:
    if not condition:
        raise ConfigError(f"{choice} needs {variable}; set it in the environment or .env, or choose 'local'/'auto'")


def choose(settings: BotSettings) -> tuple[str, str, str]:
    """The (stt, llm, tts) provider names the settings select, without building anything."""
    dg, oa, ca = _key(settings.deepgram_api_key), _key(settings.openai_api_key), _key(settings.cartesia_api_key)
    stt = settings.stt_provider
    if stt == "auto":
        stt = "deepgram" if dg else "openai" if oa else "local"
    llm = settings.llm_provider
    if llm == "auto":
        llm = "openai" if (oa or settings.openai_base_url) else "script"
    tts = settings.tts_provider
    if tts == "auto":
        tts = "cartesia" if ca else "openai" if oa else "local"
    _need(stt != "deepgram" or dg, "STT_PROVIDER=deepgram", "DEEPGRAM_API_KEY")
    _need(stt != "openai" or oa or bool(settings.openai_base_url), "STT_PROVIDER=openai", "OPENAI_API_KEY (or OPENAI_BASE_URL)")
    _need(llm != "openai" or oa or bool(settings.openai_base_url), "LLM_PROVIDER=openai", "OPENAI_API_KEY (or OPENAI_BASE_URL)")
    _need(tts != "cartesia" or ca, "TTS_PROVIDER=cartesia", "CARTESIA_API_KEY")
    _need(tts != "openai" or oa or bool(settings.openai_base_url), "TTS_PROVIDER=openai", "OPENAI_API_KEY (or OPENAI_BASE_URL)")
    return stt, llm, tts


def build_providers(settings: BotSettings) -> ProviderSet:
    """Build the providers the settings select. Raises ConfigError for a bad choice or script."""
    from voice.providers.local_tts import EspeakTTS  # noqa: PLC0415 - a vendor's SDK loads only when chosen
    from voice.providers.script import ScriptedLLM, ScriptError, load_script  # noqa: PLC0415 - a vendor's SDK loads only when chosen

    stt_name, llm_name, tts_name = choose(settings)
    openai_at = ""
    if settings.openai_base_url:
        from voice.providers.openai_llm import endpoint_label  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        openai_at = f" at {endpoint_label(settings.openai_base_url)}"

    script = None
    llm: LLMProvider
    if llm_name == "script":
        try:
            script = load_script(settings.bot_script)
        except ScriptError as exc:
            raise ConfigError(str(exc)) from None
        llm = ScriptedLLM(script)
        script_label = settings.bot_script.name if settings.bot_script else "receptionist.toml"
        llm_desc = f"LLM script {script_label} ({len(script.intents)} intents)"
    else:
        from voice.providers.openai_llm import OpenAILLM  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        llm = OpenAILLM(settings.openai_api_key, model=settings.openai_model, base_url=settings.openai_base_url)
        llm_desc = f"LLM openai {settings.openai_model}{openai_at}"

    stt: STTProvider
    if stt_name == "deepgram":
        from voice.providers.deepgram import DeepgramSTT  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        assert settings.deepgram_api_key is not None
        stt = DeepgramSTT(
            settings.deepgram_api_key, url=settings.deepgram_url, model=settings.deepgram_model,
            language=settings.deepgram_language, turn=settings.turn_config(),
        )
        stt_desc = f"STT deepgram {settings.deepgram_model}"
    elif stt_name == "openai":
        from voice.providers.openai_speech import OpenAISTT  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        stt = OpenAISTT(settings.openai_api_key, model=settings.openai_stt_model, base_url=settings.openai_base_url)
        stt_desc = f"STT openai {settings.openai_stt_model}{openai_at}"
    else:
        from voice.providers.local_stt import DEFAULT_MAX_DECODERS, PocketsphinxSTT  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        vocabulary = script.vocabulary() if script is not None else None
        stt = PocketsphinxSTT(vocabulary, turn=settings.turn_config(),
                              max_decoders=settings.stt_local_decoders or DEFAULT_MAX_DECODERS)
        stt_desc = "STT pocketsphinx (script vocabulary)" if vocabulary is not None else "STT pocketsphinx (general English)"

    espeak = EspeakTTS()
    tts: TTSProvider
    fallback: TTSProvider | None = espeak
    if tts_name == "cartesia":
        from voice.providers.cartesia import CartesiaTTS  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        assert settings.cartesia_api_key is not None
        tts = CartesiaTTS(
            settings.cartesia_api_key, voice_id=settings.cartesia_voice_id, url=settings.cartesia_url,
            model=settings.cartesia_model, version=settings.cartesia_version,
        )
        tts_desc = f"TTS cartesia {settings.cartesia_model}"
    elif tts_name == "openai":
        from voice.providers.openai_speech import OpenAITTS  # noqa: PLC0415 - a vendor's SDK loads only when chosen

        tts = OpenAITTS(
            settings.openai_api_key, model=settings.openai_tts_model, voice=settings.openai_tts_voice,
            base_url=settings.openai_base_url,
        )
        tts_desc = f"TTS openai {settings.openai_tts_model} {settings.openai_tts_voice}{openai_at}"
    else:
        tts, fallback = espeak, None
        tts_desc = f"TTS espeak {espeak.voice}"
    if fallback is not None:
        tts_desc += " (fallback: espeak)"
    return ProviderSet(stt, llm, tts, fallback, f"{stt_desc}, {llm_desc}, {tts_desc}", script)
