"""The one redactor: registered secrets in every common form, secret shapes, URLs."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcommon.redact import Redactor, redact_data, redact_url, register_secret

KEY = "Zx9kQ2mP7vL4/tR8+sW1yB3nC6"


@pytest.mark.parametrize("form", [
    KEY, KEY.upper(), KEY.lower(), quote(KEY, safe=""), quote_plus(KEY), quote(KEY, safe="").lower(),
    base64.b64encode(KEY.encode()).decode(), base64.urlsafe_b64encode(KEY.encode()).decode(),
    base64.b64encode(b"user:" + KEY.encode()).decode(), base64.b64encode(b"ab:" + KEY.encode()).decode(),
    KEY[:9], KEY[-9:], KEY[5:20],
])
def test_every_common_form_of_a_key_is_hidden(form: str) -> None:
    out = Redactor([KEY])(f"echo: {form} end")
    assert out.startswith("echo: ") and out.endswith(" end") and "***" in out
    assert not any(KEY[i : i + 8].lower() in out.lower() for i in range(len(KEY) - 7))


def test_a_partial_echo_is_hidden_whole_and_short_keys_only_whole() -> None:
    hide = Redactor([KEY, "short-key1"])
    assert hide(f"x{KEY[3:21]}y") == "x***y"
    assert hide("short-key is not short-key1") == "short-key is not ***"


def test_shapes_need_no_registration() -> None:
    hide = Redactor()
    assert hide("GET http://h/update-stream/abc/konnect") == "GET http://h/update-stream/***/konnect"
    assert hide("ftp://admin:pw@host/x") == "ftp://***@host/x"
    assert hide("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert hide("> Authorization: Token dg-123") == "> Authorization: Token ***"
    assert hide("x-api-key: k1") == "x-api-key: ***"
    assert hide("/voice;token=abc?api_key=z&sample_rate=8000") == "/voice;token=***?api_key=***&sample_rate=8000"
    assert hide("ws://h/voice#TOKEN and more") == "ws://h/voice#*** and more"


@pytest.mark.parametrize(("url", "shown"), [
    ("ws://u:p@h:9/voice/0123?token=s&sample_rate=8000", "ws://h:9/voice/***?token=***&sample_rate=8000"),
    ("ws://h/voice#TOKEN", "ws://h/voice#***"),
    ("/voice;token=abc", "/voice;***"),
    ("/voice?SECRET", "/voice?***"),
    ("wss://[::1]:8443/voice/t0k", "wss://[::1]:8443/voice/***"), ("ws://h/bots/acme/voice?lang=en", "ws://h/bots/acme/voice?lang=en"),
    ("http://[bad", "<invalid URL>"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_url_with_public_segments_hides_a_token_in_the_first_segment() -> None:
    assert redact_url("/s3cret", public_segments={"voice"}) == "/***"
    assert redact_url("http://h/update-stream/KEY/konnect", public_segments=("update-stream", "konnect")) == \
        "http://h/update-stream/***/konnect"


def test_redact_data_walks_bodies() -> None:
    register_secret("body-secret-123")
    assert redact_data({"a": ["body-secret-123", 1], "body-secret-123": None}) == {"a": ["***", 1], "***": None}


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=6, max_size=40).filter(lambda k: k.strip() == k and len(set(k)) > 3), st.text(max_size=30),
       st.text(max_size=30))
def test_a_registered_key_never_survives_in_any_text(key: str, before: str, after: str) -> None:
    out = Redactor([key])(before + key + after)
    assert key not in out
