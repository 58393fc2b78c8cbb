"""`kconsole` and `kconsole demo`: settings, keymaps, clear one-line errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from console import demo, launch
from kcommon.errors import ConfigError


def parse(module, argv: list[str]) -> argparse.Namespace:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    args.verbose = 0
    return args


def test_missing_keys_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("KNOWLARITY_SR_API_KEY", "KNOWLARITY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="KNOWLARITY_SR_API_KEY, KNOWLARITY_API_KEY"):
        launch.main(parse(launch, []))


def test_cli_prints_the_error_without_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from console.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KNOWLARITY_SR_API_KEY", "sr-secret-value")
    monkeypatch.delenv("KNOWLARITY_API_KEY", raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "KNOWLARITY_API_KEY" in err and "Traceback" not in err and "sr-secret-value" not in err
    assert main(["--sandbox", "ftp://nowhere"]) == 2
    assert "--sandbox must be an http:// URL" in capsys.readouterr().err


def test_sandbox_settings_use_its_stream_path_and_default_keys() -> None:
    args = parse(launch, ["--sandbox", "http://127.0.0.1:8100/", "--agent", "9811100000"])
    settings = launch.settings_from_args(args)
    assert settings.base_url == "http://127.0.0.1:8100"
    assert settings.stream_url == "http://127.0.0.1:8100/update-stream/{sr_api_key}/konnect"
    assert settings.sr_api_key is not None and settings.sr_api_key.get_secret_value() == "sandbox-sr-key"
    assert settings.agent_number == "9811100000"
    assert launch.describe_source(settings, True) == "sandbox 127.0.0.1:8100"


def test_keymap_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('"app.dial" = "ctrl+d"\n[view]\nagents = "f2"\n')
    assert launch.load_keymap(path) == {"app.dial": "ctrl+d", "view.agents": "f2"}
    path.write_text("app.dial = 3\n")
    with pytest.raises(ConfigError, match="must be a key name"):
        launch.load_keymap(path)
    path.write_text("not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        launch.load_keymap(path)
    with pytest.raises(ConfigError, match="cannot read"):
        launch.load_keymap(tmp_path / "missing.toml")


def test_bot_url_must_be_a_websocket(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parse(launch, ["--sandbox", "http://127.0.0.1:1", "--bot", "http://x/monitor"])
    with pytest.raises(ConfigError, match="ws://"):
        launch.main(args)


def test_demo_options() -> None:
    args = parse(demo, ["--traffic", "0", "--bot-every", "5", "--headless", "3"])
    assert (args.traffic, args.bot_every, args.headless) == (0.0, 5.0, 3.0)
    with pytest.raises(SystemExit):
        parse(demo, ["--bot-every", "0"])
