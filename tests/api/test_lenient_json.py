"""The tolerant JSON reader: every documented oddity, valid JSON unchanged, clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.api.lenient_json import LenientJSONError, loads, parse_lenient


def test_valid_json_goes_through_the_standard_parser() -> None:
    assert loads('{"a": [1, 2.5, true, null, "x"]}') == {"a": [1, 2.5, True, None, "x"]}
    assert loads(b'[1]') == [1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{city: "Andhra Pradesh",\nid:3\n}', {"city": "Andhra Pradesh", "id": 3}),
        ('{message:"ok",\nNumber:phone_number\n}', {"message": "ok", "Number": "phone_number"}),
        ('{"id": x, "ref": 10000XXXXX}', {"id": "x", "ref": "10000XXXXX"}),
        ('{\n  "result": "done"\n  "status_code":1\n}', {"result": "done", "status_code": 1}),
        ('{"a": [1, 2,],}', {"a": [1, 2]}),
        ('{"a":null,\n,   "b":null}', {"a": None, "b": None}),
        ('{\n  "message": "iswrong.\n   }', {"message": "iswrong."}),
        ('{\n "app_data": "{"u":"admin","p":"x"}",\n "n": 1\n}', {"app_data": '{"u":"admin","p":"x"}', "n": 1}),
        ('{"objects": [\n {"a": 1,\n  ....\n },\n ....\n]}', {"objects": [{"a": 1}]}),
        ("{'a': True, 'b': None, 'c': False}", {"a": True, "b": None, "c": False}),
        ('{"a": {},\n},', {"a": {}}),
        ('{"s": "tab\\tquote\\" \\u00e9"}x', None),
    ],
)
def test_documented_oddities(text: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(LenientJSONError):
            loads(text)
    else:
        assert loads(text) == expected


def test_escapes_in_lenient_mode() -> None:
    assert parse_lenient('{s: "tab\\tquote\\" \\u00e9",}') == {"s": 'tab\tquote" é'}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "empty body"),
        ("<html><body>502 Bad Gateway</body></html>", "line 1"),
        ('{"a": 1', "object never closed"),
        ('{"a" 1}', "expected ':'"),
        ('[1, 2', "array never closed"),
        ('{"a": "never closed', "line 1"),
    ],
)
def test_hopeless_text_is_a_clear_error(text: str, where: str) -> None:
    with pytest.raises(LenientJSONError) as info:
        loads(text)
    assert where in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_names_line_and_column_not_content() -> None:
    with pytest.raises(LenientJSONError) as info:
        loads('{\n  "secret": "s3cr3t-value",\n  ) \n}')
    assert "expected ':'" in str(info.value) and "line 4" in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(LenientJSONError, match="nested too deeply"):
        parse_lenient("[" * 500 + "]" * 499)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_json, st.sampled_from([None, 1, 2]))
def test_the_lenient_parser_agrees_with_json_on_valid_json(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert parse_lenient(text) == json.loads(text)
