"""The echo-text guard: the bot's own words, heard back while it said them, are no turn."""

from __future__ import annotations

from voice.echo.guard import EchoTextGuard
from voice.playback import Utterance


def _spoken(text: str, start: float, seconds: float) -> Utterance:
    utt = Utterance(text)
    t = start
    while t < start + seconds - 1e-9:
        utt.chunks.append((t, min(0.1, start + seconds - t)))
        t += 0.1
    utt.complete = True
    return utt


def _guard() -> EchoTextGuard:
    guard = EchoTextGuard()
    guard.track(_spoken("Hello and thank you for calling Acme.", 10.0, 2.0))
    guard.track(_spoken("How can I help you today?", 12.0, 1.5))
    return guard


def test_what_the_bot_was_saying_is_echo() -> None:
    g = _guard()
    assert g.check("hello", speech_start=10.1, now=10.9).echo
    assert g.check("thank you for calling", speech_start=10.5, now=11.8).echo
    assert g.check("how can i help", speech_start=12.2, now=13.3).echo
    assert g.rejected == 3


def test_near_misses_of_the_recogniser_still_match() -> None:
    assert _guard().check("thanks for callin", speech_start=10.6, now=12.0).echo  # stem, and a dropped g


def test_the_callers_own_words_are_not_echo() -> None:
    g = _guard()
    assert not g.check("what are your opening hours", speech_start=12.0, now=13.6).echo
    assert not g.check("I want to speak to a person", speech_start=10.5, now=12.0).echo


def test_the_bots_words_long_after_they_played_are_the_caller() -> None:
    """A caller repeating 'hello' ten seconds later is talking, not echo."""
    assert not _guard().check("hello", speech_start=25.0, now=25.8).echo


def test_words_after_a_kill_audio_were_never_played() -> None:
    g = _guard()
    g.cut(10.6)  # barge-in: the rest of the greeting never reached the caller
    assert not g.check("calling acme", speech_start=11.5, now=12.2).echo
    assert g.check("hello", speech_start=10.1, now=10.9).echo


def test_mostly_new_words_make_a_turn() -> None:
    v = _guard().check("hello I need the prices please", speech_start=10.2, now=12.0)
    assert not v.echo and v.matched >= 1


def test_empty_and_unplayed() -> None:
    g = EchoTextGuard()
    assert not g.check("", speech_start=None, now=1.0).echo
    unplayed = Utterance("Goodbye")
    g.track(unplayed)
    assert not g.check("goodbye", speech_start=None, now=1.0).echo
