"""console.state: the calls board, agents, tasks and bot calls, without any widget."""

from __future__ import annotations

from console.state import AgentRow, BotCalls, CallsBoard, TaskRow, TasksState, ViewFilter, normalize_number
from voice.bus import (
    AudioFrame,
    BargeIn,
    BotSentence,
    CallEnded,
    CallStarted,
    Dropped,
    StateChanged,
    TranscriptEvent,
    Transferred,
    TurnMetrics,
)


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def inbound(board: CallsBoard, uuid: str, events: list[str], *, agent: str = "9876500001", customer: str = "09811112222") -> None:
    for event in events:
        board.ingest_event(uuid, event, direction="Inbound", customer=customer,
                           agent=None if event == "ORIGINATE" else agent, knumber="918047100100")


def test_numbers_are_normalised_every_documented_way() -> None:
    for raw in ("+919811112222", "919811112222", "09811112222", "9811112222", "98111 12222"):
        assert normalize_number(raw) == "+919811112222"
    assert normalize_number("None") is None and normalize_number("") is None


def test_a_call_moves_through_its_events_on_one_row_then_to_history() -> None:
    clock = Clock()
    board = CallsBoard(clock=clock, linger_s=5)
    inbound(board, "u1", ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER"])
    row = board.active["u1"]
    assert (row.event, row.customer, row.agent, row.direction) == ("AGENT_ANSWER", "+919811112222", "+919876500001", "Inbound")
    clock.t += 12
    assert row.duration(clock()) == 12
    inbound(board, "u1", ["BRIDGE", "HANGUP"])
    assert row.finished and "u1" in board.active  # lingers so the user sees it end
    board.ingest_cdr("u1", incoming=True, customer="+919811112222", agent="+919876500001", duration=11,
                     recording="http://r/1.wav")
    assert row.event == "CDR" and row.duration(clock()) == 11 and row.recording == "http://r/1.wav"
    clock.t += 5
    assert board.tick() == 1
    assert "u1" not in board.active and board.history["u1"] is row and "u1" in board
    assert [line.kind for line in board.feed] == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP", "CDR"]
    assert row.events == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP", "CDR"]


def test_a_cdr_for_a_call_never_seen_lands_in_the_board_as_finished() -> None:
    board = CallsBoard(clock=Clock())
    row = board.ingest_cdr("gap", incoming=False, customer="9811112222", agent="9876500001", duration=30, backfilled=True)
    assert row.finished and row.backfilled and row.direction == "Outbound" and row.customer == "+919811112222"
    assert board.feed[-1].summary.endswith("(backfilled)")


def test_every_store_is_bounded() -> None:
    clock = Clock()
    board = CallsBoard(clock=clock, feed_size=50, history_size=100, max_active=30, linger_s=0)
    for i in range(500):
        inbound(board, f"c{i}", ["ORIGINATE"])
    assert len(board.active) == 30 and len(board.history) == 100 and len(board.feed) == 50
    for i in range(470, 500):
        inbound(board, f"c{i}", ["HANGUP"])
    board.tick()
    assert not board.active and len(board.history) == 100
    assert board.calls_total == 500


def test_dirty_set_and_feed_since_let_the_ui_catch_up_in_one_step() -> None:
    board = CallsBoard(clock=Clock())
    inbound(board, "a", ["ORIGINATE", "AGENT_CALL"])
    inbound(board, "b", ["ORIGINATE"])
    assert board.drain_dirty() == {"a", "b"} and board.drain_dirty() == set()
    seq = board.feed[-1].seq
    inbound(board, "a", ["AGENT_ANSWER"])
    assert [line.kind for line in board.feed_since(seq)] == ["AGENT_ANSWER"]
    assert board.feed_since(board.feed[-1].seq) == []


def test_me_filter_and_screen_pop_for_an_incoming_call_to_my_number() -> None:
    board = CallsBoard(clock=Clock(), my_number="+91 98765 00001")
    inbound(board, "mine", ["ORIGINATE", "AGENT_CALL"], agent="919876500001")
    inbound(board, "theirs", ["ORIGINATE", "AGENT_CALL"], agent="9876500002")
    board.ingest_event("out", "ORIGINATE", direction="Outbound", agent="9876500001", customer="9811100000")
    assert board.active["mine"].mine and not board.active["theirs"].mine
    assert [p.uuid for p in board.pops] == ["mine"]  # outbound calls never pop
    mine_only = ViewFilter(mine_only=True)
    assert [r.uuid for r in board.rows(mine_only)] == ["mine", "out"]
    assert len(board.rows(ViewFilter())) == 3
    board.set_my_number("9876500002")
    assert [r.uuid for r in board.rows(mine_only)] == ["theirs"]
    assert [r.uuid for r in board.rows(ViewFilter(text="9811100000"))] == ["out"]


def test_find_recent_matches_a_dialled_call_by_its_numbers() -> None:
    clock = Clock()
    board = CallsBoard(clock=clock)
    inbound(board, "old", ["ORIGINATE"], agent="9876500001", customer="9811112222")
    clock.t += 60
    since = clock()
    board.ingest_event("new", "ORIGINATE", direction="Outbound", agent="9876500001", customer="9811112222")
    found = board.find_recent(lambda r: r.customer == "+919811112222", since)
    assert found is not None and found.uuid == "new"


def test_tasks_open_missed_calls_first_newest_first() -> None:
    tasks = TasksState(Clock())
    tasks.replace([
        TaskRow("1", "followup", "+911", due_sort=10),
        TaskRow("2", "missedcall", "+912", due_sort=50),
        TaskRow("3", "missedcall", "+913", completed=True),
        TaskRow("4", "missedcall", "+914", due_sort=20),
    ])
    assert [t.id for t in tasks.rows(ViewFilter())] == ["2", "4", "1", "3"]
    assert [t.id for t in tasks.open_for("914")] == [] and [t.id for t in tasks.open_for("+912")] == ["2"]
    assert tasks.close("2") and not tasks.close("2")  # closed here (the API has no call for it)
    assert [t.id for t in tasks.rows(ViewFilter())] == ["4", "1", "2", "3"] and tasks.open_for("+912") == []


def test_agents_filter_by_text_and_sort_by_status() -> None:
    from console.state import AgentsState

    agents = AgentsState(Clock())
    agents.replace([
        AgentRow("1", "Zed", "Logged Out"), AgentRow("2", "Amy", "Available", call_groups=("Sales",)),
        AgentRow("3", "Bob", "On Call", number="+919876500001"),
    ])
    assert [a.name for a in agents.rows(ViewFilter())] == ["Bob", "Amy", "Zed"]
    assert [a.name for a in agents.rows(ViewFilter(text="sales"))] == ["Amy"]
    assert agents.by_number("9876500001").name == "Bob"  # type: ignore[union-attr]


def test_bot_call_transcript_partials_sentences_barge_in_and_end() -> None:
    clock = Clock()
    bot = BotCalls(clock=clock, keep_finished=2)
    bot.ingest(CallStarted(call_id="b1", caller="9811112222", virtual_number="+918047100300", ts=100))
    bot.ingest(TranscriptEvent(call_id="b1", text="what are", final=False, ts=101))
    call = bot.get("b1")
    assert call is not None and call.partial == "what are" and call.caller == "+919811112222"
    bot.ingest(TranscriptEvent(call_id="b1", text="what are your hours", final=True, ts=102))
    assert call.partial == "" and call.lines[-1].text == "what are your hours"
    bot.ingest(StateChanged(call_id="b1", state="speaking", ts=102.5))
    bot.ingest(BotSentence(call_id="b1", text="We are open nine to five.", turn=1, ts=103))
    bot.ingest(BotSentence(call_id="b1", text="We are open nine to five.", turn=1, heard="We are open", ts=104))
    assert len([line for line in call.lines if line.speaker == "bot"]) == 1 and call.lines[-1].heard == "We are open"
    bot.ingest(BargeIn(call_id="b1", latency_ms=120, ts=104))
    bot.ingest(TurnMetrics(call_id="b1", turn=1, total_ms=800, interrupted=True, ts=104))
    bot.ingest(Transferred(call_id="b1", destination="+919999900000", ts=105))
    bot.ingest(AudioFrame(call_id="b1", source="bot", sample_rate=16000, pcm_b64="", ts=105))
    assert call.barge_ins == 1 and call.barge_in_ms == 120 and call.transferred_to == "+919999900000"
    assert call.state == "speaking" and len(call.metrics) == 1
    bot.ingest(CallEnded(call_id="b1", reason="transfer", duration_s=6, ts=106))
    assert call.finished and call.state == "ended" and call.duration(1e9) == 6
    bot.ingest(Dropped(call_id="*", count=3))
    assert bot.dropped == 3
    for i in range(3):
        bot.ingest(CallStarted(call_id=f"x{i}", ts=200 + i))
        bot.ingest(CallEnded(call_id=f"x{i}", ts=201 + i))
    assert "b1" not in bot.calls and len(bot.calls) == 2  # only the newest finished calls are kept
    bot.ingest(CallStarted(call_id="live", ts=300))
    assert [c.call_id for c in bot.rows(ViewFilter())] == ["live", "x2", "x1"]
