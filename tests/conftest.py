"""Suite-wide fixtures: the sandbox (`sandbox`, `sandbox_factory`) from sandbox.testing."""

pytest_plugins = ["sandbox.testing"]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console keeps preferences in the user's config dir: tests never touch the real one."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
