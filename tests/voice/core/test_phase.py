"""The call's phase: the table of allowed changes, refusals logged, what the bus shows."""

from __future__ import annotations

import logging

import pytest

from voice.phase import ALLOWED, Phase, PhaseMachine, bot_state


def machine() -> tuple[PhaseMachine, list[tuple[Phase, Phase]]]:
    changes: list[tuple[Phase, Phase]] = []
    return PhaseMachine(logging.getLogger("test.phase"), lambda old, new: changes.append((old, new))), changes


def test_turn_taking_moves_freely_and_the_end_is_one_way() -> None:
    m, changes = machine()
    assert m.to(Phase.THINKING) and m.to(Phase.SPEAKING) and m.to(Phase.LISTENING)
    assert m.to(Phase.TRANSFERRING)
    assert not m.to(Phase.SPEAKING)  # the transfer line playing does not make it a turn again
    assert m.to(Phase.CLOSING) and m.to(Phase.ENDED)
    assert m.phase is Phase.ENDED and not ALLOWED[Phase.ENDED]
    assert changes[-1] == (Phase.CLOSING, Phase.ENDED)


def test_a_refused_change_is_logged_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    m, changes = machine()
    m.to(Phase.HANGING_UP)
    with caplog.at_level(logging.WARNING):
        assert not m.to(Phase.TRANSFERRING)
    assert m.phase is Phase.HANGING_UP and m.refused == [(Phase.HANGING_UP, Phase.TRANSFERRING)]
    assert "hanging up -> transferring refused" in caplog.text
    assert changes == [(Phase.LISTENING, Phase.HANGING_UP)]


def test_asking_for_the_current_phase_is_a_no_op() -> None:
    m, changes = machine()
    assert m.to(Phase.LISTENING) and changes == [] and m.refused == []


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_has_a_row_and_a_bus_state(phase: Phase) -> None:
    assert phase in ALLOWED
    assert bot_state(phase) in ("listening", "thinking", "speaking", "transferring", "ended", None)
    assert phase.closed <= phase.ending  # a closed call is always ending
