"""Plain models the console's screens render: the calls board, agents, tasks, bot calls.

No widgets here. The live stream and the bot bus feed these models one event at a time
(`CallsBoard.ingest`, `BotCalls.ingest`) and every ingest is O(1): a dict lookup, a few
field writes, a bounded deque append, and the uuid added to a dirty set. Screens do not
react to events; a timer reads the models at most ~10 times a second (see `version`,
`drain_dirty`, `feed_since`), so a burst of thousands of events costs the UI one redraw.

Everything that grows is bounded: finished calls move to a bounded history, the raw feed
is a `deque(maxlen=...)`, a bot call keeps a bounded transcript and only the newest
finished bot calls are kept. The full picture of an account lives in Knowlarity's call
log, which the Call log screen searches; this is the live window onto it.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

from console.api.events import CallEvent, Cdr, UnknownEvent
from console.api.phone import normalize_number as _normalize_number
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
    WorkerStatus,
)

Clock = Callable[[], float]


class _HasId(Protocol):
    id: str


RowT = TypeVar("RowT", bound=_HasId)

# The CTI events in the order a call moves through them (the CTI section of the API guide).
# ORIGINATE_AGENT_CALL (named in the notifications overview) opens a call placed from the web
# panel to the agent's number, where ORIGINATE opens the others.
CALL_EVENTS = ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL", "CUSTOMER_ANSWER", "BRIDGE", "HANGUP")
EVENT_LABELS = {
    "ORIGINATE": "originated",
    "ORIGINATE_AGENT_CALL": "panel call to agent",
    "AGENT_CALL": "ringing agent",
    "AGENT_ANSWER": "agent answered",
    "CUSTOMER_CALL": "ringing customer",
    "CUSTOMER_ANSWER": "customer answered",
    "BRIDGE": "connected",
    "HANGUP": "ended",
    "CDR": "ended",
}


@lru_cache(maxsize=16_384)
def normalize_number(value: str | None) -> str | None:
    """console.api.phone's canonical form (+91, 10 or 12 digits), cached: a busy account's
    stream repeats the same few hundred numbers, and ingest must stay O(1) and cheap."""
    return _normalize_number(value)


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """A live feed's connection state (the SSE stream, or the bot's monitor feed)."""

    status: str                     # connecting | live | retrying | failed | off
    retry_in: float | None = None   # seconds, as of `since`
    reason: str | None = None
    since: float = 0.0              # clock() when this state began

    def remaining(self, now: float) -> float | None:
        """Seconds left before the next retry, counting down."""
        if self.retry_in is None:
            return None
        return max(0.0, self.retry_in - max(0.0, now - self.since))


# ---- the calls board ----------------------------------------------------------------------------


@dataclass(slots=True)
class CallRow:
    """One call on the board, from its first CTI event to its CDR."""

    uuid: str
    started: float                     # when the console first saw the call (epoch seconds)
    direction: str = ""                # "Inbound" / "Outbound"
    customer: str | None = None        # normalised
    agent: str | None = None           # normalised
    knumber: str | None = None         # normalised
    event: str = ""                    # the last CTI event (or "CDR")
    ended: float | None = None         # when HANGUP (or the CDR) arrived
    answered: float | None = None      # when the call was bridged
    cti_type: str = ""                 # the live events' business_call_type: Inbound, Unanswered, Outbound, Missed call
    cdr_type: str = ""                 # the CDR's: Phone, Agent Missed, Customer Missed, Voicemail, DTMF, ...
    recording: str | None = None
    cdr_duration: int | None = None    # seconds, from the CDR
    backfilled: bool = False           # rebuilt from the call log after a stream gap
    events: list[str] = field(default_factory=list)   # the CTI events seen, in order (bounded)
    mine: bool = False                 # the agent leg is "my" number

    @property
    def finished(self) -> bool:
        return self.ended is not None

    @property
    def business_call_type(self) -> str:
        """The type to show: the CDR's once it came (it is the finer one), else the live one.
        The two vocabularies differ (see the CTI section), so both are kept apart."""
        return self.cdr_type or self.cti_type

    @property
    def state_label(self) -> str:
        return EVENT_LABELS.get(self.event, self.event.lower() or "-")

    def duration(self, now: float) -> float:
        """Seconds so far (ticking) or the CDR's duration once known."""
        if self.cdr_duration is not None:
            return float(self.cdr_duration)
        end = self.ended if self.ended is not None else now
        return max(0.0, end - self.started)


@dataclass(frozen=True, slots=True)
class FeedLine:
    """One raw stream item as the feed shows it."""

    seq: int
    ts: float
    kind: str        # the CTI event, "CDR", or an unknown event's name
    uuid: str
    summary: str


@dataclass(frozen=True, slots=True)
class ScreenPop:
    """An incoming call reached my agent number: the UI opens a panel for it."""

    uuid: str
    customer: str | None
    ts: float


class CallsBoard:
    """Every call of the account moving through its CTI events; O(1) per event.

    `active` holds calls in progress, plus calls that just ended for `linger_s` seconds so a
    user sees them finish. `tick()` (called by the UI's refresh timer) moves those to
    `history`, a bounded ordered dict of finished calls, newest last. A call whose events
    stopped without a HANGUP (a lost event) leaves `active` after `stale_s`.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        my_number: str | None = None,
        feed_size: int = 500,
        history_size: int = 10_000,
        max_active: int = 5_000,
        linger_s: float = 6.0,
        stale_s: float = 4 * 3600.0,
    ) -> None:
        self.clock = clock
        self.my_number = normalize_number(my_number)
        self.active: OrderedDict[str, CallRow] = OrderedDict()
        self.history: OrderedDict[str, CallRow] = OrderedDict()
        self.feed: deque[FeedLine] = deque(maxlen=feed_size)
        self.pops: deque[ScreenPop] = deque(maxlen=20)
        self.history_size = history_size
        self.max_active = max_active
        self.linger_s = linger_s
        self.stale_s = stale_s
        self.events_total = 0
        self.calls_total = 0
        self.version = 0                      # bumps on every change; the UI compares it
        self._dirty: set[str] = set()
        self._ended_order: deque[tuple[float, str]] = deque()  # (ended, uuid) in ending order
        self._watchers: list[Callable[[CallRow], bool]] = []

    # ---- "me" -----------------------------------------------------------------------------

    def set_my_number(self, number: str | None) -> None:
        """Change which agent number is "mine"; re-marks the (bounded) rows we hold."""
        self.my_number = normalize_number(number)
        for row in self._all_rows():
            row.mine = self.my_number is not None and row.agent == self.my_number
        self.version += 1

    # ---- ingest ---------------------------------------------------------------------------

    def ingest(self, item: object) -> None:
        """Apply one live-stream item (console.api.events: a CTI event, a CDR, or an event
        the console does not model) to the board; O(1)."""
        if isinstance(item, CallEvent):
            if not item.uuid:
                self.ingest_unknown(item.kind, "", "event without a call uuid")
                return
            self.ingest_event(
                item.uuid, item.kind, direction=item.call_direction, customer=item.customer_number,
                agent=item.agent_number, knumber=item.knowlarity_number, recording=item.call_recording,
                business_call_type=item.business_call_type,
            )
        elif isinstance(item, Cdr):
            if not item.uuid:
                self.ingest_unknown("CDR", "", "CDR without a call uuid")
                return
            self.ingest_cdr(
                item.uuid, incoming=item.incoming if item.call_type else None, customer=item.customer_number,
                agent=item.agent_number, knumber=item.dispnumber, duration=item.call_duration,
                recording=item.resource_url, business_call_type=item.business_call_type,
                start=item.start_time.timestamp() if item.start_time else None, backfilled=item.backfilled,
            )
        elif isinstance(item, UnknownEvent):
            summary = item.error or ", ".join(sorted(item.data)[:6])
            self.ingest_unknown(item.kind or "UNKNOWN", item.uuid or "", summary)
        else:
            self.ingest_unknown(type(item).__name__, "", "")

    def ingest_event(
        self,
        uuid: str,
        event: str,
        *,
        direction: str | None = None,
        customer: str | None = None,
        agent: str | None = None,
        knumber: str | None = None,
        recording: str | None = None,
        business_call_type: str | None = None,
    ) -> CallRow:
        """A CTI event (ORIGINATE ... HANGUP) for call `uuid`."""
        now = self.clock()
        event = (event or "UNKNOWN").upper()
        row = self.active.get(uuid)
        if row is None:
            row = self.history.get(uuid)
            if row is None:
                row = self._new_row(uuid, now)
        if direction:
            row.direction = direction
        if customer and row.customer is None:
            row.customer = normalize_number(customer)
        if agent:
            number = normalize_number(agent)
            if number and number != row.agent:
                row.agent = number
                row.mine = number == self.my_number
        if knumber and row.knumber is None:
            row.knumber = normalize_number(knumber)
        if recording and recording not in ("None", "$None"):
            row.recording = recording
        if business_call_type:
            row.cti_type = business_call_type
        if not (event == "HANGUP" and row.event == "CDR"):
            row.event = event
        if len(row.events) < 16:
            row.events.append(event)
        if event == "BRIDGE" and row.answered is None:
            row.answered = now
        if event == "HANGUP" and row.ended is None:
            self._mark_ended(row, now)
        elif (
            row.mine
            and row.direction.lower().startswith("in")
            and event in ("AGENT_CALL", "ORIGINATE", "ORIGINATE_AGENT_CALL")
            and "AGENT_CALL" not in row.events[:-1]
            and row.ended is None
        ):
            self.pops.append(ScreenPop(uuid, row.customer, now))
        self._feed(now, event, uuid, self._summary(row))
        self._touch(row)
        return row

    def ingest_cdr(
        self,
        uuid: str,
        *,
        incoming: bool | None = None,
        customer: str | None = None,
        agent: str | None = None,
        knumber: str | None = None,
        duration: int | None = None,
        recording: str | None = None,
        business_call_type: str | None = None,
        start: float | None = None,
        backfilled: bool = False,
    ) -> CallRow:
        """The call's CDR: its final duration and recording. Creates the row if it was never
        seen (a call that ended while the stream was down, backfilled from the call log)."""
        now = self.clock()
        row = self.active.get(uuid) or self.history.get(uuid)
        if row is None:
            row = self._new_row(uuid, start if start is not None else now)
        if incoming is not None and not row.direction:
            row.direction = "Inbound" if incoming else "Outbound"
        if customer and row.customer is None:
            row.customer = normalize_number(customer)
        agent_n = normalize_number(agent) if agent else None
        if agent_n and row.agent is None:
            row.agent = agent_n
            row.mine = agent_n == self.my_number
        if knumber and row.knumber is None:
            row.knumber = normalize_number(knumber)
        if duration is not None:
            row.cdr_duration = max(0, int(duration))
        if recording and recording not in ("None", "$None"):
            row.recording = recording
        if business_call_type:
            row.cdr_type = business_call_type
        row.backfilled = row.backfilled or backfilled
        row.event = "CDR"
        if len(row.events) < 16:
            row.events.append("CDR")
        if row.ended is None:
            self._mark_ended(row, now)
        self._feed(now, "CDR", uuid, self._summary(row) + (" (backfilled)" if backfilled else ""))
        self._touch(row)
        return row

    def ingest_unknown(self, name: str, uuid: str = "", summary: str = "") -> None:
        """An event the console does not model: kept in the feed, never dropped silently."""
        self.events_total += 1
        self._feed(self.clock(), name or "UNKNOWN", uuid, summary)
        self.version += 1

    # ---- the UI's side ----------------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """Move calls that ended more than `linger_s` ago to history; drop stale ones. Returns moves."""
        now = self.clock() if now is None else now
        moved = 0
        while self._ended_order and now - self._ended_order[0][0] >= self.linger_s:
            _, uuid = self._ended_order.popleft()
            row = self.active.pop(uuid, None)
            if row is not None:
                self._to_history(row)
                moved += 1
        while self.active:
            uuid, row = next(iter(self.active.items()))
            if row.ended is not None or now - row.started < self.stale_s:
                break
            self.active.popitem(last=False)
            row.ended = now
            row.event = row.event or "LOST"
            self._to_history(row)
            moved += 1
        if moved:
            self.version += 1
        return moved

    def drain_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def feed_since(self, seq: int) -> list[FeedLine]:
        """Feed lines newer than `seq` (those still held), oldest first."""
        if not self.feed or self.feed[-1].seq <= seq:
            return []
        out: list[FeedLine] = []
        for line in reversed(self.feed):
            if line.seq <= seq:
                break
            out.append(line)
        out.reverse()
        return out

    def get(self, uuid: str) -> CallRow | None:
        return self.active.get(uuid) or self.history.get(uuid)

    def __contains__(self, uuid: object) -> bool:
        return uuid in self.active or uuid in self.history

    def __len__(self) -> int:
        return len(self.active) + len(self.history)

    def rows(self, view: ViewFilter, *, limit: int = 1000, include_finished: int = 0) -> list[CallRow]:
        """Rows for the board: calls in progress (newest `limit` that match), oldest first,
        then up to `include_finished` of the most recent finished calls that match."""
        out: list[CallRow] = []
        for row in reversed(self.active.values()):
            if view.matches_call(row):
                out.append(row)
                if len(out) >= limit:
                    break
        out.reverse()
        if include_finished and len(out) < limit:
            done: list[CallRow] = []
            for row in reversed(self.history.values()):
                if view.matches_call(row):
                    done.append(row)
                    if len(done) >= include_finished or len(out) + len(done) >= limit:
                        break
            out.extend(done)
        return out

    def watch(self, predicate: Callable[[CallRow], bool]) -> None:
        """Ask to be told (via `matched`) of the first new call that satisfies `predicate`."""
        self._watchers.append(predicate)

    def find_recent(self, predicate: Callable[[CallRow], bool], since: float) -> CallRow | None:
        """The newest call first seen at or after `since` that matches (bounded scan)."""
        for rows in (self.active, self.history):
            for row in reversed(rows.values()):
                if row.started < since - 1.0:
                    break
                if predicate(row):
                    return row
        return None

    # ---- internals --------------------------------------------------------------------------

    def _new_row(self, uuid: str, now: float) -> CallRow:
        row = CallRow(uuid=uuid, started=now)
        self.active[uuid] = row
        self.calls_total += 1
        if len(self.active) > self.max_active:
            # A flood of calls that never end: the oldest in-progress one goes to history.
            _, oldest = self.active.popitem(last=False)
            if oldest.ended is None:
                oldest.ended = now
            self._to_history(oldest)
        return row

    def _mark_ended(self, row: CallRow, now: float) -> None:
        row.ended = now
        if row.uuid in self.active:
            self._ended_order.append((now, row.uuid))

    def _to_history(self, row: CallRow) -> None:
        self._dirty.discard(row.uuid)  # dirty only tracks rows on the board: stays bounded
        self.history[row.uuid] = row
        self.history.move_to_end(row.uuid)
        while len(self.history) > self.history_size:
            self.history.popitem(last=False)

    def _touch(self, row: CallRow) -> None:
        self.events_total += 1
        self.version += 1
        if row.uuid in self.active:
            self._dirty.add(row.uuid)

    def _feed(self, now: float, kind: str, uuid: str, summary: str) -> None:
        seq = self.feed[-1].seq + 1 if self.feed else 1
        self.feed.append(FeedLine(seq, now, kind, uuid, summary))

    @staticmethod
    def _summary(row: CallRow) -> str:
        if row.direction.lower().startswith("in"):
            return f"{row.customer or '?'} → {row.agent or '?'}"
        return f"{row.agent or '?'} → {row.customer or '?'}"

    def _all_rows(self) -> Iterator[CallRow]:
        yield from self.active.values()
        yield from self.history.values()


# ---- the view filter ("me" vs everyone, and `/` text) ----------------------------------------


@dataclass(slots=True)
class ViewFilter:
    """What the user asked to see: only my calls or everyone's, and a `/` text filter."""

    mine_only: bool = False
    text: str = ""

    def matches_call(self, row: CallRow) -> bool:
        if self.mine_only and not row.mine:
            return False
        if self.text:
            needle = self.text.lower()
            hay = f"{row.customer or ''} {row.agent or ''} {row.direction} {row.state_label} {row.uuid}".lower()
            return needle in hay
        return True

    def matches_text(self, *fields: object) -> bool:
        if not self.text:
            return True
        needle = self.text.lower()
        return any(needle in str(f).lower() for f in fields if f is not None)


# ---- agents -------------------------------------------------------------------------------------


@dataclass(slots=True)
class AgentRow:
    id: str
    name: str
    status: str
    role: str = ""
    call_groups: tuple[str, ...] = ()
    number: str | None = None       # normalised, when the API gives one
    extra: dict[str, Any] = field(default_factory=dict)


class PolledState(Generic[RowT]):
    """A snapshot refreshed by polling one list endpoint: rows by id, when, the last error.

    `version` moves on every change so views redraw only when something did."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self.items: dict[str, RowT] = {}
        self.updated: float | None = None
        self.error: str | None = None
        self.version = 0

    def replace(self, rows: Iterable[RowT]) -> None:
        self.items = {r.id: r for r in rows}
        self.updated = self.clock()
        self.error = None
        self.version += 1

    def failed(self, message: str) -> None:
        self.error = message
        self.version += 1


class AgentsState(PolledState[AgentRow]):
    """The account's agents from the last `list_agents` poll, plus who is on a call right now."""

    @property
    def agents(self) -> dict[str, AgentRow]:
        return self.items

    def rows(self, view: ViewFilter, board: CallsBoard | None = None) -> list[AgentRow]:
        out = [
            a for a in self.agents.values()
            if view.matches_text(a.name, a.status, a.role, a.id, a.number, *a.call_groups)
        ]
        if view.mine_only and board is not None and board.my_number:
            out = [a for a in out if a.number == board.my_number]
        return sorted(out, key=lambda a: (_STATUS_ORDER.get(a.status.lower(), 9), a.name.lower()))

    def by_number(self, number: str | None) -> AgentRow | None:
        n = normalize_number(number)
        if n is None:
            return None
        for agent in self.agents.values():
            if agent.number == n:
                return agent
        return None


_STATUS_ORDER = {"on call": 0, "busy": 1, "available": 2, "online": 2, "away": 3, "logged out": 5, "offline": 5}


# ---- tasks --------------------------------------------------------------------------------------


@dataclass(slots=True)
class TaskRow:
    id: str
    type: str
    phone: str | None              # normalised
    agent_id: str = ""
    due: str = ""                   # as the API gives it, shown verbatim
    due_sort: float = float("inf")  # epoch seconds when parseable
    missed_at: str = ""
    missed_sort: float = 0.0        # epoch seconds of the missed call, when known
    completed: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_missed(self) -> bool:
        return "miss" in self.type.lower()

    @property
    def newest(self) -> float:
        """When the task arose (the missed call, else its due date): newest first."""
        if self.missed_sort:
            return self.missed_sort
        return self.due_sort if self.due_sort != float("inf") else 0.0


class TasksState(PolledState[TaskRow]):
    """Follow-up tasks: open ones first, missed calls first among them, newest first.

    `closed_here`: tasks this console's user closed (Knowlarity's API has no call to close
    a task; the console remembers them in the user's preferences and shows them done)."""

    def __init__(self, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self.closed_here: set[str] = set()

    def close(self, task_id: str) -> bool:
        if task_id in self.closed_here or task_id not in self.items:
            return False
        self.closed_here.add(task_id)
        self.version += 1
        return True

    def is_done(self, task: TaskRow) -> bool:
        return task.completed or task.id in self.closed_here

    @property
    def tasks(self) -> dict[str, TaskRow]:
        return self.items

    def rows(self, view: ViewFilter, *, my_agent_id: str | None = None) -> list[TaskRow]:
        out = [
            t for t in self.tasks.values()
            if view.matches_text(t.phone, t.type, t.due, t.id)
            and (not view.mine_only or my_agent_id is None or t.agent_id in ("", my_agent_id))
        ]
        return sorted(out, key=lambda t: (self.is_done(t), not t.is_missed, -t.newest, t.id))

    def open_for(self, number: str | None) -> list[TaskRow]:
        n = normalize_number(number)
        return [t for t in self.tasks.values() if n and t.phone == n and not self.is_done(t)]


# ---- campaigns, phonebooks, sounds -------------------------------------------------------------

# What the documentation allows per campaign status: PUT status pause/resume/stop, and
# numbers added "to a campaign whose status is either in progress or pending".
CAMPAIGN_ACTIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"pause", "stop", "add_numbers"}),
    "in progress": frozenset({"pause", "stop", "add_numbers"}),
    "paused": frozenset({"resume", "stop"}),
    "stopped": frozenset(),
    "completed": frozenset(),
}
_STATUS_ALIASES = {"running": "in progress", "in-progress": "in progress", "inprogress": "in progress",
                   "in_progress": "in progress", "pause": "paused", "stop": "stopped", "complete": "completed"}


def campaign_status_key(status: str | None) -> str:
    """A campaign status as a key of CAMPAIGN_ACTIONS ("In Progress" -> "in progress")."""
    key = " ".join((status or "").lower().split())
    return _STATUS_ALIASES.get(key, key)


def campaign_allows(status: str | None, action: str) -> bool:
    """Whether `action` (pause, resume, stop, add_numbers) applies to a campaign in `status`.
    An unknown status allows nothing: the console offers only what the docs say works."""
    return action in CAMPAIGN_ACTIONS.get(campaign_status_key(status), frozenset())


@dataclass(slots=True)
class CampaignRow:
    """One campaign (or call-center order) of GET call/campaign; `item` is the payload model."""

    id: str
    status: str
    item: Any

    def allows(self, action: str) -> bool:
        return campaign_allows(self.status, action)


class CampaignsState(PolledState[CampaignRow]):
    """The campaigns of the last `list_campaigns` read, with the filter it was read with."""

    def __init__(self, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self.filter_label = ""  # the filters in words, "" for all campaigns

    def rows(self, view: ViewFilter) -> list[CampaignRow]:
        out = [r for r in self.items.values()
               if view.matches_text(r.id, r.status, getattr(r.item, "ivr", None), getattr(r.item, "ivr_id", None))]
        order = {"in progress": 0, "pending": 1, "paused": 2, "stopped": 3, "completed": 4}

        def key(r: CampaignRow) -> tuple[int, int, str]:
            digits = int(r.id) if r.id.isdigit() else 0
            return order.get(campaign_status_key(r.status), 5), -digits, r.id

        return sorted(out, key=key)


@dataclass(slots=True)
class ItemRow:
    """A row of a simple list (a phonebook, a sound): its id and the payload model."""

    id: str
    item: Any


class ItemsState(PolledState[ItemRow]):
    """Phonebooks or sounds from the last read of their list."""

    def rows(self, view: ViewFilter, *fields: str) -> list[ItemRow]:
        return [r for r in self.items.values()
                if view.matches_text(r.id, *(getattr(r.item, f, None) for f in fields))]


# ---- bot calls ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Line:
    """One transcript line: the caller's words or a bot sentence."""

    speaker: str                  # "caller" | "bot" | "system"
    text: str
    ts: float
    final: bool = True
    heard: str | None = None      # bot sentence cut short: what the caller actually heard
    turn: int | None = None


@dataclass(slots=True)
class BotCall:
    call_id: str
    caller: str
    virtual_number: str
    started: float
    sample_rate: int = 16000
    state: str = "listening"
    ended: float | None = None
    end_reason: str = ""               # who ended it, in the bot's words (CallEnded.text)
    ended_by: str = ""                 # the typed outcome (voice.outcome.CallOutcome); "" while live
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=400))
    partial: str = ""             # the caller's words so far, not final yet
    partial_ts: float = 0.0
    barge_ins: int = 0
    barge_in_at: float | None = None
    barge_in_ms: float | None = None
    transferred_to: str | None = None
    metrics: deque[TurnMetrics] = field(default_factory=lambda: deque(maxlen=100))
    events: int = 0
    worker: str = ""              # the fleet worker holding the call ("" for a lone bot)

    @property
    def finished(self) -> bool:
        return self.ended is not None

    def duration(self, now: float) -> float:
        return max(0.0, (self.ended or now) - self.started)


class BotCalls:
    """Every bot call the console has seen through the bus, live ones and the newest finished."""

    def __init__(self, *, clock: Clock = time.time, keep_finished: int = 200) -> None:
        self.clock = clock
        self.calls: OrderedDict[str, BotCall] = OrderedDict()
        self.keep_finished = keep_finished
        self.dropped = 0
        self.version = 0
        self._dirty: set[str] = set()
        self._finished: deque[str] = deque()
        self.workers: dict[str, WorkerStatus] = {}   # fleet workers by id, their last heartbeat
        self._worker_heard: dict[str, float] = {}

    def ingest(self, event: object) -> BotCall | None:
        """Apply one voice.bus event; O(1). Unknown or audio events are ignored here."""
        if isinstance(event, Dropped):
            self.dropped += event.count
            self.version += 1
            return None
        if isinstance(event, WorkerStatus):
            if event.state == "stopped":
                self.workers.pop(event.worker, None)
            else:
                self.workers[event.worker] = event
                self._worker_heard[event.worker] = self.clock()
            self.version += 1
            return None
        if isinstance(event, AudioFrame):
            return None
        call_id = getattr(event, "call_id", None)
        if not call_id:
            return None
        call = self.calls.get(call_id)
        ts = float(getattr(event, "ts", 0.0) or self.clock())
        if call is None:
            call = BotCall(call_id=call_id, caller="", virtual_number="", started=ts)
            self.calls[call_id] = call
        call.events += 1
        worker = getattr(event, "worker", "")
        if worker:
            call.worker = worker
        if isinstance(event, CallStarted):
            call.caller = normalize_number(event.caller) or event.caller
            call.virtual_number = event.virtual_number
            call.sample_rate = event.sample_rate
            call.started = ts
        elif isinstance(event, TranscriptEvent):
            if event.final:
                if event.text.strip():
                    call.lines.append(Line("caller", event.text.strip(), ts))
                call.partial = ""
            else:
                call.partial = event.text
                call.partial_ts = ts
        elif isinstance(event, BotSentence):
            self._bot_sentence(call, event, ts)
        elif isinstance(event, StateChanged):
            call.state = event.state
        elif isinstance(event, BargeIn):
            call.barge_ins += 1
            call.barge_in_at = ts
            call.barge_in_ms = event.latency_ms
        elif isinstance(event, Transferred):
            call.transferred_to = event.destination
            call.lines.append(Line("system", f"transferred to {event.destination}", ts))
        elif isinstance(event, TurnMetrics):
            call.metrics.append(event)
        elif isinstance(event, CallEnded):
            if call.ended is None:
                call.ended = ts
                call.end_reason, call.ended_by = event.text, event.outcome
                if event.outcome == "unknown" and call.transferred_to:  # an older bot: its Transferred event is the truth
                    call.end_reason, call.ended_by = f"transferred to {call.transferred_to}", "transferred"
                call.state = "ended"
                call.partial = ""
                self._finished.append(call_id)
                self._trim()
        self._dirty.add(call_id)
        self.version += 1
        return call

    @staticmethod
    def _bot_sentence(call: BotCall, event: BotSentence, ts: float) -> None:
        # The same sentence comes again with `heard` set once playback passed it or it was cut:
        # update that line in place (search only the last few lines: O(1)).
        for i in range(len(call.lines) - 1, max(-1, len(call.lines) - 8), -1):
            line = call.lines[i]
            if line.speaker == "bot" and line.turn == event.turn and line.text == event.text:
                line.heard = event.heard
                return
        call.lines.append(Line("bot", event.text, ts, heard=event.heard, turn=event.turn))

    def _trim(self) -> None:
        while len(self._finished) > self.keep_finished:
            old = self._finished.popleft()
            self.calls.pop(old, None)
            self._dirty.discard(old)

    def drain_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def fleet_line(self, now: float) -> str:
        """One line about the fleet's workers, "" when watching a lone bot."""
        if not self.workers:
            return ""
        parts = []
        for worker_id in sorted(self.workers):
            w = self.workers[worker_id]
            age = max(0.0, now - self._worker_heard.get(worker_id, now))
            state = "LOST" if w.state == "lost" else ("draining" if w.state == "draining" else "")
            calls = f"{len(w.live_calls)} calls lost" if w.state == "lost" else f"{len(w.live_calls)} live"
            parts.append(" ".join(p for p in (
                worker_id, state, calls, f"load {w.load:.2f}",
                f"lag {w.loop_lag_ms:.0f} ms", f"seen {age:.0f} s ago") if p))
        live = sum(len(w.live_calls) for w in self.workers.values() if w.state != "lost")
        return f"Fleet: {len(self.workers)} workers, {live} live calls · " + " · ".join(parts)

    def get(self, call_id: str) -> BotCall | None:
        return self.calls.get(call_id)

    def rows(self, view: ViewFilter) -> list[BotCall]:
        """Live calls first (newest first), then finished ones (newest first)."""
        live = [c for c in self.calls.values() if not c.finished and view.matches_text(c.caller, c.state, c.call_id)]
        done = [c for c in self.calls.values() if c.finished and view.matches_text(c.caller, c.state, c.call_id)]
        live.reverse()
        done.sort(key=lambda c: c.ended or 0.0, reverse=True)
        return live + done


# ---- all of it ----------------------------------------------------------------------------------


class ConsoleState:
    """The app-wide state one ConsoleApp renders."""

    def __init__(self, *, clock: Clock = time.time, my_number: str | None = None) -> None:
        self.clock = clock
        self.board = CallsBoard(clock=clock, my_number=my_number)
        self.agents = AgentsState(clock)
        self.tasks = TasksState(clock)
        self.campaigns = CampaignsState(clock)
        self.phonebooks = ItemsState(clock)
        self.sounds = ItemsState(clock)
        self.bot = BotCalls(clock=clock)
        self.view = ViewFilter()

    @property
    def my_number(self) -> str | None:
        return self.board.my_number

    def set_my_number(self, number: str | None) -> None:
        self.board.set_my_number(number)
