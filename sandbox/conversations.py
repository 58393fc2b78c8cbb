"""The demo's simulated callers: scripted conversations for the sandbox's Stream Node.

Each `Conversation` is what one caller says, turn by turn (see `voice.caller.Turn`).
The lines are the example phrases of the default bot script
(`voice/scripts/receptionist.toml`) word for word, because the offline recogniser is
built from those phrases: a demo caller must be understood by the demo bot, every
time, on any machine. `tests/voice/caller/test_streamnode.py` checks that every line
here is a phrase of that script, so the two cannot drift apart silently.

Together they show what the bot can do: answer questions one after another, follow an
order through a number, be interrupted mid-sentence (barge-in), hand a caller to a
person (transfer), and end the call on goodbye (disconnect).
"""

from __future__ import annotations

from voice.caller import Conversation, Turn

HOURS_PRICES_GOODBYE = Conversation(
    name="hours-prices-goodbye",
    description="asks the opening hours, then the prices, thanks the bot and says goodbye",
    turns=(
        Turn(say="what are your opening hours"),
        Turn(say="what are your prices"),
        Turn(say="thank you"),
        Turn(say="goodbye"),
    ),
    expect="disconnected",
)

ORDER_STATUS = Conversation(
    name="order-status",
    description="asks where an order is, gives the order number, then says goodbye",
    turns=(
        Turn(say="where is my order"),
        Turn(say="my order number is one two three four five"),
        Turn(say="goodbye"),
    ),
    expect="disconnected",
)

BARGE_IN = Conversation(
    name="barge-in",
    description="talks over the greeting, then over the answer (barge-in), then says goodbye",
    turns=(
        Turn(say="what are your opening hours", interrupt_after_ms=1200),
        Turn(say="where are you located", interrupt_after_ms=1500),
        Turn(say="goodbye"),
    ),
    expect="disconnected",
)

ASK_FOR_A_PERSON = Conversation(
    name="ask-for-a-person",
    description="says hello, asks the prices, then asks for a person and is transferred",
    turns=(
        Turn(say="hello"),
        Turn(say="how much does it cost"),
        Turn(say="can i speak to a person"),
    ),
    expect="transferred",
)

LOCATION = Conversation(
    name="location",
    description="asks where the business is, thanks the bot and says bye",
    turns=(
        Turn(say="where are you located"),
        Turn(say="thanks a lot"),
        Turn(say="bye bye"),
    ),
    expect="disconnected",
)

DEMO_CONVERSATIONS: tuple[Conversation, ...] = (
    HOURS_PRICES_GOODBYE,
    ORDER_STATUS,
    BARGE_IN,
    ASK_FOR_A_PERSON,
    LOCATION,
)


def by_name(name: str) -> Conversation:
    """A demo conversation by its name; KeyError lists the names there are."""
    for conversation in DEMO_CONVERSATIONS:
        if conversation.name == name:
            return conversation
    raise KeyError(f"no demo conversation {name!r}; there are: {', '.join(c.name for c in DEMO_CONVERSATIONS)}")
