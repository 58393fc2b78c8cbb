"""The machine a figure was measured on, and per-process CPU time and memory from /proc.

No psutil: /proc/<pid>/stat (utime + stime, clock ticks) and /proc/<pid>/status (VmRSS) are
all a benchmark of a child process needs, and they work for any pid we started.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import date

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (seconds)."""
    with open(f"/proc/{pid}/stat") as fh:
        text = fh.read()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot; two readings give the machine's load."""
    with open("/proc/stat") as fh:
        parts = [int(v) for v in fh.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return float(total - idle), float(total)


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of the process."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, str]:
    return {
        "date": date.today().isoformat(),
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "ram": f"{ram_gib():.1f} GiB",
        "python": sys.version.split()[0],
        "os": f"{platform.system()} {platform.release()}",
    }
