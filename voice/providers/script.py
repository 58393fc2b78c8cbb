"""The offline responder: a bot script (TOML) and `ScriptedLLM`, which speaks it.

With no LLM key the bot still has to hold a sensible phone conversation, so it follows
a script: a greeting, intents (example phrases, keywords, replies, an optional
transfer or hang-up action), fallback lines and a goodbye. `ScriptedLLM` implements
the same `LLMProvider` Protocol as the OpenAI adapter, so the session cannot tell them
apart: it streams the reply word by word and emits `transfer_to_agent` / `end_call`
tool calls exactly where a real model would.

Matching is built for speech recognisers, not typists: words are normalised and
crudely stemmed, compared fuzzily ("our" heard for "hours" still counts), and scored
by overlap with every example phrase plus keyword hits, so a half-misheard sentence
still lands on the right intent. The responder keeps no per-call state: which reply
to use next and what the bot last asked are read back from the chat history, so one
instance serves every call.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import logging
import re
import tomllib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voice.providers.base import END_CALL_TOOL, TRANSFER_TOOL, ChatMessage, LLMDelta, TextDelta, ToolCall, ToolSpec
from voice.providers.text import (
    content_tokens,
    extract_digits,
    number_words,
    similarity,
    spell_digits,
    stem,
    words,
)

log = logging.getLogger("voice.providers.script")

DEFAULT_SCRIPT = "receptionist.toml"


class ScriptError(ValueError):
    """A bot script that cannot be used; the message names the file, line and field."""


class Intent(BaseModel):
    """One thing a caller may want, how to recognise it, and what to answer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    phrases: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    action: Literal["transfer", "end_call"] | None = None
    after: list[str] = Field(default_factory=list)
    capture: Literal["number"] | None = None

    @field_validator("phrases", "keywords", "replies")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("must not contain empty strings")
        return [item.strip() for item in value]

    @model_validator(mode="after")
    def _recognisable(self) -> Intent:
        if not self.phrases and not self.keywords:
            raise ValueError("needs at least one of 'phrases' or 'keywords'")
        if not self.replies and self.action != "end_call":
            raise ValueError("needs at least one reply in 'replies' (only an end_call intent may use the goodbye)")
        if self.capture is None and any("{number}" in r for r in self.replies):
            raise ValueError("a reply uses {number} but the intent has no capture = \"number\"")
        return self


class BotScript(BaseModel):
    """A whole conversation plan; load it with `load_script`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = "bot"
    greeting: str = Field(min_length=1)
    goodbye: str = Field(min_length=1)
    fallback: list[str] = Field(min_length=1)
    no_transfer: list[str] = Field(
        default_factory=lambda: ["I'm sorry, I can't transfer you right now. Please try again later."],
        min_length=1,
    )
    intents: list[Intent] = Field(min_length=1)
    # Where "transfer" intents send the caller when TRANSFER_NUMBER is not set, so a
    # scripted bot can transfer out of the box; TRANSFER_NUMBER always wins.
    transfer_number: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,15}$")
    # Below this score a caller's line is not understood and a fallback line is used.
    threshold: float = Field(default=0.45, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _references(self) -> BotScript:
        names = [i.name for i in self.intents]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"intent name {name!r} is used twice")
            seen.add(name)
        for intent in self.intents:
            for ref in intent.after:
                if ref not in seen:
                    raise ValueError(f"intent {intent.name!r}: 'after' names unknown intent {ref!r}")
        return self

    def intent(self, name: str) -> Intent:
        for intent in self.intents:
            if intent.name == name:
                return intent
        raise KeyError(name)

    def vocabulary(self) -> list[str]:
        """Every phrase a caller is expected to say, for constraining a recogniser.

        Phrases come first (whole sentences teach word order), then keywords and the
        number words, each once. A recogniser builds its language model from this.
        """
        out: list[str] = []
        seen: set[str] = set()

        def add(item: str) -> None:
            norm = " ".join(words(item))
            if norm and norm not in seen:
                seen.add(norm)
                out.append(norm)

        for intent in self.intents:
            for phrase in intent.phrases:
                add(phrase)
        for intent in self.intents:
            for kw in intent.keywords:
                add(kw)
        for w in number_words():
            add(w)
        for w in ("yes", "no", "thank you"):
            add(w)
        return out


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of a validation error's location in the TOML source."""
    lines = text.splitlines()
    if len(loc) >= 2 and loc[0] == "intents" and isinstance(loc[1], int):
        count = -1
        header = None
        for no, line in enumerate(lines, 1):
            if line.strip().startswith("[[intents]]"):
                count += 1
                if count == loc[1]:
                    header = no
                    break
        if header is None:
            return None
        if len(loc) >= 3 and isinstance(loc[2], str):
            for no in range(header, len(lines)):
                stripped = lines[no].strip()
                if stripped.startswith("[["):
                    break
                if re.match(rf"{re.escape(loc[2])}\s*=", stripped):
                    return no + 1
        return header
    if loc and isinstance(loc[0], str):
        for no, line in enumerate(lines, 1):
            if line.strip().startswith("["):
                break
            if re.match(rf"\s*{re.escape(loc[0])}\s*=", line):
                return no
    return None


def _describe(exc: ValidationError, text: str, source: str, data: dict[str, object]) -> str:
    parts = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        field = ""
        for part in loc:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        if len(loc) >= 2 and loc[0] == "intents" and isinstance(loc[1], int):
            intents = data.get("intents")
            if isinstance(intents, list) and loc[1] < len(intents) and isinstance(intents[loc[1]], dict):
                name = intents[loc[1]].get("name")
                if isinstance(name, str):
                    field += f" (intent {name!r})"
        line = _line_of(text, loc)
        where = f"line {line}, " if line else ""
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}{field or 'script'}: {msg}")
    return f"bad bot script {source}: " + "; ".join(parts)


def parse_script(text: str, *, source: str = "<script>") -> BotScript:
    """Parse TOML text into a BotScript, or raise ScriptError naming line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"bad bot script {source}: not valid TOML: {exc}") from None
    try:
        return BotScript.model_validate(data)
    except ValidationError as exc:
        raise ScriptError(_describe(exc, text, source, data)) from None


def load_script(path: str | Path | None = None) -> BotScript:
    """Load a bot script; None loads the packaged receptionist script."""
    if path is None:
        resource = importlib.resources.files("voice") / "scripts" / DEFAULT_SCRIPT
        return parse_script(resource.read_text(encoding="utf-8"), source=f"(packaged) {DEFAULT_SCRIPT}")
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ScriptError(f"bot script {p} does not exist") from None
    except OSError as exc:
        raise ScriptError(f"bot script {p} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptError(f"bad bot script {p}: not UTF-8 text (byte {exc.start})") from None
    return parse_script(text, source=str(p))


# ---- matching ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """The intent chosen for a caller's line (None: not understood) and how sure we are."""

    intent: Intent | None
    score: float
    number: str = ""


def _overlap(phrase: list[str], heard: list[str]) -> float:
    """F1 of fuzzy token overlap between an example phrase and what was heard."""
    if not phrase or not heard:
        return 0.0
    recall = sum(max(similarity(p, h) for h in heard) for p in phrase) / len(phrase)
    precision = sum(max(similarity(h, p) for p in phrase) for h in heard) / len(heard)
    if recall + precision == 0:
        return 0.0
    return 2 * recall * precision / (recall + precision)


class IntentMatcher:
    """Scores a caller's line against every intent of a script."""

    def __init__(self, script: BotScript) -> None:
        self.script = script
        # (tokens, compared on content words?) per phrase; a phrase made only of
        # stopwords ("thank you", "that is all") is compared on all its words.
        self._phrases: dict[str, list[tuple[list[str], bool]]] = {}
        for i in script.intents:
            entries = []
            for p in i.phrases:
                content = content_tokens(p)
                entries.append((content, True) if content else ([stem(w) for w in words(p)], False))
            self._phrases[i.name] = entries
        self._keywords = {i.name: [[stem(w) for w in words(k)] for k in i.keywords] for i in script.intents}

    def score(self, intent: Intent, heard_text: str, *, previous: str | None = None) -> float:
        heard = content_tokens(heard_text)
        all_words = [stem(w) for w in words(heard_text)]
        if not all_words:
            return 0.0
        phrase_score = 0.0
        for tokens, on_content in self._phrases[intent.name]:
            phrase_score = max(phrase_score, _overlap(tokens, heard if on_content else all_words))
        hits = 0.0
        for kw in self._keywords[intent.name]:
            if all(any(similarity(k, h) >= 0.8 for h in all_words) for k in kw):
                hits += 1
        keyword_score = 0.0 if hits == 0 else min(1.0, 0.5 + 0.2 * (hits - 1))
        score = max(phrase_score, keyword_score) + 0.1 * min(phrase_score, keyword_score)
        if intent.capture == "number":
            if not extract_digits(heard_text):
                return 0.0
            score = max(score, 0.5)
        if previous is not None and previous in intent.after:
            score += 0.3
        return score

    def match(self, heard_text: str, *, previous: str | None = None) -> Match:
        best: Intent | None = None
        best_score = 0.0
        for intent in self.script.intents:
            s = self.score(intent, heard_text, previous=previous)
            if s > best_score + 1e-9:
                best, best_score = intent, s
        if best is None or best_score < self.script.threshold:
            return Match(None, best_score)
        number = extract_digits(heard_text) if best.capture == "number" else ""
        return Match(best, best_score, number)


# ---- the responder ---------------------------------------------------------------------


def _norm_line(text: str) -> str:
    return " ".join(words(text))


class ScriptedLLM:
    """An `LLMProvider` that follows a BotScript instead of calling a model.

    `word_delay` (seconds) spaces the streamed words, to exercise a session's
    streaming path the way a real model's token stream would; 0 streams at once.
    """

    name = "script"

    def __init__(self, script: BotScript | None = None, *, word_delay: float = 0.0) -> None:
        self.script = script if script is not None else load_script(None)
        self.word_delay = word_delay
        self.matcher = IntentMatcher(self.script)
        # Every line the bot may say, normalised -> intent name ("" for fallbacks);
        # replies with {number} are kept as (prefix, suffix) templates.
        self._said: dict[str, str] = {}
        self._templates: list[tuple[str, str, str]] = []
        for intent in self.script.intents:
            for reply in intent.replies or [self.script.goodbye]:
                if "{number}" in reply:
                    prefix, _, suffix = reply.partition("{number}")
                    self._templates.append((_norm_line(prefix), _norm_line(suffix), intent.name))
                else:
                    self._said.setdefault(_norm_line(reply), intent.name)
        for line in [*self.script.fallback, *self.script.no_transfer]:
            self._said.setdefault(_norm_line(line), "")

    @property
    def greeting(self) -> str:
        return self.script.greeting

    def _intent_of(self, assistant_text: str) -> str | None:
        """Which intent produced a line the bot said (numbers stripped), if any."""
        norm = _norm_line(assistant_text)
        if norm in self._said:
            return self._said[norm] or None
        for prefix, suffix, name in self._templates:
            if norm.startswith(prefix) and norm.endswith(suffix):
                return name
        if len(norm) >= 10:
            # The history keeps what the caller heard: a reply cut short by barge-in.
            for line, name in self._said.items():
                if line.startswith(norm):
                    return name or None
            for prefix, _suffix, name in self._templates:
                if norm.startswith(prefix) and len(norm) > len(prefix):
                    return name
        return None

    def respond(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> tuple[str, ToolCall | None, Match]:
        """Decide the whole reply for this turn (text and an optional tool call)."""
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        assistant_lines = [m.content for m in messages if m.role == "assistant"]
        previous = self._intent_of(assistant_lines[-1]) if assistant_lines else None
        match = self.matcher.match(user, previous=previous)
        tool_names = {t.name for t in tools}
        intent = match.intent
        if intent is None:
            used = sum(1 for line in assistant_lines if _norm_line(line) in {_norm_line(f) for f in self.script.fallback})
            return self.script.fallback[used % len(self.script.fallback)], None, match
        if intent.action == "transfer" and TRANSFER_TOOL.name not in tool_names:
            used = sum(1 for line in assistant_lines if _norm_line(line) in {_norm_line(f) for f in self.script.no_transfer})
            return self.script.no_transfer[used % len(self.script.no_transfer)], None, match
        replies = intent.replies or [self.script.goodbye]
        if intent.capture == "number" and match.number:
            # The same order number always gets the same status.
            idx = int(hashlib.sha256(match.number.encode()).hexdigest(), 16) % len(replies)
            text = replies[idx].replace("{number}", spell_digits(match.number))
        else:
            used = sum(1 for line in assistant_lines if self._intent_of(line) == intent.name)
            text = replies[used % len(replies)]
        call: ToolCall | None = None
        if intent.action == "transfer":
            call = ToolCall(TRANSFER_TOOL.name, {})
        elif intent.action == "end_call" and END_CALL_TOOL.name in tool_names:
            call = ToolCall(END_CALL_TOOL.name, {})
        return text, call, match

    async def stream(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> AsyncIterator[LLMDelta]:
        text, call, match = self.respond(messages, tools)
        log.debug(
            "[SCRIPT] intent=%s score=%.2f", match.intent.name if match.intent else "-", match.score
        )
        for i, word in enumerate(text.split(" ")):
            if self.word_delay > 0 and i:
                await asyncio.sleep(self.word_delay)
            elif i and i % 8 == 0:
                await asyncio.sleep(0)  # stay cancellable between words
            yield TextDelta(word if i == 0 else " " + word)
        if call is not None:
            yield call

