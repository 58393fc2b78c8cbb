"""The layers, as a test: who may import whom.

- voice/, console/api/, sandbox/ and kcommon/ import no Textual: every module of theirs is
  imported in a fresh interpreter and `sys.modules` must hold no `textual` afterwards;
- nothing but console/app.py imports console.screens (the screens package itself aside);
- screens do not import console.api directly: they talk to console.actions / console.state;
- the sandbox imports from voice only the wire protocol and the Stream Node emulator (the
  caller, which the sandbox's Stream Node reuses to play its demo callers);
- kcommon, which every part imports, imports nothing but the standard library.

The import rules are read from the source (ast), so a lazy import inside a function counts
as much as one at the top. Each check is shown to fail on a planted violation.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NO_TEXTUAL = ("voice", "console.api", "sandbox", "kcommon")
SANDBOX_MAY_USE = ("voice.protocol", "voice.caller")

# Imports every module of the given packages, then reports what Textual it loaded (and
# what could not be imported at all, which is a failure of its own: a module that cannot be
# imported cannot be checked).
_PROBE = r"""
import importlib, json, pkgutil, sys
roots = json.loads(sys.argv[1])
failed = {}
for root in roots:
    package = importlib.import_module(root)
    names = [root] + [m.name for m in pkgutil.walk_packages(package.__path__, root + ".")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
textual = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(json.dumps({"textual": textual[:5], "failed": failed}))
"""


def textual_imported_by(roots: tuple[str, ...], *, path: Path = ROOT) -> dict[str, Any]:
    """Import every module under `roots` (found from `path`) in a subprocess; what loaded Textual?"""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(roots))],
        cwd=path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin", "HOME": str(path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every module `path` imports (absolute names; relative imports resolved against `module`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield base
            if not node.level and base.count(".") == 0:  # `from console import screens` names a module
                yield from (f"{base}.{alias.name}" for alias in node.names)


def _modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield ".".join(parts), path


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer_violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks a layer rule, as "importer -> imported: rule"."""
    found: list[str] = []
    for module, path in _modules(root, "console"):
        for name in set(_imports(path, module)):
            if _under(name, "console.screens") and module != "console.app" and not _under(module, "console.screens"):
                found.append(f"{module} -> {name}: only console.app imports console.screens")
            if _under(module, "console.screens") and _under(name, "console.api"):
                found.append(f"{module} -> {name}: screens use console.actions/console.state, not console.api")
    for module, path in _modules(root, "sandbox"):
        for name in set(_imports(path, module)):
            if _under(name, "voice") and not any(_under(name, ok) for ok in SANDBOX_MAY_USE) and name != "voice":
                found.append(f"{module} -> {name}: the sandbox uses only voice.protocol and voice.caller")
    for module, path in _modules(root, "kcommon"):
        for name in set(_imports(path, module)):
            top = name.split(".")[0]
            if top and top not in sys.stdlib_module_names and top not in ("kcommon", "__future__"):
                found.append(f"{module} -> {name}: kcommon imports only the standard library")
    return sorted(set(found))


# ---- the rules hold --------------------------------------------------------------------------


def test_the_library_layers_import_no_textual() -> None:
    result = textual_imported_by(NO_TEXTUAL)
    assert result["failed"] == {}, result["failed"]
    assert result["textual"] == [], f"Textual was imported by {NO_TEXTUAL}: {result['textual']}"


def test_the_import_rules_between_layers_hold() -> None:
    assert layer_violations() == []


# ---- and each check fails on a planted violation ------------------------------------------


def _copy_tree(tmp_path: Path, *packages: str) -> Path:
    for package in packages:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_planted_textual_import_is_reported(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path, "kcommon")
    (root / "kcommon" / "planted.py").write_text('"""A library module that draws."""\n\nimport textual.app  # noqa: F401\n')
    result = textual_imported_by(("kcommon",), path=root)
    assert result["failed"] == {}
    assert "textual" in result["textual"]


def test_planted_layer_violations_are_reported(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path, "console", "sandbox", "kcommon")
    (root / "console" / "widgets" / "planted.py").write_text("from console.screens.base import ViewScreen\n")
    (root / "console" / "screens" / "planted.py").write_text("def f():\n    from ..api import client\n")
    (root / "sandbox" / "planted.py").write_text("import voice.session\n")
    (root / "kcommon" / "planted.py").write_text("from pydantic import BaseModel\n")
    found = layer_violations(root)
    assert "console.widgets.planted -> console.screens.base: only console.app imports console.screens" in found
    assert any(v.startswith("console.screens.planted -> console.api") for v in found)
    assert "sandbox.planted -> voice.session: the sandbox uses only voice.protocol and voice.caller" in found
    assert "kcommon.planted -> pydantic: kcommon imports only the standard library" in found


def test_the_call_modules_stay_small() -> None:
    """One phone call's session and the emulated caller each stay one readable module:
    when one grows past 500 lines, lend a helper out (as voice/stt_lane.py,
    voice/utterance_end.py, voice/answer.py, voice/handoff.py and voice/caller/* were)."""
    for module in ("voice/session.py", "voice/caller/call.py"):
        lines = len((ROOT / module).read_text(encoding="utf-8").splitlines())
        assert lines < 500, f"{module} has {lines} lines"
