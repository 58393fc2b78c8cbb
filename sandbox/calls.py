"""What a call is, from dialling to CDR: one plan drives events, CDR and call-log record.

A `CallPlan` fixes a call's kind (click-to-call, inbound, missed-call service, voice bot,
campaign broadcast, OTP), its outcome and its timings. From it come, consistently:
- `steps()`: the CTI events in the documented order ORIGINATE, AGENT_CALL, AGENT_ANSWER,
  CUSTOMER_CALL, CUSTOMER_ANSWER, BRIDGE, HANGUP (each call emits a subsequence of it,
  always ending in HANGUP), with the delay before each;
- `cti_event()`: an event's payload with the CTI section's field names;
- `cdr()`: the CDR, with its own field names (`type: "CDR"`, `caller_id`, `dispnumber`, ...);
- `record()`: the call-log record.
The seeded history and the live lifecycles both use this module, so a call the sandbox
made five minutes ago looks exactly like one it made five weeks ago.

`plan_makecall` and `plan_otp` validate the two call-placing endpoints and raise
`Rejected` with the documented error bodies.
"""

from __future__ import annotations

import random
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from sandbox import formats as fmt
from sandbox.account import (
    MSG_AGENT_NOT_REGISTERED,
    MSG_INVALID_SR_NUMBER,
    MSG_PERMISSION_NOT_ALLOWED,
    MSG_PERMISSION_SENT,
    Account,
    Agent,
    Campaign,
    Rejected,
    as_bool,
)
from sandbox.calllog import CallRecord

EVENT_ORDER = ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL", "CUSTOMER_ANSWER", "BRIDGE", "HANGUP")
# Named in the notifications overview: "the call has been originated from the SuperReceptionist
# web panel to the agent's number". A click-to-call an agent places from the panel (not through
# the API) opens with it instead of ORIGINATE.
PANEL_ORIGINATE = "ORIGINATE_AGENT_CALL"


def event_position(event: str) -> int:
    """The event's place in the documented order (the panel's originate is an ORIGINATE)."""
    return EVENT_ORDER.index("ORIGINATE" if event == PANEL_ORIGINATE else event)
KINDS = ("c2c", "ibd", "missed_call", "bot", "obd", "otp")
OUTCOMES = ("connected", "agent_missed", "customer_missed", "abandoned", "voicemail", "failed",
            "conference", "dtmf", "blacklist", "fax")
# Inbound calls that never reach an agent: the caller is on the account's blacklist, used
# the IVR menu (DTMF) and hung up, or is a fax machine.
AGENTLESS_OUTCOMES = frozenset({"dtmf", "blacklist", "fax"})
DISPOSITIONS = ("Interested", "Not Interested", "Call Back Later", "Sale Done", "Query Resolved", "Wrong Number")


def new_uuid(rng: random.Random) -> str:
    return str(uuidlib.UUID(int=rng.getrandbits(128), version=4))


@dataclass(slots=True)
class CallPlan:
    uuid: str
    kind: str
    outcome: str
    knowlarity_number: str
    customer_number: str
    agent: Agent | None
    solution_type: str
    setup: float  # seconds (sandbox time) from ORIGINATE to the first ring
    agent_ring: float
    customer_ring: float
    talk: float
    campaign_id: str = ""
    channel: str = "PSTN"
    disposition: str = ""
    panel: bool = False  # a click-to-call placed from the web panel: opens with ORIGINATE_AGENT_CALL

    # ---- derived facts ---------------------------------------------------------------

    @property
    def direction(self) -> str:
        return "Inbound" if self.kind in ("ibd", "missed_call", "bot") else "Outbound"

    @property
    def bridged(self) -> bool:
        """Agent and customer talked (a BRIDGE event happens); a conference is a bridged call
        the agent then joined a third party to."""
        return self.outcome in ("connected", "conference") and self.kind in ("c2c", "ibd")

    @property
    def answered(self) -> bool:
        return self.outcome in ("connected", "voicemail", "conference", "dtmf", "fax")

    @property
    def has_recording(self) -> bool:
        return self.bridged or self.outcome == "voicemail"

    @property
    def agent_number(self) -> str:
        return self.agent.phone_number if self.agent else ""

    def steps(self) -> list[tuple[str, float]]:
        """(event, seconds since the previous event), in the documented order."""
        s: list[tuple[str, float]] = [(PANEL_ORIGINATE if self.panel and self.kind == "c2c" else "ORIGINATE", 0.0)]
        k, o = self.kind, self.outcome
        if k == "c2c":
            if o == "failed":
                s.append(("HANGUP", self.setup))
                return s
            s.append(("AGENT_CALL", self.setup))
            if o == "agent_missed":
                s.append(("HANGUP", self.agent_ring))
                return s
            s += [("AGENT_ANSWER", self.agent_ring), ("CUSTOMER_CALL", 0.4)]
            if o == "customer_missed":
                s.append(("HANGUP", self.customer_ring))
            else:
                s += [("CUSTOMER_ANSWER", self.customer_ring), ("BRIDGE", 0.3), ("HANGUP", self.talk)]
        elif k == "ibd":
            if o in ("abandoned", "blacklist"):
                s.append(("HANGUP", self.setup))
                return s
            if o in ("dtmf", "fax"):
                s.append(("HANGUP", self.setup + self.talk))
                return s
            s.append(("AGENT_CALL", self.setup))
            if o == "agent_missed":
                s.append(("HANGUP", self.agent_ring))
            elif o == "voicemail":
                s.append(("HANGUP", self.agent_ring + self.talk))
            else:
                s += [("AGENT_ANSWER", self.agent_ring), ("BRIDGE", 0.3), ("HANGUP", self.talk)]
        elif k == "missed_call":
            s.append(("HANGUP", self.setup))
        elif k == "bot":
            s.append(("HANGUP", self.setup + self.talk))
        else:  # obd, otp: the system calls the customer and plays an IVR
            s.append(("CUSTOMER_CALL", self.setup))
            if o == "customer_missed" or o == "failed":
                s.append(("HANGUP", self.customer_ring))
            else:
                s += [("CUSTOMER_ANSWER", self.customer_ring), ("HANGUP", self.talk)]
        return s

    def pickup_offset(self) -> float | None:
        """Seconds from ORIGINATE to the moment the call was answered, if it was."""
        if not self.answered:
            return None
        t = 0.0
        for event, delay in self.steps():
            t += delay
            if event in ("BRIDGE", "CUSTOMER_ANSWER"):
                return t
        if self.kind == "bot" or self.outcome in ("dtmf", "fax"):
            return self.setup
        if self.outcome == "voicemail":
            return self.setup + self.agent_ring
        return None

    # ---- payloads -------------------------------------------------------------------

    def cti_business_type(self, event: str) -> str:
        if self.kind == "missed_call":
            return "Missed call"
        if self.kind == "bot":
            return "Inbound"
        connected_from = "CUSTOMER_ANSWER" if self.kind in ("obd", "otp") else "BRIDGE"
        if self.outcome in ("connected", "conference") and event_position(event) >= EVENT_ORDER.index(connected_from):
            return self.direction
        return "Unanswered"

    def cti_event(self, event: str, recording_url: str | None = None) -> dict[str, Any]:
        agent_leg = event in ("AGENT_CALL", "AGENT_ANSWER", PANEL_ORIGINATE)
        if self.kind == "ibd" and event == "ORIGINATE":
            agent_number = None  # not yet routed to an agent
        else:
            agent_number = self.agent_number or None
        if self.direction == "Inbound":
            called = self.knowlarity_number
        else:
            called = self.agent_number if agent_leg else self.customer_number
        return {
            "event_type": event,
            "uuid": self.uuid,
            "call_direction": self.direction,
            "business_call_type": self.cti_business_type(event),
            "agent_number": agent_number,
            "customer_number": None if agent_leg else self.customer_number,
            "knowlarity_number": self.knowlarity_number,
            "k_number": self.knowlarity_number,
            "call_recording": recording_url if (event == "HANGUP" and self.bridged) else None,
            "call_type": None,
            "called": fmt.national(called),
        }

    def cdr_business_type(self) -> str:
        k, o = self.kind, self.outcome
        if k == "missed_call":
            return "Missed Call"
        if k == "bot":
            return "Phone"
        if o in ("conference", "dtmf", "blacklist", "fax"):
            return {"conference": "Conference", "dtmf": "DTMF", "blacklist": "Blacklist", "fax": "Fax"}[o]
        if o == "voicemail":
            return "Voicemail"
        if o == "agent_missed" or o == "abandoned":
            return "Agent Missed"
        if o in ("customer_missed", "failed"):
            return "Customer Missed"
        if k in ("obd", "otp"):
            return "Sound"
        return "Phone" if k == "ibd" else "OutGoing Calls"

    def destination(self) -> str:
        k, o = self.kind, self.outcome
        if o == "abandoned":
            return "Abandoned"
        if k == "missed_call":
            return "Missed Call"
        if k == "bot":
            return "VoiceBot"
        if o in ("dtmf", "blacklist", "fax"):
            return {"dtmf": "IVR", "blacklist": "Blacklist", "fax": "Fax"}[o]
        if o == "voicemail":
            return "Voicemail"
        if self.direction == "Inbound":
            return self.agent_number or "Abandoned"
        return self.customer_number

    def cdr(self, start: float, end: float, recording_url: str | None) -> dict[str, Any]:
        outgoing = self.direction == "Outbound"
        caller = (self.agent_number or self.knowlarity_number) if outgoing else self.customer_number
        return {
            "dispnumber": self.knowlarity_number,
            "business_call_type": self.cdr_business_type(),
            "caller_id": caller,
            "Call_Type": "Outgoing" if outgoing else "Incoming",
            "start_time": fmt.cdr_start(start),
            "uuid": self.uuid,
            "call_duration": max(0, round(end - start)),
            "destination": self.destination(),
            "end_time": fmt.cdr_end(end),
            "resource_url": recording_url if self.has_recording else None,
            "type": "CDR",
            "timezone_offset": "+0530",
        }

    def record(self, start: float, end: float, oid: str, pickup: float | None) -> CallRecord:
        o = self.outcome
        status = {"connected": "Connected", "abandoned": "Abandoned", "failed": "Failed", "conference": "Connected",
                  "dtmf": "Connected", "fax": "Connected", "blacklist": "Failed"}.get(o, "Missed")
        if self.agent is None or (self.kind == "ibd" and o == "abandoned") or (self.kind == "c2c" and o == "failed"):
            agent_status = "Not Dialed"
        elif o in ("agent_missed", "voicemail"):
            agent_status = "Missed"
        else:
            agent_status = "Answered"
        if self.direction == "Outbound":
            customer_status = {"connected": "Answered", "customer_missed": "Missed"}.get(o, "Not Dialed")
        else:
            customer_status = {"connected": "Answered", "abandoned": "Abandoned", "conference": "Answered",
                               "dtmf": "Answered", "fax": "Answered", "blacklist": "Blocked"}.get(o, "Missed")
            if self.kind == "bot" and o == "failed":
                customer_status = "Answered"
        action = {
            "c2c": "Click To Call", "missed_call": "Missed Call", "bot": "Voice Bot", "obd": "Sound Playback",
            "otp": "OTP",
        }.get(self.kind, "Agent Connect")
        if self.kind == "ibd" and o == "voicemail":
            action = "Voicemail"
        if self.kind == "ibd" and o == "abandoned":
            action = "Hangup"
        if self.kind == "ibd" and o in ("conference", "dtmf", "blacklist", "fax"):
            action = {"conference": "Conference", "dtmf": "IVR Menu", "blacklist": "Blacklisted", "fax": "Fax"}[o]
        return CallRecord(
            oid=oid, ts=start, end_ts=end, uuid=self.uuid, customer_number=self.customer_number,
            agent_number=self.agent_number, knowlarity_number=self.knowlarity_number,
            solution_type=self.solution_type, call_direction=self.direction, call_status=status,
            agent_status=agent_status, customer_status=customer_status, destination=self.destination(),
            duration=max(0, round(end - start)), disposition=self.disposition if self.bridged else "",
            action=action, agent_device=self.agent.device if self.agent else "", campaign_id=self.campaign_id,
            business_call_type=self.cdr_business_type(), has_recording=self.has_recording, pickup_ts=pickup,
            channel=self.channel,
        )


# ---- making plans ----------------------------------------------------------------------------


class _Timings(TypedDict):
    setup: float
    agent_ring: float
    customer_ring: float
    talk: float


def _timings(rng: random.Random, kind: str, outcome: str) -> _Timings:
    talk = min(900.0, max(8.0, rng.lognormvariate(4.3, 0.7)))  # median ~75 s
    setup = {"ibd": rng.uniform(3, 12), "missed_call": rng.uniform(1, 4), "bot": rng.uniform(0.5, 1.5)}.get(
        kind, rng.uniform(0.5, 1.5)
    )
    if kind == "ibd" and outcome == "abandoned":
        setup = rng.uniform(4, 25)
    if kind == "c2c" and outcome == "failed":
        setup = rng.uniform(0.5, 2)
    agent_ring = rng.uniform(30, 35) if outcome in ("agent_missed", "voicemail") else rng.uniform(2, 9)
    customer_ring = rng.uniform(30, 45) if outcome in ("customer_missed", "failed") else rng.uniform(3, 12)
    if outcome == "voicemail":
        talk = rng.uniform(10, 40)
    if kind in ("obd", "otp"):
        talk = rng.uniform(15, 45) if kind == "otp" else rng.uniform(20, 70)
    if kind == "bot":
        talk = rng.uniform(30, 150)
    return {"setup": setup, "agent_ring": agent_ring, "customer_ring": customer_ring, "talk": talk}


def make_plan(
    rng: random.Random,
    *,
    kind: str,
    outcome: str,
    knowlarity_number: str,
    customer_number: str,
    agent: Agent | None,
    solution_type: str | None = None,
    campaign_id: str = "",
    channel: str = "PSTN",
    call_uuid: str | None = None,
) -> CallPlan:
    if kind not in KINDS or outcome not in OUTCOMES:
        raise ValueError(f"unknown call kind/outcome {kind}/{outcome}")
    default_solution = {"c2c": "C2C", "ibd": "IBD", "missed_call": "IBD", "bot": "IBD", "obd": "OBD", "otp": "OBD"}
    return CallPlan(
        uuid=call_uuid or new_uuid(rng), kind=kind, outcome=outcome, knowlarity_number=knowlarity_number,
        customer_number=customer_number, agent=agent, solution_type=solution_type or default_solution[kind],
        campaign_id=campaign_id, channel=channel, disposition=rng.choice(DISPOSITIONS), **_timings(rng, kind, outcome),
    )


def ring_agent(rng: random.Random, account: Account, agent: Agent | None = None) -> tuple[Agent | None, str]:
    """Who an inbound call rings, and its outcome: `agent`, or else an Available agent.

    One rule for every call that reaches the team (a customer dialling in, a bot
    transferring its caller): an agent who is not Available misses the call, and with
    nobody free the caller abandons.
    """
    if agent is None:
        free = [a for a in account.agents if a.status == "Available"]
        agent = rng.choice(free) if free else None
    if agent is None:
        return None, "abandoned"
    return agent, "connected" if agent.status == "Available" else "agent_missed"


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


KIND_WEIGHTS = {"ibd": 40, "c2c": 25, "missed_call": 10, "obd": 12, "bot": 8, "otp": 5}
OUTCOME_WEIGHTS: dict[str, dict[str, float]] = {
    "ibd": {"connected": 64, "agent_missed": 13, "abandoned": 9, "voicemail": 7, "conference": 3, "dtmf": 2.5,
            "blacklist": 0.8, "fax": 0.7},
    "c2c": {"connected": 70, "customer_missed": 20, "agent_missed": 8, "failed": 2},
    "obd": {"connected": 60, "customer_missed": 40},
    "otp": {"connected": 85, "customer_missed": 15},
    "bot": {"connected": 96, "failed": 4},
    "missed_call": {"agent_missed": 1},  # nobody answers: the service hangs up and makes a task
}


def random_plan(
    rng: random.Random,
    account: Account,
    *,
    kind: str | None = None,
    live: bool = False,
    now: float | None = None,
    customer: str | None = None,
) -> CallPlan:
    """A plausible call of the account (for the seeded history and background traffic).

    With `live`, the call fits the account's state right now: inbound calls ring an
    agent who is Available (nobody free: the caller abandons), outbound calls come from
    an Available agent, and broadcasts dial the next number of a campaign In Progress
    (none running: the call is an inbound one instead).
    """
    kind = kind or _pick(rng, KIND_WEIGHTS)
    running: list[Campaign] = []
    if live and kind == "obd":
        if now is not None:
            account.refresh_campaigns(now)
        running = [c for c in account.campaigns if not c.outbound_callcenter and c.status == "In Progress"
                   and c.called < len(c.numbers)]
        if not running:
            kind = "ibd"
    outcome = _pick(rng, OUTCOME_WEIGHTS[kind])
    customer = customer or rng.choice(account.customers)
    agents = [a for a in account.agents if a.base_status != "Logged Out"] or account.agents
    free = [a for a in account.agents if a.status == "Available"]
    agent: Agent | None = None
    panel = False
    k_number = account.main_number
    solution = None
    cid = ""
    if kind == "ibd":
        solution = "IBD_CC" if rng.random() < 0.3 else "IBD"
        if outcome in AGENTLESS_OUTCOMES:
            pass  # never rings an agent
        elif not live:
            agent = rng.choice(agents)
        elif free:
            agent = rng.choice(free)
        else:
            outcome = "abandoned"
    elif kind == "c2c":
        if not live:
            agent = rng.choice(agents)
        elif free:
            agent = rng.choice(free)
        else:
            agent, outcome = rng.choice(agents), "agent_missed"
        k_number = rng.choice([account.main_number, account.cli_number])
        panel = live
        dialers = [c for c in account.campaigns if c.outbound_callcenter and (c.status == "In Progress" or not live)]
        if dialers and rng.random() < 0.25:
            camp = rng.choice(dialers)
            cid, solution = str(camp.order_id), rng.choice(("sequential", "predictive"))
            panel = False  # the call-center dialler places it, not an agent at the panel
            if camp.numbers:
                customer = rng.choice(camp.numbers)
    elif kind == "missed_call":
        k_number = account.missed_call_number
    elif kind == "bot":
        k_number = account.bot_number
    elif kind == "obd":
        if live:
            camp = rng.choice(running)
            customer = camp.numbers[camp.called]
            camp.called += 1  # the dialler takes the campaign's next number
        else:
            camp = rng.choice([c for c in account.campaigns if not c.outbound_callcenter])
            if camp.numbers:
                customer = rng.choice(camp.numbers)
        cid, k_number = str(camp.order_id), camp.k_number
    if customer in account.dnc_numbers and kind in ("c2c", "obd", "otp"):
        customer = rng.choice([c for c in account.customers if c not in account.dnc_numbers])
    if live and kind in ("c2c", "obd", "otp") and customer in account.no_answer_numbers and outcome == "connected":
        outcome = "customer_missed"
    plan = make_plan(
        rng, kind=kind, outcome=outcome, knowlarity_number=k_number, customer_number=customer, agent=agent,
        solution_type=solution, campaign_id=cid,
    )
    plan.panel = panel
    return plan


# ---- the call-placing endpoints --------------------------------------------------------------


def _channel(
    account: Account, customer: str, body: Mapping[str, Any], now: float, permission_delay: float,
    fail: Callable[[str], Exception],
) -> str:
    raw = body.get("channel")
    name = str(raw).strip().lower() if raw not in (None, "") else "pstn"
    if name not in ("pstn", "whatsapp"):
        raise fail("Invalid channel: use Whatsapp (or PSTN, the default).")
    perm_raw = body.get("call_permission_request")
    if name == "pstn":
        if perm_raw not in (None, ""):
            try:
                as_bool(perm_raw, name="call_permission_request")
            except ValueError as exc:
                raise fail(str(exc)) from None
        return "PSTN"
    if perm_raw in (None, ""):
        raise fail("call_permission_request is required for WhatsApp calls (true or false).")
    try:
        may_ask = as_bool(perm_raw, name="call_permission_request")
    except ValueError as exc:
        raise fail(str(exc)) from None
    granted_at = account.whatsapp_permissions.get(customer)
    if granted_at is not None and granted_at <= now:
        return "Whatsapp"
    if granted_at is not None:
        raise fail(MSG_PERMISSION_SENT)  # asked already; the customer has not answered yet
    if not may_ask:
        raise fail(MSG_PERMISSION_NOT_ALLOWED)
    account.whatsapp_permissions[customer] = now + permission_delay
    raise fail(MSG_PERMISSION_SENT)


def _dnc_message(number: str) -> str:
    return f"Call Failed!Number {fmt.national(number)} in Do Not Callregistry."


def plan_makecall(
    account: Account, body: Mapping[str, Any], *, now: float, rng: random.Random, permission_delay: float
) -> CallPlan:
    """Validate a make-call body; the plan to run, or Rejected(200, {"error": {...}})."""

    def fail(message: str) -> Rejected:
        return Rejected(200, {"error": {"message": message}})

    missing = [k for k in ("k_number", "agent_number", "customer_number") if body.get(k) in (None, "")]
    if missing:
        raise fail(f"Missing required field(s): {', '.join(missing)}.")
    k_number = fmt.normalize_number(body["k_number"])
    if k_number is None or account.bought(k_number, now) is None:
        raise fail(MSG_INVALID_SR_NUMBER)
    agent_number = fmt.normalize_number(body["agent_number"])
    agent = account.agent_by_number(agent_number) if agent_number else None
    if agent is None:
        raise fail(MSG_AGENT_NOT_REGISTERED)
    customer = fmt.normalize_number(body["customer_number"])
    if customer is None:
        raise fail("Invalid customer number.")
    if customer in account.dnc_numbers:
        raise fail(_dnc_message(customer))
    if body.get("caller_id") not in (None, ""):
        caller_id = fmt.normalize_number(body["caller_id"])
        if caller_id is None or account.bought(caller_id, now) is None:
            raise fail("Invalid caller_id: it must be an active number of this account.")
    channel = _channel(account, customer, body, now, permission_delay, fail)
    # who picks up: an agent who is not Available misses the call; a customer on the
    # sandbox's no-answer list never answers (see docs/sandbox.md)
    if agent.status != "Available":
        outcome = "agent_missed"
    elif customer in account.no_answer_numbers:
        outcome = "customer_missed"
    else:
        outcome = "connected"
    return make_plan(
        rng, kind="c2c", outcome=outcome, knowlarity_number=k_number, customer_number=customer, agent=agent,
        channel=channel,
    )


def plan_otp(
    account: Account, query: Mapping[str, Any], *, now: float, rng: random.Random, permission_delay: float
) -> CallPlan:
    """Validate an OTP call's query; the plan to run, or Rejected(400, {"error": {...}})."""

    def fail(message: str) -> Rejected:
        return Rejected(400, {"error": {"message": message}})

    missing = [k for k in ("ivr_id", "k_number", "customer_number") if query.get(k) in (None, "")]
    if missing:
        raise fail(f"Missing required parameter(s): {', '.join(missing)}.")
    ivr_id = str(query["ivr_id"]).strip()
    sound = account.sound(ivr_id)
    if ivr_id not in account.ivr_flows and (sound is None or sound.status != "1"):
        raise fail(f"No approved IVR or sound with id {ivr_id}.")
    k_number = fmt.normalize_number(query["k_number"])
    if k_number is None or account.bought(k_number, now) is None:
        raise fail(MSG_INVALID_SR_NUMBER)
    customer = fmt.normalize_number(query["customer_number"])
    if customer is None:
        raise fail("Invalid customer number.")
    if customer in account.dnc_numbers:
        raise fail(_dnc_message(customer))
    channel = _channel(account, customer, query, now, permission_delay, fail)
    outcome = "customer_missed" if customer in account.no_answer_numbers else "connected"
    return make_plan(
        rng, kind="otp", outcome=outcome, knowlarity_number=k_number, customer_number=customer, agent=None,
        channel=channel,
    )
