"""The kconsole router: subcommands found, one clear line on a bad setting, no traceback."""

from __future__ import annotations

import pytest

from console import cli


def test_default_command_is_the_console() -> None:
    assert cli.with_default_command([]) == ["console"]
    assert cli.with_default_command(["--sandbox", "http://x"]) == ["console", "--sandbox", "http://x"]
    assert cli.with_default_command(["demo"]) == ["demo"]
    assert cli.with_default_command(["-v"]) == ["-v", "console"]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_config_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sandbox.cli
    from kcommon.errors import ConfigError

    def boom(args: object) -> int:
        raise ConfigError("missing setting KNOWLARITY_API_KEY (set it in the environment or .env)")

    monkeypatch.setattr(sandbox.cli, "main", boom)  # the command's own entry point, as the router finds it
    assert cli.main(["sandbox"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "kconsole: missing setting KNOWLARITY_API_KEY (set it in the environment or .env)"
