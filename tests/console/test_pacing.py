"""The live feeds wait while a key is answered; full garbage collections wait for a quiet moment."""

from __future__ import annotations

import asyncio
import gc

from console.gc_pacing import QuietCollector
from console.ingest_gate import IngestGate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def read(gate: IngestGate, items: int, log: list[int]) -> None:
    for i in range(items):
        log.append(i)
        await gate.turn()


async def test_a_reader_waits_while_input_is_answered_and_goes_on_when_it_is() -> None:
    gate = IngestGate(items_per_turn=4, max_hold_s=30.0)
    log: list[int] = []
    gate.hold()
    reader = asyncio.create_task(read(gate, 10, log))
    for _ in range(20):
        await asyncio.sleep(0)
    assert log == [0]  # one item, then it waits at its turn
    gate.hold()        # a view switch started by that key holds too
    gate.release()     # the key's own hold ends ...
    for _ in range(20):
        await asyncio.sleep(0)
    assert log == [0] and gate.held  # ... but the switch is still being answered
    gate.release()
    await asyncio.wait_for(reader, 5)
    assert log == list(range(10)) and not gate.held and gate.holds == 1


async def test_without_input_a_reader_gives_the_loop_a_turn_every_few_items() -> None:
    gate = IngestGate(items_per_turn=4)
    log: list[int] = []
    other: list[int] = []

    async def ui() -> None:
        for _ in range(3):
            other.append(len(log))
            await asyncio.sleep(0)

    await asyncio.gather(read(gate, 12, log), ui())
    assert other == [4, 8, 12]  # the UI ran after every 4th item, not once after all 12


async def test_a_hold_ends_by_itself_and_the_reader_then_runs_before_the_next() -> None:
    clock = Clock()
    gate = IngestGate(max_hold_s=0.05, min_run_s=10.0, clock=clock)
    log: list[int] = []
    gate.hold()  # never released: a key whose answer never came
    clock.now += 1.0
    await asyncio.wait_for(read(gate, 3, log), 5)
    assert log == [0, 1, 2] and not gate.held
    gate.hold()  # right after the hold ran out: the readers get their turn first
    assert not gate.held
    clock.now += 10.0
    gate.release()
    gate.hold()
    assert gate.held


def test_full_collections_run_when_due_and_nobody_types_and_settings_come_back() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    clock = Clock()
    collector = QuietCollector(interval_s=10.0, quiet_s=1.0, max_wait_s=60.0, clock=clock)
    collector.start()
    try:
        assert gc.get_threshold()[2] > 1_000_000  # CPython no longer starts them by itself
        assert gc.get_threshold()[:2] == before[:2]  # young collections as before
        assert gc.get_freeze_count() > 0
        assert not collector.tick()            # not due yet
        clock.now += 11.0
        collector.input_seen()
        clock.now += 0.5
        assert not collector.tick()            # due, but a key came half a second ago
        clock.now += 1.0
        assert collector.tick() and collector.collections == 1
        for _ in range(70):                    # someone typing non-stop for 70 s
            clock.now += 1.0
            collector.input_seen()
            collector.tick()
        assert collector.collections == 2      # the one forced after max_wait_s
    finally:
        collector.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_two_consoles_in_one_process_share_the_setting_until_the_last_stops() -> None:
    before = gc.get_threshold()
    first, second = QuietCollector(), QuietCollector()
    first.start()
    second.start()
    first.stop()
    assert gc.get_threshold() != before  # the second console still runs
    second.stop()
    assert gc.get_threshold() == before
