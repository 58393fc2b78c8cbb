"""One line of the doctor's verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["ok", "warn", "fail"]
MARKS: dict[str, str] = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str             # a short stable id: "port", "tls", "route", "keys.deepgram", ...
    status: Status
    message: str           # what was found
    fix: str = ""          # what to do, when not ok

    def line(self) -> str:
        text = f"[{MARKS[self.status]}] {self.message}"
        if self.fix and self.status != "ok":
            text += f"\n       fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(check: str, message: str) -> CheckResult:
    return CheckResult(check, "ok", message)


def warn(check: str, message: str, fix: str = "") -> CheckResult:
    return CheckResult(check, "warn", message, fix)


def fail(check: str, message: str, fix: str = "") -> CheckResult:
    return CheckResult(check, "fail", message, fix)
