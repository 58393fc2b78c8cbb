"""The question left unanswered by cut replies is capped to what the caller said last.

Before: each cut turn's text was prefixed to the next with no cap; after 186 noise-triggered
turns the user message to the LLM was 1,479 characters and still growing.
"""

from __future__ import annotations

from voice.history import CallHistory

FEW_SECONDS_CHARS, FEW_SECONDS_WORDS = 250, 25  # about ten seconds of speech


def test_many_cut_turns_keep_only_the_last_few_seconds_of_words() -> None:
    memory = CallHistory()
    sizes = []
    for turn in range(186):
        question = memory.take_question(f"noise{turn} uh")  # the next turn takes the open question
        memory.answered(question, heard="")  # ... and is cut before a word was heard
        sizes.append(len(memory.unanswered))
    assert max(sizes) <= FEW_SECONDS_CHARS
    assert len(memory.unanswered.split()) <= FEW_SECONDS_WORDS
    assert memory.unanswered.endswith("noise185 uh")  # the newest words are the ones kept
    prompt = memory.prompt("system", memory.take_question("what are your hours"))
    assert prompt[-1].content.endswith("what are your hours")
    assert len(prompt[-1].content) <= FEW_SECONDS_CHARS + len(" what are your hours")
    assert memory.unanswered == ""


def test_a_short_unanswered_question_is_kept_whole_and_answered_ones_go_to_the_history() -> None:
    memory = CallHistory()
    memory.answered(memory.take_question("where are you located"), heard="")
    assert memory.unanswered == "where are you located"
    question = memory.take_question("and when do you open")
    assert question == "where are you located and when do you open"
    memory.answered(question, heard="We are on MG Road, open at nine.")
    assert [m.role for m in memory.messages] == ["user", "assistant"] and memory.unanswered == ""


def test_one_giant_word_is_cut_to_the_character_cap() -> None:
    memory = CallHistory(max_unanswered_chars=50)
    memory.answered("x" * 5000, heard="")
    assert len(memory.unanswered) == 50
