"""Fuzzing every pydantic model of console.api and the live stream's event parser.

Whatever Knowlarity (or a proxy, or a bug) sends, the console must get a parsed value or a
clear, documented error — pydantic's ValidationError for a model, ValueError (LenientJSONError
is one) for a stream message that is not an object — never another exception that would end a
worker, the live stream or the app. The models are found by walking the package, so a model
added later is fuzzed too without anyone editing this file.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import console.api
from console.api.events import CallEvent, Cdr, UnknownEvent, parse_event
from console.api.lenient_json import loads

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# Per model fewer examples: ~35 models share the fault suite's time budget.
MODEL_FUZZ = settings(FUZZ, max_examples=60)

ODD_STRINGS = [
    "", " ", "None", "$None", "null", "undefined", "nan", "inf", "-inf", "1e400", "-0", "0x10", "1,000", "7.5",
    "2016-06-1716:18:21+00:00", "2015-11-2011:51:37.868542+05:30", "Thu, 30 Mar2017 18:24:24 +0530",
    "Fri, 1 Jul 201616:45:37 +0530", "2023-08-16T13:38:06", "2017-04-10", "9999-99-99 99:99:99", "0000-00-00",
    "2024-02-30 10:00:00", "2024-01-01 25:61:61+99:99", "31 Foo 2020", "99999999999", "1" * 40,
    "[1, 1,1, 1, 1, 0, 0]", "1111100", "[1,2]", "True", "yes", "enable", "+919876543210", "٣٤٥",
    "\x00", "'", '"', "{", "}", "CDR", "HANGUP", "originate",
]


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30), st.sampled_from(ODD_STRINGS),
    )


values = st.recursive(
    _scalars(), lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=10,
)


def _is_model(obj: object) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__.startswith("console.api")


def all_models() -> list[type[BaseModel]]:
    """Every pydantic model defined anywhere in console.api (generic ones parametrised)."""
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(console.api.__path__, "console.api."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, _is_model):
            found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    models: list[type[BaseModel]] = []
    for _name, cls in sorted(found.items()):
        if cls.__pydantic_generic_metadata__["parameters"]:
            agent = found.get("console.api.models.Agent")
            models.append(cls[agent] if agent is not None else cls[dict])  # type: ignore[index]
        else:
            models.append(cls)
    return models


MODELS = all_models()


def field_keys(model: type[BaseModel]) -> list[str]:
    keys: list[str] = []
    for name, info in model.model_fields.items():
        keys.append(name)
        if info.alias:
            keys.append(info.alias)
    return keys or ["x"]


def payloads(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with the model's own field names (and aliases), stray keys, and odd values."""
    keys = st.one_of(st.sampled_from(field_keys(model)), st.text(max_size=10),
                     st.sampled_from(["k_api_key", "event", "event_type", "type", "message", "meta", "objects"]))
    return st.dictionaries(keys, values, max_size=8)


def test_the_walk_finds_the_models() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"Agent", "Task", "Campaign", "CallLogRecord", "CallLogPage", "CallEvent", "Cdr"} <= names
    assert len(MODELS) >= 25


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_parses_or_raises_validation_error(model: type[BaseModel]) -> None:
    @MODEL_FUZZ
    @given(payload=st.one_of(payloads(model), values))
    def run(payload: Any) -> None:
        try:
            parsed = model.model_validate(payload)
        except ValidationError as exc:
            assert exc.errors(), "a ValidationError must say what was wrong"
            str(exc)
            return
        repr(parsed)  # printed in logs and the UI: must not raise either
        parsed.model_dump()
        parsed.model_dump_json()

    run()


@FUZZ
@given(st.dictionaries(
    st.one_of(st.sampled_from(["event_type", "event", "type", "uuid", "agent_number", "customer_number",
                               "caller_id", "destination", "Call_Type", "call_duration", "start_time",
                               "end_time", "k_api_key", "k_number", "dispnumber"]), st.text(max_size=8)),
    st.one_of(values, st.sampled_from(["CDR", "cdr ", "ORIGINATE", "hangup", "BRIDGE", "AGENT_CALL"])),
    max_size=10,
))
def test_stream_event_parser_on_dicts(data: dict[str, Any]) -> None:
    item = parse_event(data, received_at=datetime(2026, 11, 23))
    assert isinstance(item, (CallEvent, Cdr, UnknownEvent))
    repr(item)
    item.dedupe_key  # noqa: B018 - the stream dedupes on it for every item


@FUZZ
@given(st.dictionaries(st.sampled_from(["event_type", "type", "uuid", "agent_number", "call_duration", "start_time"]),
                       st.one_of(values, st.sampled_from(["CDR", "HANGUP", "ORIGINATE"])), max_size=5),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=24))
def test_stream_items_never_show_the_key(data: dict[str, Any], key: str) -> None:
    """`k_api_key` (documented "ignore") rides on every event: it must not reach a repr or the raw data."""
    secret = f"KEY-{key}"
    item = parse_event({**data, "k_api_key": secret})
    assert secret not in repr(item)
    assert secret not in repr(item.raw)
    assert secret not in repr(getattr(item, "data", {}))


@FUZZ
@given(st.one_of(values.filter(lambda v: not isinstance(v, dict)), st.text(max_size=200)))
def test_stream_event_parser_refuses_non_objects_clearly(data: Any) -> None:
    try:
        item = parse_event(data)
    except ValueError as exc:
        assert "object" in str(exc)
        return
    assert isinstance(data, dict) and isinstance(item, (CallEvent, Cdr, UnknownEvent))


def stream_message(text: str) -> Any:
    """What LiveStream does with one `data:` line: tolerant JSON, then parse_event."""
    return parse_event(loads(text))


@FUZZ
@given(st.one_of(
    st.text(max_size=300),
    values.map(lambda v: json.dumps(v, allow_nan=True)),
    values.map(repr),
    st.builds(lambda head, tail: head + tail, st.sampled_from(['{"event_type": "', "{event: ", "{'type': 'CDR', "]),
              st.text(max_size=60)),
))
def test_stream_message_text_parses_or_raises_value_error(text: str) -> None:
    try:
        item = stream_message(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(item, (CallEvent, Cdr, UnknownEvent))


@pytest.mark.parametrize("text", [
    "[" * 5000, "{" * 5000, '{"a":' * 3000, "[" * 150 + "]" * 150,
    '{"event_type": "HANGUP", "uuid": ' + "[" * 3000 + "]" * 3000 + "}",
], ids=["brackets", "braces", "objects", "150-deep", "in-a-field"])
def test_deeply_nested_stream_messages(text: str) -> None:
    """A hostile or broken stream can send nesting past Python's recursion limit."""
    try:
        stream_message(text)
    except ValueError:
        pass


@pytest.mark.parametrize("value", [1e20, -1e20, 2**70, float("inf"), "99999999999999999999", 10**30],
                         ids=["1e20", "-1e20", "2^70", "inf", "20-digit-text", "10^30"])
def test_out_of_range_epoch_dates_do_not_escape(value: Any) -> None:
    """Epoch seconds far outside the platform's time_t: None (unreadable date), not OverflowError."""
    for model in MODELS:
        date_fields = [n for n, f in model.model_fields.items() if "datetime" in str(f.annotation)]
        for name in date_fields:
            try:
                model.model_validate({name: value})
            except ValidationError:
                pass
