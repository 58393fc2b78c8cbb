"""Tests use the product's public API: no test reads or patches a private name without a reason.

A test that reaches into `obj._thing` pins how the product is built rather than what it does,
so a refactor breaks it and a bug behind a public seam goes unseen. Where a test needs to see
something, the product gets a small public, documented API (`LiveStream.delivered`,
`DeepgramStream.unconfirmed_bytes`, `FormScreen.choices`, ...), or the test goes through
behaviour (what the screen shows). This reads every test module (ast) for
- attribute access to a single-underscore name on anything but `self`/`cls`,
- `from first_party import _name`,
- `monkeypatch.setattr(target, "_name", ...)` (and getattr/setattr/delattr with such a name),
and fails on one not in ALLOWED, each with its reason. Shown failing on planted reads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("console", "voice", "sandbox", "kcommon", "bench", "tests")

# (path relative to the repo, the expression as ast.unparse writes it) -> why it must stay.
ALLOWED: dict[tuple[str, str], str] = {
    ("tests/faults/test_fault_vendors.py", "super()._chat"):
        "a failing vendor double extends the OpenAI test double's own handler; both are test code",
    ("tests/voice/providers/test_pocketsphinx_stt.py", "stream._process"):
        "drives the decoder synchronously, frame by frame, to pin the frame at which the early second pass "
        "runs; through send() the frame would depend on the thread pool's timing",
    ("tests/voice/providers/test_pocketsphinx_stt.py", "local_stt.PocketsphinxStream._process"):
        "a spy on the decode step records which thread runs it: the claim under test is that decoding "
        "never runs on the event loop, which no public result can show",
    ("tests/voice/providers/test_pocketsphinx_stt.py", "monkeypatch.setattr(local_stt.PocketsphinxStream, '_process', spy)"):
        "the same spy, installed (see the entry above)",
    ("tests/console/test_flood.py", "app._display"):
        "counts the frames Textual paints (Textual has no public hook for a painted frame): the claim under "
        "test is that a view switch under a flood paints at once",
    ("tests/console/test_flood.py", "app._batch_count"):
        "the same frame hook: a frame Textual holds back inside a batch_update is not written, so it is "
        "not counted as painted",
    ("tests/voice/providers/test_espeak_tts.py", "local_tts._Engine"):
        "the eSpeak engine is a process-wide singleton loaded once; building one directly is the only way "
        "to see a load failure in a test process that already loaded it",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_reads(source: str) -> list[tuple[int, str]]:
    """(line, expression) for every private-name use in test `source`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FIRST_PARTY:
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            func = ast.unparse(node.func)
            name = node.args[1]
            if (func.endswith(("setattr", "getattr", "delattr")) and isinstance(name, ast.Constant)
                    and isinstance(name.value, str) and _private(name.value)):
                found.append((node.lineno, ast.unparse(node)))
    return found


def offenders(root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / "tests").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "tests/contracts/test_private_reads.py":
            continue  # its planted examples
        for line, expression in private_reads(path.read_text(encoding="utf-8")):
            if (rel, expression) not in ALLOWED:
                out.append(f"{rel}:{line}: {expression}")
    return out


def test_no_test_reads_a_private_name_without_a_reason() -> None:
    found = offenders()
    assert not found, "private names read by tests (add a public seam, or test the behaviour):\n" + "\n".join(found)


def test_every_allowed_read_has_a_reason_and_is_still_there() -> None:
    for (rel, expression), reason in ALLOWED.items():
        assert len(reason) > 30, f"{rel} {expression}: say why"
        found = {e for _, e in private_reads((ROOT / rel).read_text(encoding="utf-8"))}
        assert expression in found, f"{rel} no longer reads {expression}: drop it from ALLOWED"


@pytest.mark.parametrize("planted", [
    "assert screen._status == 'x'",
    "stream._duplicate(item)",
    "from console.cli import _with_default_command",
    "monkeypatch.setattr(stream, '_buf', bytearray())",
    "x = app.query_one('#a')._options",
])
def test_a_planted_private_read_is_found(planted: str) -> None:
    assert private_reads(planted + "\n"), planted


@pytest.mark.parametrize("clean", [
    "self._seen = 1",
    "assert stream.delivered.seen_before(item)",
    "from console.cli import with_default_command",
    "x.__class__.__name__",
    "from textual.widgets._select import SelectOverlay",
])
def test_public_use_is_not_flagged(clean: str) -> None:
    assert not private_reads(clean + "\n"), clean
