"""The reusable loose types, dates, phone numbers and redaction."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from console.api.dates import IST, format_api_datetime, format_api_minute, parse_datetime
from console.api.loose import (
    CallScheduling,
    KModel,
    LooseBool,
    LooseDatetime,
    LooseInt,
    LooseStr,
    is_missing,
)
from console.api.phone import normalize_number, same_number
from kcommon import logsafe
from kcommon.redact import Redactor, redact, register_secret

UTC = UTC


class Sample(BaseModel):
    n: LooseInt = None
    b: LooseBool = None
    s: LooseStr = None
    d: LooseDatetime = None
    days: CallScheduling = None


@pytest.mark.parametrize("value", [None, "", "None", "$None", "null", "  none  "])
def test_missing_values_become_none(value: object) -> None:
    assert is_missing(value)
    assert Sample(n=value, b=value, s=value, d=value, days=value) == Sample()


@pytest.mark.parametrize(("value", "expected"), [(7, 7), ("7", 7), ("900", 900), (" 7.0 ", 7), (1.6, 2), (True, 1), ("1,234", 1234)])
def test_loose_int(value: object, expected: int) -> None:
    assert Sample(n=value).n == expected


@pytest.mark.parametrize("value", ["seven", "6xx793", float("nan"), [1]])
def test_loose_int_refuses_garbage_clearly(value: object) -> None:
    with pytest.raises(ValidationError, match="whole number"):
        Sample(n=value)


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), ("true", True), ("True", True), (1, True), ("1", True), ("yes", True), ("enable", True),
    (False, False), ("false", False), ("False", False), (0, False), ("0", False), ("disabled", False),
])
def test_loose_bool(value: object, expected: bool) -> None:
    assert Sample(b=value).b is expected


def test_loose_bool_refuses_garbage() -> None:
    with pytest.raises(ValidationError, match="true/false"):
        Sample(b="maybe")


def test_loose_str_turns_ids_into_text() -> None:
    assert Sample(s=4369999).s == "4369999" and Sample(s=3.0).s == "3" and Sample(s=" x ").s == "x"


@pytest.mark.parametrize(("text", "expected"), [
    ("2016-10-21 07:25:05+00:00", datetime(2016, 10, 21, 7, 25, 5, tzinfo=UTC)),
    ("2023-08-16T13:38:06", datetime(2023, 8, 16, 13, 38, 6, tzinfo=IST)),
    ("2015-11-2011:51:37.868542+05:30", datetime(2015, 11, 20, 11, 51, 37, 868542, tzinfo=IST)),
    ("Thu, 30 Mar2017 18:24:24 +0530", datetime(2017, 3, 30, 18, 24, 24, tzinfo=IST)),
    ("Fri, 1 Jul 201616:45:37 +0530", datetime(2016, 7, 1, 16, 45, 37, tzinfo=IST)),
    ("2016-06-1716:18:21+00:00", datetime(2016, 6, 17, 16, 18, 21, tzinfo=UTC)),
    ("2017-04-2500:00:00", datetime(2017, 4, 25, tzinfo=IST)),
    ("2017-04-10", datetime(2017, 4, 10, tzinfo=IST)),
    ("2023-11-30 15:20:00.365000", datetime(2023, 11, 30, 15, 20, 0, 365000, tzinfo=IST)),
    ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("Mon, 01 Jan 2024 10:00:00 GMT", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ("2024-01-01 10:00:00-0400", datetime(2024, 1, 1, 14, tzinfo=UTC)),
])
def test_every_documented_date_shape(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected and parsed.tzinfo is not None
    assert Sample(d=text).d == expected


@pytest.mark.parametrize("text", ["yesterday", "2017-13-01", "2017-02-30 10:00", "31 Foo 2017 10:00"])
def test_malformed_dates(text: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_datetime(text)
    assert Sample(d=text).d is None  # a record with one bad date still loads


def test_date_objects_and_formatting() -> None:
    assert parse_datetime(date(2024, 2, 3)) == datetime(2024, 2, 3, tzinfo=IST)
    assert parse_datetime(datetime(2024, 2, 3, 4, 5)).tzinfo is IST
    assert parse_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    moment = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert format_api_datetime(moment) == "2024-01-01 05:30:00"
    assert format_api_minute(moment) == "2024-01-01 05:30"


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)))
def test_api_format_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=0, tzinfo=IST)
    assert parse_datetime(format_api_datetime(moment)) == moment


@pytest.mark.parametrize(("value", "expected"), [
    ("[1, 1,1, 1, 1, 0, 0]", [1, 1, 1, 1, 1, 0, 0]),
    ([1, 1, 1, 1, 1, 1, 1], [1] * 7),
    ("1,1,1,1,1,0,0", [1, 1, 1, 1, 1, 0, 0]),
    ("1111100", [1, 1, 1, 1, 1, 0, 0]),
    ([True, False, True, False, True, False, True], [1, 0, 1, 0, 1, 0, 1]),
])
def test_call_scheduling(value: object, expected: list[int]) -> None:
    assert Sample(days=value).days == expected


@pytest.mark.parametrize("value", ["[1, 1, 1]", "[1, 2, 1, 1, 1, 1, 1]", "weekdays", 5])
def test_call_scheduling_refuses_bad_weeks(value: object) -> None:
    with pytest.raises(ValidationError, match="call_scheduling"):
        Sample(days=value)


def test_extra_fields_are_kept_and_secret_ones_hidden_from_repr() -> None:
    class Thing(KModel):
        name: LooseStr = None

    thing = Thing.model_validate({"name": "x", "new_field": 5, "app_api_key": "k-123456", "password": "hunter2"})
    assert thing.new_field == 5 and thing.app_api_key == "k-123456"  # type: ignore[attr-defined]
    for text in (repr(thing), str(thing)):
        assert "new_field=5" in text and "k-123456" not in text and "hunter2" not in text


@pytest.mark.parametrize(("raw", "expected"), [
    ("+91 98765-43210", "+919876543210"),
    ("919876543210", "+919876543210"),
    ("09876543210", "+919876543210"),
    ("9876543210", "+919876543210"),
    ("0091 98765 43210", "+919876543210"),
    ("(98765) 43210", "+919876543210"),
    ("+1 (415) 555-0100", "+14155550100"),
    ("14155550100", "+14155550100"),
    ("1800", "1800"),
    ("+91XXXXXXXXXX", "+91XXXXXXXXXX"),
    ("Abandoned", "Abandoned"),
    ("", None),
    (None, None),
    ("None", None),
])
def test_normalize_number(raw: object, expected: str | None) -> None:
    assert normalize_number(raw) == expected


def test_same_number() -> None:
    assert same_number("+91 98765 43210", "09876543210")
    assert not same_number("+91XXXXXXXXXX", "+91XXXXXXXXXX")  # masked numbers never match
    assert not same_number(None, None) and not same_number("9876543210", "9876543211")


def test_redactor_hides_keys_and_stream_path_keys() -> None:
    hide = Redactor(["abc-secret-key", None, ""])
    text = hide("GET https://h:8100/update-stream/other-unregistered/konnect with abc-secret-key")
    assert text == "GET https://h:8100/update-stream/***/konnect with ***"
    assert "2 secrets" not in repr(hide) and "abc" not in repr(hide)


def test_httpx_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("Zq7-httpx-key-9xW")
    logsafe.install()
    logsafe.install()  # idempotent
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET", "http://h/update-stream/abc/konnect", "Zq7-httpx-key-9xW")
    assert "abc" not in caplog.text and "Zq7-httpx-key-9xW" not in caplog.text and "update-stream/***" in caplog.text
    assert redact("x Zq7-httpx-key-9xW y") == "x *** y"


def test_time_delta_sanity() -> None:
    assert IST.utcoffset(None) == timedelta(hours=5, minutes=30)
