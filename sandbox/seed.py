"""Build the seeded account: the same account for the same seed, relative to "now".

Everything that tests, docs and the demo refer to by name is fixed (the four well-known
numbers, the agents' names, roles and statuses, the sound and IVR ids, the DNC list's
documented number). What only needs to look real is drawn from `random.Random(seed)`:
phone numbers, the call history, tasks, phonebook contents. Generation takes well under
0.3 s for a few thousand call-log records.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from sandbox import formats as fmt
from sandbox.account import (
    BOT_NUMBER,
    CLI_NUMBER,
    MAIN_NUMBER,
    MISSED_CALL_NUMBER,
    Account,
    Agent,
    AvailableNumber,
    BoughtNumber,
    Campaign,
    Circle,
    Phonebook,
    Plan,
    Registration,
    Sound,
    Task,
)
from sandbox.calllog import CallLog, CallRecord
from sandbox.calls import random_plan

DAY = 86400.0

INDIA_CIRCLES = (
    "Delhi", "Mumbai", "Andhra Pradesh", "Karnataka", "Tamil Nadu", "Kerala", "Kolkata", "Maharashtra",
    "Gujarat", "Punjab", "Haryana", "Rajasthan", "UP East", "UP West", "Madhya Pradesh", "West Bengal",
    "Bihar", "Orissa", "Assam", "North East", "Himachal Pradesh", "Jammu & Kashmir",
)
# STD code of each circle's main city, for landline-looking numbers
INDIA_STD = ("11", "22", "40", "80", "44", "484", "33", "20", "79", "172", "124", "141", "522", "512", "755",
             "343", "612", "674", "361", "364", "177", "191")
OTHER_COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Australia": ("+61", ("Sydney", "Melbourne")), "Austria": ("+43", ("Vienna",)),
    "Belgium": ("+32", ("Brussels",)), "Brazil": ("+55", ("Sao Paulo", "Rio de Janeiro")),
    "Canada": ("+1", ("Toronto", "Vancouver")), "France": ("+33", ("Paris", "Lyon")),
    "Germany": ("+49", ("Berlin", "Munich")), "Liechtenstein": ("+423", ("Vaduz",)),
    "Luxembourg": ("+352", ("Luxembourg",)), "Malaysia": ("+60", ("Kuala Lumpur",)),
    "Monaco": ("+377", ("Monaco",)), "Netherlands": ("+31", ("Amsterdam",)),
    "New Zealand": ("+64", ("Auckland",)), "Nigeria": ("+234", ("Lagos",)),
    "Philippines": ("+63", ("Manila",)), "Singapore": ("+65", ("Singapore",)),
    "South Africa": ("+27", ("Johannesburg", "Cape Town")), "Switzerland": ("+41", ("Zurich",)),
    "Thailand": ("+66", ("Bangkok",)), "Turkey": ("+90", ("Istanbul",)), "UK": ("+44", ("London", "Manchester")),
    "United Arab Emirates": ("+971", ("Dubai", "Abu Dhabi")), "US": ("+1", ("New York", "San Francisco")),
    "Western Europe": ("+32", ("Benelux",)),
}
PROVIDERS = ("Vodafone", "Airtel", "Jio", "BSNL", "Tata")

# first, last, role, status, call groups
AGENTS = (
    ("prashanth", "N", "owner", "Available", ()),
    ("Priya", "Sharma", "manager", "Available", ("Sales", "Escalations")),
    ("Rahul", "Verma", "agent", "Available", ("Sales",)),
    ("Ananya", "Iyer", "agent", "Available", ("Support",)),
    ("Vikram", "Singh", "agent", "Busy", ("Support",)),
    ("Sneha", "Reddy", "agent", "Available", ("Support", "Escalations")),
    ("Arjun", "Nair", "agent", "Break", ("Sales",)),
    ("Kavya", "Menon", "agent", "Available", ("Collections",)),
    ("Rohan", "Gupta", "agent", "Logged Out", ("Sales",)),
    ("Neha", "Patel", "agent", "Available", ("Support",)),
    ("Aditya", "Rao", "agent", "Logged Out", ("Collections",)),
    ("Shivam", "", "agent", "Available", ()),
)
DEVICES = ("Phone", "WebRTC", "Mobile App")

DNC_DOCUMENTED = "+919876543210"  # the number of the documentation's DNC error message
NO_ANSWER_FIXED = ("+919000000001", "+919000000002")


def _mobile(rng: random.Random, taken: set[str]) -> str:
    while True:
        n = f"+91{rng.choice('6789')}{rng.randrange(10**8, 10**9):09d}"
        if n not in taken:
            taken.add(n)
            return n


def build_account(seed: int, *, now: float, history: int = 3000) -> Account:
    rng = random.Random(seed)
    taken: set[str] = {MAIN_NUMBER, MISSED_CALL_NUMBER, BOT_NUMBER, CLI_NUMBER, DNC_DOCUMENTED, *NO_ANSWER_FIXED}

    plans = [
        Plan(407890, "Enterprise", "E", True, now - 420 * DAY, now + 310 * DAY),
        Plan(407891, "Premium", "P", True, now - 200 * DAY, now + 165 * DAY),
        Plan(407892, "Basic", "D", False, now - 700 * DAY, now - 670 * DAY),
        Plan(407893, "International", "T", True, now - 90 * DAY, now + 275 * DAY),
        Plan(407894, "Advance", "C", False, now - 500 * DAY, now - 135 * DAY),
    ]
    ent = plans[0].userplan_id
    numbers = [
        BoughtNumber(MAIN_NUMBER, now - 410 * DAY, now + 300 * DAY, ent, purpose="main"),
        BoughtNumber(MISSED_CALL_NUMBER, now - 380 * DAY, now + 300 * DAY, ent, purpose="missed_call"),
        BoughtNumber(BOT_NUMBER, now - 60 * DAY, now + 300 * DAY, ent, purpose="bot"),
        BoughtNumber(CLI_NUMBER, now - 350 * DAY, now + 300 * DAY, ent, cli_type="OUTGOING", purpose="cli"),
    ]
    for i in range(3):
        numbers.append(BoughtNumber(f"+91804710{rng.randrange(1000, 9999)}", now - (300 - 40 * i) * DAY,
                                    now + (100 + 30 * i) * DAY, plans[1].userplan_id))
    for i in range(3):  # expired ones, as the sample's list shows
        numbers.append(BoughtNumber(f"+91226{rng.randrange(10**6, 10**7)}", now - (500 + 10 * i) * DAY,
                                    now - (150 + 5 * i) * DAY, plans[4].userplan_id))
    taken.update(n.phone_number for n in numbers)

    circles: list[Circle] = []
    available: list[AvailableNumber] = []
    order = ["Delhi", "Mumbai", "Andhra Pradesh"] + [c for c in INDIA_CIRCLES if c not in ("Delhi", "Mumbai", "Andhra Pradesh")]
    for i, city in enumerate(order, start=1):  # Andhra Pradesh gets id 3, as in the sample
        circles.append(Circle(i, city, "India"))
        std = INDIA_STD[INDIA_CIRCLES.index(city)]
        for j in range(8):
            kind = ("MOBILE", "MOBILE", "MOBILE", "LANDLINE", "LANDLINE", "LANDLINE", "TOLLFREE", "MOBILE")[j]
            if kind == "MOBILE":
                number = _mobile(rng, taken)
            elif kind == "LANDLINE":
                number = f"+91{std}{rng.randrange(10 ** (9 - len(std)), 10 ** (10 - len(std)))}"
            else:
                number = f"+911800{rng.randrange(10**6, 10**7)}"
            if number in taken and kind != "MOBILE":
                continue
            taken.add(number)
            rating = (0, 0, 0, 1, 0, 2, 3, 5)[j] if j != 2 else rng.choice((0, 4))
            available.append(AvailableNumber(number, i, kind, rating, rng.choice(PROVIDERS), kind != "TOLLFREE"))
    next_id = 100
    for country, (prefix, cities) in OTHER_COUNTRIES.items():
        for city in cities:
            circles.append(Circle(next_id, city, country))
            for _ in range(3):
                number = f"{prefix}{rng.randrange(10**8, 10**9)}"
                taken.add(number)
                available.append(AvailableNumber(number, next_id, "LANDLINE", 0, "Local Carrier", False))
            next_id += 1

    agents = []
    used_ids: set[str] = set()
    for i, (first, last, role, status, groups) in enumerate(AGENTS):
        agent_id = str(rng.randrange(600000, 800000))
        while agent_id in used_ids:
            agent_id = str(rng.randrange(600000, 800000))
        used_ids.add(agent_id)
        email = f"{first.lower()}.{last.lower()}@sandbox.example" if last else f"{first.lower()}@sandbox.example"
        agents.append(Agent(agent_id, first, last, _mobile(rng, taken), email, status, list(groups), role,
                            DEVICES[i % 3]))

    customers = [_mobile(rng, taken) for _ in range(400)]
    customers += ["+447700900123", "+14155550142", "+971501234567", "+6591234567"]
    dnc = {DNC_DOCUMENTED, *rng.sample(customers[:380], 3)}
    no_answer = {*NO_ANSWER_FIXED, *rng.sample([c for c in customers[:380] if c not in dnc], 2)}
    whatsapp = {c: now - rng.uniform(2, 60) * DAY for c in rng.sample(customers[:380], 6)}

    books = []
    for i, (name, size) in enumerate((("Starter list", 2), ("Leads March", 40), ("Renewals Q2", 25), ("Diwali offer", 120)), 1):
        members = rng.sample(customers[:380], size)
        members = [m for m in members if m not in dnc]
        books.append(Phonebook(i, name, "" if i == 1 else f"{name} list", members, rng.randrange(0, 3),
                               rng.randrange(0, 4), rng.randrange(0, 2), now - (80 - 15 * i) * DAY))

    sounds = [
        Sound(1, "test.mp3", "https://sounds.sandbox.example/test.mp3", "english", "", "1", now - 300 * DAY),
        Sound(2, "welcome_ivr.mp3", "https://sounds.sandbox.example/welcome_ivr.mp3",
            "english", "Main IVR greeting", "1", now - 250 * DAY),
        Sound(3, "diwali_offer_hi.mp3", "https://sounds.sandbox.example/diwali_offer_hi.mp3",
            "hindi", "Festive offer", "1", now - 70 * DAY),
        Sound(4, "payment_reminder.wav", "https://sounds.sandbox.example/payment_reminder.wav", "english", "EMI reminder",
            "1", now - 40 * DAY),
        Sound(5, "promo_draft.mp3", "https://sounds.sandbox.example/promo_draft.mp3", "english", "Draft promo", "2",
            now - 20 * DAY,
              comment="Audio is clipped at 0:12; please upload a new recording."),
        Sound(6, "feedback_survey.wav", "https://sounds.sandbox.example/feedback_survey.wav", "tamil", "Post-call survey",
            "0", now - 2 * DAY),
    ]
    ivr_flows = {"1000052520": "otp_verification_ivr", "1000052521": "payment_reminder_ivr", "1000052522": "nps_survey_ivr"}

    def campaign(order_id: int, sound: int, book: int | None, status: str, start_days: float, end_days: float | None,
                 *, callcenter: bool = False, called_share: float = 0.0, transactional: bool = False) -> Campaign:
        members = list(books[book - 1].numbers) if book else rng.sample(customers[:380], 5)
        members = [m for m in members if m not in dnc]
        extra = [] if book else list(members)
        ivr_id = str(sound) if not callcenter else "1000052521"
        return Campaign(
            order_id=order_id, ivr_id=ivr_id, ivr_name=f"sound_obd_ivr_{sound}" if not callcenter else ivr_flows[ivr_id],
            phonebook_id=str(book) if book else "", numbers=members, additional_numbers=extra, timezone="Asia/Kolkata",
            priority=rng.randrange(1, 11), throttling=rng.choice((5, 10, 20)), retry_duration=15, max_retry=3,
            start=now + start_days * DAY, end=(now + end_days * DAY) if end_days is not None else None,
            call_scheduling="[1, 1, 1, 1, 1, 0, 0]", schedule_start="09:00:00 +0530", schedule_stop="21:00:00 +0530",
            created=now + (start_days - 1.3) * DAY, is_transactional=transactional, status=status,
            k_number=MAIN_NUMBER, ndnc_count=rng.randrange(0, 3), called=int(len(members) * called_share),
            outbound_callcenter=callcenter,
        )

    campaigns = [
        campaign(170, 1, 1, "Completed", -80, -79, called_share=1.0),
        campaign(171, 3, 4, "Completed", -45, -30, called_share=1.0),
        campaign(172, 2, None, "Stopped", -20, None, called_share=0.4),
        campaign(173, 4, 3, "Paused", -6, None, called_share=0.5, transactional=True),
        campaign(174, 3, 2, "In Progress", -2, 12, called_share=0.3),
        campaign(175, 2, 2, "In Progress", -1, 20, callcenter=True, called_share=0.2),
        campaign(176, 4, 3, "Pending", 3, 10),
        campaign(177, 1, None, "Pending", 7, None),
    ]

    secret = hashlib.sha256(f"sandbox-cursor-{seed}".encode()).digest()
    account = Account(
        seed=seed, plans=plans, numbers=numbers, circles=circles, available=available, agents=agents,
        phonebooks=books, sounds=sounds, ivr_flows=ivr_flows, campaigns=campaigns, tasks=[], registrations=[],
        calllog=CallLog(secret), customers=customers, dnc_numbers=dnc, no_answer_numbers=no_answer,
        whatsapp_permissions=whatsapp,
    )
    for n in numbers:
        if not n.is_expired(now):
            account.registrations.append(Registration(account.next_id(), n.phone_number, True, n.created + DAY))

    records = _history(rng, account, now, history)
    account.calllog.extend_sorted(records)
    _tasks(rng, account, records, now)
    return account


def _history(rng: random.Random, account: Account, now: float, count: int) -> list[CallRecord]:
    """`count` finished calls over the last 89 days, mostly in business hours (India time)."""
    today = datetime.fromtimestamp(now, fmt.IST).replace(hour=0, minute=0, second=0, microsecond=0)
    records: list[CallRecord] = []
    serial = 0
    while len(records) < count:
        day = today - timedelta(days=rng.randrange(0, 89))
        if day.weekday() >= 5 and rng.random() < 0.6:  # quieter weekends
            continue
        if rng.random() < 0.92:
            seconds = rng.uniform(9 * 3600, 21 * 3600)
        else:
            seconds = rng.uniform(0, 24 * 3600)
        start = day.timestamp() + seconds
        plan = random_plan(rng, account)
        length = sum(delay for _, delay in plan.steps())
        end = start + length
        if end > now - 120:
            continue
        serial += 1
        pickup = plan.pickup_offset()
        records.append(plan.record(start, end, fmt.object_id(start, serial), start + pickup if pickup is not None else None))
    return records


def _tasks(rng: random.Random, account: Account, records: list[CallRecord], now: float) -> None:
    """Missed-call tasks for recent missed inbound calls, and agents' follow-ups."""
    task_id = 4369999
    recent = sorted((r for r in records if r.call_direction == "Inbound" and r.call_status in ("Missed", "Abandoned")
                     and r.ts > now - 21 * DAY), key=lambda r: r.ts)
    for r in recent:
        task = Task(task_id, "missedcall", r.customer_number, r.uuid, r.ts, r.end_ts, r.end_ts)
        if r.ts < now - 3 * DAY and rng.random() < 0.7:
            agent = rng.choice(account.agents)
            task.completed = r.end_ts + rng.uniform(0.2, 2.5) * DAY
            task.modified = task.completed
            task.completed_via = "call"
            task.agent_id = agent.id
        account.tasks.append(task)
        task_id += 1
    connected = [r for r in records if r.call_status == "Connected" and r.agent_number and r.ts > now - 14 * DAY]
    for r in rng.sample(connected, min(8, len(connected))):
        agent = account.agent_by_number(r.agent_number) or account.agents[0]
        due = now + rng.uniform(-2, 5) * DAY
        task = Task(task_id, "followup", r.customer_number, r.uuid, None, r.end_ts, r.end_ts, duedate=due,
                    agent_id=agent.id, created_by=agent.email)
        account.tasks.append(task)
        task_id += 1
