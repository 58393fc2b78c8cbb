"""The words side of the turn detector: complete and incomplete endings, Hinglish, digits."""

from __future__ import annotations

import pytest

from voice.turn.lexical import Ending, read_ending, tokens


@pytest.mark.parametrize("text", [
    "what are your opening hours", "What time do you close?", "where is my order", "has my order shipped",
    "haan what time do you close", "accha where is my order", "so my order uh has it shipped",
])
def test_complete_questions(text):
    assert read_ending(text).ending is Ending.QUESTION


@pytest.mark.parametrize("text", [
    "thank you", "yes", "no", "okay", "haan", "accha", "theek hai", "thik hai", "bas", "ji", "ठीक है", "हाँ",
    "mera order kahan hai", "aap open ho kya",
])
def test_closers_in_english_and_hinglish(text):
    assert read_ending(text).ending is Ending.CLOSER


@pytest.mark.parametrize(("text", "ending"), [
    ("I want to", Ending.CONTINUATION), ("my order number is", Ending.CONTINUATION), ("and", Ending.CONTINUATION),
    ("I want to check my order and", Ending.CONTINUATION), ("what time do you", Ending.CONTINUATION),
    ("where is", Ending.CONTINUATION), ("can you tell me the", Ending.CONTINUATION),
    ("theek hai aur", Ending.CONTINUATION), ("mera order number", Ending.STATEMENT),
    ("uh", Ending.FILLER), ("I want to uh", Ending.FILLER), ("um", Ending.FILLER), ("matlab", Ending.FILLER),
    ("I would like to know", Ending.OBJECT_OPEN), ("can you tell me", Ending.OBJECT_OPEN),
])
def test_incomplete_endings(text, ending):
    assert read_ending(text).ending is ending


def test_phone_number_read_in_groups_is_open_until_all_ten_digits():
    assert read_ending("my phone number is nine eight four five zero").ending is Ending.DIGITS_OPEN
    assert read_ending("my mobile number is 98450").ending is Ending.DIGITS_OPEN
    done = read_ending("my phone number is nine eight four five zero one two three four five")
    assert done.digits == 10 and done.ending is Ending.STATEMENT
    assert read_ending("my number is nine eight four double five").digits == 5  # 9 8 4 5 5


def test_order_ids_are_left_to_the_prosody():
    cue = read_ending("my order number is four five six")
    assert cue.ending is Ending.DIGITS and cue.digits == 3
    assert read_ending("ek do teen char").digits == 4  # Hindi digits count as digits


def test_yes_it_is_is_complete_but_where_is_is_not():
    assert read_ending("yes it is").ending is Ending.STATEMENT
    assert read_ending("where is").ending is Ending.CONTINUATION


@pytest.mark.parametrize("text", ["", "   ", "...", "?!", "🙂🙂", "\x00\x01", "a" * 5000, "हाँ " * 500, "12345678901234567890"])
def test_odd_text_never_raises(text):
    cue = read_ending(text)
    assert isinstance(cue.ending, Ending)


def test_devanagari_is_tokenised_not_dropped():
    assert tokens("मेरा ऑर्डर कहाँ है?") == ["मेरा", "ऑर्डर", "कहाँ", "है"]
    assert tokens("Theek HAI, accha!") == ["theek", "hai", "accha"]
