"""Live calls: each call's lifecycle on the stream, and background traffic.

`CallEngine.start(plan)` runs one call as an asyncio task: it emits the plan's CTI
events on the live stream with the plan's timing divided by `speed`, moves the agent to
"On Call" from AGENT_ANSWER to HANGUP, then (about a second later, in sandbox time)
emits the CDR, adds the call-log record, and for a missed inbound call a missed-call
task. A number's events reach the stream only while its notification registration is
enabled, as on the real service.

Durations in CDRs and call-log records are sandbox time: at speed 100 a call that
"lasts" 90 s is over in under a second of wall time but is logged as 90 s, starting when
its ORIGINATE was sent.

Inbound calls to the account's bot number are handed to the inbound-bot hook (when one
is set) instead of ringing an agent: the hook gets a `BotCall` (the Stream Node's
metadata) and, if it returns an awaitable, the call lasts until that completes; the call
still gets ORIGINATE, HANGUP and a CDR. When the awaited result says the bot transferred
the caller (`outcome == "transferred"`, `transfer_to` an agent's number or the main
number), the same call goes on as Knowlarity's does: it rings that agent (or an Available
one) with AGENT_CALL, AGENT_ANSWER, BRIDGE and is logged as an inbound call of the agent.

`TrafficGenerator` places random calls (Poisson arrivals at `rate` per minute of wall
time) so the stream looks like a busy account: inbound, outbound, missed, campaign and
bot calls of many agents, and now and then an agent going on a break or coming back.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sandbox import formats as fmt
from sandbox.account import Account
from sandbox.calllog import CallRecord
from sandbox.calls import CallPlan, make_plan, random_plan, ring_agent
from sandbox.hub import StreamHub

log = logging.getLogger(__name__)
_STOP_S = 3.0  # how long a stop waits for the tasks it cancelled

CDR_DELAY = 1.0  # sandbox seconds between HANGUP and the CDR
MAX_CONCURRENT_TRAFFIC = 60


@dataclass(frozen=True, slots=True)
class BotCall:
    """An inbound call routed to the voice bot: what the Stream Node's metadata carries."""

    callid: str
    virtual_number: str
    customer_number: str
    call_type: str = "inbound"

    def metadata(self) -> dict[str, str]:
        return {
            "callid": self.callid, "virtual_number": self.virtual_number,
            "customer_number": self.customer_number, "call_type": self.call_type,
        }


BotHook = Callable[[BotCall], Awaitable[Any] | Any]


class CallEngine:
    """Runs call lifecycles and records their outcome in the account."""

    def __init__(
        self,
        account: Account,
        hub: StreamHub,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
        bot_call_timeout: float = 900.0,
        rng: random.Random | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.account = account
        self.hub = hub
        self.speed = speed
        self.clock = clock
        self.bot_call_timeout = bot_call_timeout
        self.rng = rng or random.Random()  # ring times and agent choice of transferred bot calls
        self.bot_hook: BotHook | None = None
        self.active: dict[str, CallPlan] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = 10_000_000
        self.completed = 0

    def start(self, plan: CallPlan) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._run(plan), name=f"sandbox-call-{plan.uuid}")
        self.active[plan.uuid] = plan
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel every call in progress; wait for them at most `_STOP_S` (a stop must never
        hang on one call that does not end: Ctrl-C once has to be enough)."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            done, stuck = await asyncio.wait(tasks, timeout=_STOP_S)
            for t in done:  # retrieved: a call that failed as it was cancelled is no error at a stop
                if not t.cancelled():
                    t.exception()
            if stuck:
                log.warning("sandbox: %d calls did not stop within %.0f s; stopping without them", len(stuck), _STOP_S)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds / self.speed)

    def _emit(self, plan: CallPlan, payload: dict[str, Any]) -> None:
        if self.account.notifications_enabled(plan.knowlarity_number):
            self.hub.publish(payload)

    async def _run(self, plan: CallPlan) -> None:
        agent = plan.agent
        on_call = False
        start = self.clock()
        length = 0.0  # sandbox seconds since ORIGINATE
        recording = self.account.recording_url(plan.uuid)
        try:
            steps = plan.steps()
            while steps:
                event, delay = steps.pop(0)
                if event == "HANGUP" and plan.kind == "bot":
                    delay, result = await self._bot_conversation(plan, delay)
                    transferred = self._transferred(plan, result, delay)
                    if transferred is not None:  # the rest of the call is an inbound call of an agent
                        plan = self.active[plan.uuid] = transferred
                        agent = plan.agent
                        (event, _), *steps = plan.steps()[1:]  # its first wait was the conversation
                else:
                    await self._sleep(delay)
                length += delay
                if event == "AGENT_ANSWER" and agent is not None:
                    agent.active_calls += 1
                    on_call = True
                if event == "HANGUP" and on_call and agent is not None:
                    agent.active_calls -= 1
                    on_call = False
                self._emit(plan, plan.cti_event(event, recording))
            end = start + length
            await self._sleep(CDR_DELAY)
            self._emit(plan, plan.cdr(start, end, recording))
            self._serial += 1
            pickup = plan.pickup_offset()
            record = plan.record(start, end, fmt.object_id(start, self._serial),
                                 start + pickup if pickup is not None else None)
            self._log(record)
        finally:
            if on_call and agent is not None:
                agent.active_calls -= 1
            self.active.pop(plan.uuid, None)

    def _log(self, record: CallRecord) -> None:
        self.account.calllog.add(record)
        if record.call_direction == "Inbound" and record.call_status in ("Missed", "Abandoned"):
            self.account.add_missed_call_task(record)
        self.completed += 1

    async def _bot_conversation(self, plan: CallPlan, simulated: float) -> tuple[float, Any]:
        """Hand the call to the bot hook; how long (sandbox seconds) it lasted, and its awaited result."""
        hook = self.bot_hook
        if hook is None:
            await self._sleep(simulated)  # no bot attached: an IVR message plays, then hangs up
            return simulated, None
        call = BotCall(plan.uuid, plan.knowlarity_number, plan.customer_number)
        await self._sleep(plan.setup)
        began = time.monotonic()
        awaited: Any = None
        try:
            result = hook(call)
            if inspect.isawaitable(result):
                awaited = await asyncio.wait_for(result, self.bot_call_timeout)
            else:
                await self._sleep(plan.talk)
                return plan.setup + plan.talk, None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing bot ends the call; it never breaks the sandbox
            log.warning("inbound bot hook failed for call %s: %s", plan.uuid, exc)
            plan.outcome = "failed"
        # the conversation ran in real time: its wall duration is its call duration
        return plan.setup + max(1.0, time.monotonic() - began), awaited

    def _transferred(self, plan: CallPlan, result: Any, elapsed: float) -> CallPlan | None:
        """The plan for the rest of a bot call that the bot transferred, or None if it did not.

        The hook's result is read by duck typing (a voice.caller.CallReport in practice)
        so the sandbox depends on no bot code. A transfer to the main number rings an
        agent as any inbound call to it would; one to a number that is neither an agent's
        nor the main number is not ours to ring, and the call ends with the bot.
        """
        if getattr(result, "outcome", None) != "transferred":
            return None
        number = fmt.normalize_number(getattr(result, "transfer_to", None))
        if number is None:
            return None
        agent = self.account.agent_by_number(number)
        if agent is None and number != self.account.main_number:
            return None
        agent, outcome = ring_agent(self.rng, self.account, agent)
        ringing = make_plan(self.rng, kind="ibd", outcome=outcome, knowlarity_number=plan.knowlarity_number,
                            customer_number=plan.customer_number, agent=agent, call_uuid=plan.uuid)
        return replace(ringing, setup=elapsed)  # ORIGINATE to AGENT_CALL was the conversation


class TrafficGenerator:
    """Random calls of the whole account, at `rate` calls per minute (wall time)."""

    def __init__(self, engine: CallEngine, *, rate: float, rng: random.Random) -> None:
        if rate < 0:
            raise ValueError("traffic rate must not be negative")
        self.engine = engine
        self.rate = rate
        self.rng = rng
        self._task: asyncio.Task[None] | None = None
        self.placed = 0

    def start(self) -> None:
        if self.rate > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="sandbox-traffic")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=_STOP_S)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.rng.expovariate(self.rate / 60.0))
            try:
                self.place_one()
            except Exception:  # never let one bad draw stop the traffic
                log.exception("background traffic: could not place a call")

    def place_one(self) -> CallPlan | None:
        """Place one random call now (skipped when the account is saturated)."""
        if len(self.engine.active) >= MAX_CONCURRENT_TRAFFIC:
            return None
        account = self.engine.account
        plan = random_plan(self.rng, account, live=True, now=self.engine.clock())
        self.engine.start(plan)
        self.placed += 1
        if self.rng.random() < 0.15:
            self._shift_agent()
        return plan

    def _shift_agent(self) -> None:
        """An agent goes on a break or comes back, as a real team does during a day."""
        candidates = [a for a in self.engine.account.agents if a.active_calls == 0 and a.role != "owner"]
        if not candidates:
            return
        agent = self.rng.choice(candidates)
        if agent.base_status == "Available":
            agent.base_status = self.rng.choice(("Break", "Busy"))
        elif agent.base_status in ("Break", "Busy"):
            agent.base_status = "Available"
        elif self.rng.random() < 0.3:  # Logged Out: sometimes logs in
            agent.base_status = "Available"
