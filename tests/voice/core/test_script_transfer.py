"""A scripted bot transfers out of the box (the script's number); TRANSFER_NUMBER wins."""

from __future__ import annotations

from tests.voice.core.core_fakes import FakeProviders
from tests.voice.core.harness import make_settings
from voice.cli_bot import transfer_line
from voice.providers.script import load_script
from voice.server import BotServer


def _providers() -> FakeProviders:
    providers = FakeProviders()
    providers.script = load_script(None)  # type: ignore[attr-defined]
    return providers


def test_default_script_names_a_transfer_number() -> None:
    assert load_script(None).transfer_number == "+918047100100"


async def test_server_adopts_the_script_number_when_none_is_set() -> None:
    settings = make_settings()
    async with BotServer(settings, providers=_providers(), prerender=False) as server:
        assert server.settings.transfer_number == "+918047100100"
        assert "from the bot script" in transfer_line(settings, server.settings)


async def test_transfer_number_setting_wins_over_the_script() -> None:
    settings = make_settings(transfer_number="+919000000001")
    async with BotServer(settings, providers=_providers(), prerender=False) as server:
        assert server.settings.transfer_number == "+919000000001"
        assert transfer_line(settings, server.settings) == "to +919000000001"
