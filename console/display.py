"""Human text: how the console writes times, durations and Knowlarity's codes for people.

Knowlarity speaks India Standard Time, codes and terse strings; the people at the
console may sit anywhere. Every time the console shows goes through `TimeFormat`, in
one zone with its label: the machine's local zone by default, or IST by choice, with IST
added where it differs from the zone shown (the top bar's clock). The rest names what the
API leaves as codes (hang-up causes, number and plan types), writes durations with their
units, and repairs the spaces the server's messages lose ("Callsuccessfully placed").

No widgets here: the screens call these functions to turn state into words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from console.api.dates import IST

ZoneChoice = Literal["local", "IST"]
ZONES: tuple[ZoneChoice, ...] = ("local", "IST")


def _local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC


def _zone_label(zone: tzinfo, at: datetime) -> str:
    name = at.astimezone(zone).tzname() or ""
    if not name or name[0] in "+-":
        offset = at.astimezone(zone).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        name = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return name


@dataclass(frozen=True)
class TimeFormat:
    """One zone for every time on screen, and its label."""

    choice: ZoneChoice = "local"

    @property
    def zone(self) -> tzinfo:
        return IST if self.choice == "IST" else _local_zone()

    def label(self, at: datetime | None = None) -> str:
        return _zone_label(self.zone, at or datetime.now(UTC))

    @property
    def is_ist(self) -> bool:
        """True when the zone shown is IST anyway (then IST is never added)."""
        now = datetime.now(UTC)
        return now.astimezone(self.zone).utcoffset() == now.astimezone(IST).utcoffset()

    def when(self, value: datetime | float | None, *, seconds: bool = False, date: bool = True) -> str:
        """A date-time (aware, naive = IST as Knowlarity means it, or epoch seconds) in the zone."""
        if value is None:
            return ""
        if isinstance(value, (int, float)):
            moment = datetime.fromtimestamp(float(value), UTC)
        else:
            moment = value if value.tzinfo is not None else value.replace(tzinfo=IST)
        local = moment.astimezone(self.zone)
        pattern = ("%Y-%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M")
        return local.strftime(pattern)

    def clock(self, epoch: float) -> str:
        """The top bar's clock: `14:02:07 CET · IST 18:32`, IST only where it differs."""
        moment = datetime.fromtimestamp(epoch, UTC)
        text = f"{moment.astimezone(self.zone):%H:%M:%S} {self.label(moment)}"
        if not self.is_ist:
            text += f" · IST {moment.astimezone(IST):%H:%M}"
        return text


    def typed(self, parsed: datetime, text: str) -> datetime:
        """A date-time the user typed without a zone means the zone they are shown."""
        if _HAS_ZONE.search(text.strip()):
            return parsed
        return parsed.replace(tzinfo=None).replace(tzinfo=self.zone)


_HAS_ZONE = re.compile(r"(?:[Zz]|UTC|GMT|IST|[+-]\d{2}:?\d{2})$")
_current = TimeFormat()


def time_format() -> TimeFormat:
    """The zone the user chose (a preference; `set_time_zone` changes it)."""
    return _current


def set_time_zone(choice: str) -> TimeFormat:
    """Use `choice` ("local" or "IST") for every time on screen from now on."""
    global _current
    _current = TimeFormat("IST" if str(choice).strip().upper() == "IST" else "local")
    return _current


def when(value: datetime | float | None, *, seconds: bool = False) -> str:
    return _current.when(value, seconds=seconds)


# ---- durations -----------------------------------------------------------------------------


def duration(seconds: float | int | None) -> str:
    """`0 s`, `45 s`, `3 min 05 s`, `1 h 02 min`: always with units."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def clock_duration(seconds: float) -> str:
    """A ticking call length in a narrow column: `0:07`, `12:30`, `1:02:03`."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:d}:{s % 60:02d}"



# ---- the server's words ------------------------------------------------------------------------

# Knowlarity's messages lose the space before a word now and then ("Callsuccessfully placed",
# "Campaign pausedsuccessfully"): put it back before the words it happens to.
_GLUED = re.compile(r"(?<=[a-z])(?=(?:successfully|unsuccessfully|failed|placed|added|created|registered)\b)")


def repair_spaces(text: str) -> str:
    return _GLUED.sub(" ", text) if text else text


# The call log's numeric hang-up causes (SIP-style; the detailed log's New_Hangup_Cause names them).
HANGUP_CAUSES = {
    900: "answered, then hung up",
    480: "not answered",
    486: "busy",
    487: "caller hung up before an answer",
    404: "number not reachable",
    403: "call refused",
    503: "network busy",
}


def hangup_cause(code: object) -> str:
    try:
        value = int(str(code))
    except ValueError:
        return humanize_code(str(code))
    name = HANGUP_CAUSES.get(value)
    return f"{name} ({value})" if name else f"cause {value}"


def humanize_code(text: str) -> str:
    """`ORIGINATOR_CANCEL` -> `originator cancel`."""
    return text.replace("_", " ").lower() if text.isupper() else text


def number_kind(phone: str | None) -> str:
    """What kind of Indian number this is, read from the number itself (the API's
    `number_type` of a bought number is an undocumented code such as "1")."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if digits.startswith("91") and len(digits) == 12:
        digits = digits[2:]
    if digits.startswith(("1800", "1860")):
        return "toll-free"
    if len(digits) == 10 and digits[0] in "6789":
        return "mobile"
    if len(digits) >= 10:
        return "landline"
    return "—"


# Field names as a detail dialog shows them (model field -> words).
FIELD_LABELS = {
    "call missed dt": "missed at",
    "duedate": "due",
    "agent id": "agent",
    "callrecord uuid": "call",
    "hangup cause": "hang-up cause",
    "new hangup cause": "hang-up",
    "is completed": "completed",
}
