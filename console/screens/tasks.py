"""3 Tasks: follow-ups, missed calls first, then by due date; call back with one key."""

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
from console.screens.forms import Confirmed, ConfirmScreen
from console.state import TaskRow
from console.widgets.plain import plain
from console.widgets.table import VimTable


def task_cells(task: TaskRow, done: bool | None = None, agent: str | None = None) -> tuple[Text | str, ...]:
    """A task's row; `agent`: the assigned agent's name (the API gives only an id)."""
    done = task.completed if done is None else done
    missed = task.is_missed and not done
    return (
        Text("✓ done" if done else "open", style="dim" if done else "bold"),
        Text(task.type, style=look("bold bad") if missed else ""),
        task.phone or Text("—", style="dim"),
        task.due or Text("—", style="dim"),
        task.missed_at or Text("—", style="dim"),
        (agent or task.agent_id) if task.agent_id else Text("anyone", style="dim"),
        Text(task.id, style="dim"),
    )


class TasksScreen(ViewScreen):
    VIEW_TITLE = "Tasks"

    BINDINGS = [
        Binding("enter", "details", "details", id="tasks.details"),
        Binding("c", "call_back", "call back", id="tasks.call_back"),
        Binding("d", "close_task", "done", id="tasks.close"),
        Binding("r", "reload", "reload", id="tasks.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seen: tuple[int, int, str, bool, int] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="tasks-pane"):
            yield Label("Tasks", id="tasks-title", classes="pane-title")
            yield VimTable(
                [("status", "Status", 8), ("type", "Type", 14), ("phone", "Phone", 16), ("due", "Due", 17),
                 ("missed", "Missed at", 17), ("agent", "Agent", 10), ("id", "Task", 10)],
                id="tasks-table",
                priorities={"id": 5, "agent": 4, "due": 3, "status": 2, "missed": 1},
            )

    def on_mount(self) -> None:
        self.focus_main()

    def on_screen_resume(self) -> None:
        self.capp.refresh_tasks()

    def focus_main(self) -> None:
        self.query_one("#tasks-table", VimTable).focus()

    def refresh_view(self, now: float) -> None:
        state = self.capp.state
        view = self.view
        key = (state.tasks.version, state.agents.version, view.text, view.mine_only, generation())
        if key == self._seen:
            return
        self._seen = key
        rows = state.tasks.rows(view, my_agent_id=self.capp.actions.my_agent_id)
        self.query_one("#tasks-table", VimTable).sync_rows(
            [(t.id, task_cells(t, state.tasks.is_done(t), self._agent_name(t.agent_id))) for t in rows])
        open_missed = sum(1 for t in state.tasks.tasks.values() if t.is_missed and not state.tasks.is_done(t))
        title = f"Tasks: {len(rows)} shown · {open_missed} missed calls to return"
        if state.tasks.error:
            title += f"   ⚠ {state.tasks.error}"
        self.query_one("#tasks-title", Label).update(plain(title))

    def _agent_name(self, agent_id: str) -> str | None:
        agent = self.capp.state.agents.items.get(agent_id) if agent_id else None
        return agent.name if agent is not None else None

    def _selected(self) -> TaskRow | None:
        key = self.query_one("#tasks-table", VimTable).selected_key
        return self.capp.state.tasks.tasks.get(key) if key else None

    def selected_number(self) -> str | None:
        task = self._selected()
        return task.phone if task else None

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "call_back":
            task = self._selected()
            return bool(task and task.phone)
        if action == "close_task":
            task = self._selected()
            return task is not None and not self.capp.state.tasks.is_done(task)
        return True

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def action_call_back(self) -> None:
        task = self._selected()
        if task and task.phone:
            self.capp.action_dial(task.phone, on_placed=lambda: self._offer_close(task))

    def _offer_close(self, task: TaskRow) -> None:
        """After a call back went out: close the task too? (one key: enter)."""
        if self.capp.state.tasks.is_done(task):
            return

        def done(answer: Confirmed | None) -> None:
            if answer is not None:
                self._close(task)

        self.capp.push_screen(ConfirmScreen(
            f"Close task {task.id} ({task.phone or 'no number'})?", submit_label="Close task",
            note="You called this customer back. Closing marks the task done in this console.",
        ), done)

    def action_close_task(self) -> None:
        task = self._selected()
        if task is not None:
            self._close(task)

    def _close(self, task: TaskRow) -> None:
        if self.capp.state.tasks.close(task.id):
            self.capp.save_preferences()
            self.capp.notify(f"task {task.id} closed", timeout=3)
            self.capp.request_refresh()

    def action_reload(self) -> None:
        self.capp.refresh_tasks()

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        task = self._selected()
        if task is None:
            return
        screen = DetailScreen(f"Task {task.id}", [("type", task.type), ("phone", task.phone or "—")],
                              note="loading …", number=task.phone)
        self.capp.push_screen(screen)
        self._load_detail(task.id, screen)

    @work(group="task-detail", exclusive=True, exit_on_error=False)
    async def _load_detail(self, task_id: str, screen: DetailScreen) -> None:
        try:
            fields = await self.capp.actions.task_detail(task_id)
        except ActionError as exc:
            screen.update_fields(screen.fields, note=f"could not load the task: {exc}")
            return
        screen.update_fields(fields, note="")

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Tasks: call back the selected task", "click-to-call its phone number", self.action_call_back)
        yield ("Tasks: reload", "", self.action_reload)
        yield ("Tasks: details of the selected task", "", self.action_details)
