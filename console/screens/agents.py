"""2 Agents: every agent with status and call groups, polled every few seconds.

The agents API has no push, so the app polls `list_agents` while this view is on screen;
"on a call" comes live from the calls board (an agent number with a call in progress).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from console.actions import ActionError
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.detail import DetailScreen
from console.state import AgentRow
from console.widgets.plain import plain
from console.widgets.table import VimTable

STATUS_STYLES = {  # console.look roles
    "available": "bold good",
    "online": "bold good",
    "busy": "bold warn",
    "on call": "bold warn",
    "away": "warn",
    "logged out": "dim",
    "offline": "dim",
}


def agent_cells(agent: AgentRow, on_call: bool) -> tuple[Text | str, ...]:
    # The live stream knows sooner than the agents API (polled) that an agent is on a call.
    status = "On Call" if on_call else agent.status
    style = look(STATUS_STYLES.get(status.lower(), ""))
    return (
        Text(agent.name, style="bold" if on_call else ""),
        Text(("● " if on_call else "") + status, style=style),
        agent.role,
        ", ".join(agent.call_groups) or Text("—", style="dim"),
        agent.number or Text("—", style="dim"),
        Text("on a call", style=look("bold warn")) if on_call else Text("", style="dim"),
        Text(agent.id, style="dim"),
    )


class AgentsScreen(ViewScreen):
    VIEW_TITLE = "Agents"

    BINDINGS = [
        Binding("enter", "details", "details", id="agents.details"),
        Binding("r", "reload", "reload", id="agents.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seen: tuple[int, int, str, bool, int] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="agents-pane"):
            yield Label("Agents", id="agents-title", classes="pane-title")
            yield VimTable(
                [("name", "Name", 22), ("status", "Status", 14), ("role", "Role", 10), ("groups", "Call groups", 26),
                 ("number", "Number", 15), ("call", "Now", 10), ("id", "Id", 10)],
                id="agents-table",
            )

    def on_mount(self) -> None:
        self.focus_main()

    def on_screen_resume(self) -> None:
        self.capp.refresh_agents()  # fresh on arrival, then polled while shown

    def focus_main(self) -> None:
        self.query_one("#agents-table", VimTable).focus()

    def refresh_view(self, now: float) -> None:
        state = self.capp.state
        view = self.view
        busy = {r.agent for r in state.board.active.values() if not r.finished and r.agent}
        key = (state.agents.version, len(busy), view.text, view.mine_only, generation())
        if key == self._seen and not busy:
            return
        self._seen = key
        rows = state.agents.rows(view, state.board)
        self.query_one("#agents-table", VimTable).sync_rows(
            [(a.id, agent_cells(a, a.number in busy)) for a in rows]
        )
        title = f"Agents: {len(rows)} shown of {len(state.agents.agents)}"
        available = sum(1 for a in state.agents.agents.values() if a.status.lower() in ("available", "online"))
        title += f" · {available} available · {len(busy & {a.number for a in state.agents.agents.values()})} on a call"
        if state.agents.error:
            title += f"   ⚠ {state.agents.error}"
        elif state.agents.updated:
            title += f"   updated {max(0, now - state.agents.updated):.0f} s ago (every {self.capp.deps.agent_poll_s:.0f} s)"
        self.query_one("#agents-title", Label).update(plain(title))

    def _selected(self) -> AgentRow | None:
        key = self.query_one("#agents-table", VimTable).selected_key
        return self.capp.state.agents.agents.get(key) if key else None

    def selected_number(self) -> str | None:
        agent = self._selected()
        return agent.number if agent else None

    def action_reload(self) -> None:
        self.capp.refresh_agents()

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        agent = self._selected()
        if agent is None:
            return
        screen = DetailScreen(f"Agent {agent.name}", [("id", agent.id), ("status", agent.status)],
                              note="loading …", number=agent.number)
        self.capp.push_screen(screen)
        self._load_detail(agent.id, screen)

    @work(group="agent-detail", exclusive=True, exit_on_error=False)
    async def _load_detail(self, agent_id: str, screen: DetailScreen) -> None:
        try:
            fields = await self.capp.actions.agent_detail(agent_id)
        except ActionError as exc:
            screen.update_fields(screen.fields, note=f"could not load the agent: {exc}")
            return
        screen.update_fields(fields, note="esc close")

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Agents: reload now", "poll list_agents", self.action_reload)
        yield ("Agents: details of the selected agent", "", self.action_details)
