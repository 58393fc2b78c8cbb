"""Is the bot's port free, and if not, who holds it (the guide's issue 3)?

`lsof -ti :PORT` is what the guide suggests; it is often not installed, so on Linux
the holder is found the way lsof does it: the listening socket's inode in
/proc/net/tcp{,6}, then the process whose file descriptors include that socket.
Processes of other users cannot be inspected; then the port is said to be held by
"another process" without a name.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int | None
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process (could not tell which: it may belong to another user)"
        return f"process {self.pid} ({self.command})" if self.command else f"process {self.pid}"


def try_bind(host: str, port: int) -> OSError | None:
    """None if a server could listen on host:port now (as asyncio would: SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            return exc
    return None


def is_in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != LISTEN:
                continue
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            if local_port == port:
                inodes.add(cols[9])
    return inodes


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    text = " ".join(words)
    return text if len(text) <= 80 else text[:77] + "..."


def find_holder(port: int) -> Holder:
    inodes = _listening_inodes(port)
    if inodes:
        wanted = {f"socket:[{i}]" for i in inodes}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fds = list((entry / "fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(fd) in wanted:
                        pid = int(entry.name)
                        return Holder(pid, _command(pid))
                except OSError:
                    continue
    lsof = shutil.which("lsof")
    if lsof:
        try:
            out = subprocess.run([lsof, "-ti", f":{port}", "-sTCP:LISTEN"], capture_output=True, text=True,
                                 timeout=5, check=False).stdout.split()
        except (OSError, subprocess.SubprocessError):
            out = []
        if out and out[0].isdigit():
            pid = int(out[0])
            return Holder(pid, _command(pid))
    return Holder(None, "")
