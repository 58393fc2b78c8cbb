"""A real redis-server on a loopback port for the fleet tests (never a fake Redis).

`.ci/run` installs Debian's redis-server; where it is missing the fleet tests are skipped
with that reason. `RedisProc.stop()` / `start()` restart it on the same port, as an
operator's restart would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.redisproc import RedisProc, free_port

__all__ = ["RedisProc", "free_port", "redis_server"]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProc]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server)")
    proc = RedisProc(binary, tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
