"""Every record of every logger is formatted as data, escaped and redacted (kcommon.logsafe)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from kcommon import logsafe
from kcommon.redact import register_secret
from kcommon.text import escape_controls, has_controls


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    logsafe.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def test_escape_controls_makes_every_control_visible_and_keeps_text() -> None:
    assert escape_controls("a\r\nb\x1b[2J\x00\x7f\x85\u2028\u202e ü 日本") == \
        "a\\r\\nb\\x1b[2J\\0\\x7f\\x85\\u2028\\u202e ü 日本"
    assert escape_controls("tb\n  line\r", keep_newlines=True) == "tb\n  line\\r"
    assert has_controls("x\x1b") and not has_controls("plain ü")


@pytest.mark.parametrize("name", ["httpx", "httpcore.http11", "websockets.client", "aiohttp.access", "voice.x", "anything"])
def test_child_loggers_of_every_library_are_redacted_and_escaped(stream: io.StringIO, name: str) -> None:
    register_secret("lib-secret-Q9xZ2vB7")
    logging.getLogger(name).debug("send_request_headers.started request=<Request [b'GET', b'/k/%s']> %s",
                                  "lib-secret-Q9xZ2vB7", "LIB-SECRET-Q9XZ2VB7\r\nforged")
    text = stream.getvalue()
    assert "Q9xZ2vB7".lower() not in text.lower()
    assert text.count("\n") == 1 and "\\r\\nforged" in text


def test_a_bad_format_keeps_its_line(stream: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("x").warning("%d calls from %s", "many")
    logging.getLogger("x").warning("100% sure")  # no arguments: no formatting at all
    assert "--- Logging error ---" not in capsys.readouterr().err
    assert "%d calls from %s [unformatted arguments: ('many',)]" in stream.getvalue()
    assert "100% sure" in stream.getvalue()


def test_exception_texts_are_redacted_and_their_messages_kept_on_one_line(stream: io.StringIO) -> None:
    register_secret("exc-secret-77Hq")
    try:
        raise RuntimeError("bad key exc-secret-77Hq\r\n2026 [call_id=x] forged")
    except RuntimeError:
        logging.getLogger("voice.t").exception("failed")
    text = stream.getvalue()
    assert "exc-secret-77Hq" not in text and "***" in text
    assert "RuntimeError: bad key ***\\r\\n2026 [call_id=x] forged" in text
    assert "\n2026" not in text


def test_huge_messages_are_capped(stream: io.StringIO) -> None:
    logging.getLogger("x").info("%s", "y" * 1_000_000)
    assert len(stream.getvalue()) < logsafe.MAX_MESSAGE_CHARS + 200


def test_install_is_idempotent_and_keeps_a_previous_factory() -> None:
    saved = logging.getLogRecordFactory()
    seen: list[str] = []

    def theirs(*args: object, **kwargs: object) -> logging.LogRecord:
        record = logging.LogRecord(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(record.name)
        return record

    try:
        logging.setLogRecordFactory(theirs)
        logsafe.install()
        logsafe.install()
        record = logging.getLogger("lib").makeRecord("lib", logging.INFO, "f", 1, "a\nb", (), None)
        assert seen == ["lib"] and isinstance(record, logsafe.SafeLogRecord)
        assert record.getMessage() == "a\\nb"
    finally:
        logging.setLogRecordFactory(saved)
        logsafe.install()
