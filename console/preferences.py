"""What a user chose, kept across restarts: one small TOML file in their config directory.

`$XDG_CONFIG_HOME/kconsole/preferences.toml` (else `~/.config/kconsole/...`): the agent
number that is "me", my calls or everyone's, the theme, the time zone, the bell for my
calls, and the tasks closed from this console (Knowlarity's API has no call to close a
task, so the console remembers which ones its user finished).

A missing file is the defaults; a broken one is reported once and replaced on the next
save, never a crash. Writes go to a temporary file renamed over the old one, so a crash
mid-write leaves the previous preferences intact.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger("console.preferences")

MAX_CLOSED_TASKS = 2000


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base.strip() and Path(base).is_absolute() else Path.home() / ".config"
    return root / "kconsole"


def preferences_path() -> Path:
    return config_dir() / "preferences.toml"


@dataclass
class Preferences:
    agent_number: str = ""
    mine_only: bool = False
    theme: str = ""
    time_zone: str = "local"          # "local" | "IST"
    ring_bell: bool = True            # a terminal bell (and a notification) when a call rings me
    closed_tasks: list[str] = field(default_factory=list)
    problem: str = ""                 # why the file could not be read (not saved)

    @classmethod
    def load(cls, path: Path | None = None) -> Preferences:
        path = path or preferences_path()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            log.warning("preferences %s unreadable: %s", path, exc)
            return cls(problem=f"{path} could not be read ({type(exc).__name__}); defaults used")
        prefs = cls()
        for f in fields(cls):
            if f.name == "problem" or f.name not in data:
                continue
            value = data[f.name]
            default = getattr(prefs, f.name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, list):
                ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            else:
                ok = isinstance(value, str)
            if ok:
                setattr(prefs, f.name, value)
        if prefs.time_zone not in ("local", "IST"):
            prefs.time_zone = "local"
        return prefs

    def save(self, path: Path | None = None) -> str | None:
        """Write the file; returns an error line (shown to the user) or None."""
        path = path or preferences_path()
        self.closed_tasks = self.closed_tasks[-MAX_CLOSED_TASKS:]
        data: dict[str, Any] = {k: v for k, v in asdict(self).items() if k != "problem"}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(_toml(data), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            return f"could not save preferences to {path}: {exc.strerror or exc}"
        return None


def _toml(data: dict[str, Any]) -> str:
    lines = ["# kconsole preferences (written by the console; safe to edit while it is closed)"]
    for key, value in data.items():
        lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    return f'"{text}"'
