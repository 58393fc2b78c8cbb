"""ConsoleApp: the views, the keys, the palette, and the two live feeds.

The app is built from injected dependencies (`ConsoleDeps`: a Knowlarity client, a
factory for the live stream, a bot watcher, settings, a clock), so the same class runs
against Knowlarity, a sandbox on loopback, or test doubles; `build_app` is the factory
tests and the launchers use.

Live data flows one way. Two long-lived workers read the live stream and the bot bus and
apply each item to `ConsoleState` (O(1) each; see console.state); they post typed
messages only for things the UI must react to at once (the stream's connection state).
A timer at ~10 Hz then asks the visible view to redraw from state. Nothing is rendered
per event, so a burst of thousands of events a second costs a handful of redraws.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Select, TextArea
from textual.widgets._select import SelectOverlay

from console.actions import Actions, describe_error
from console.botwatch import BotWatcher
from console.catalog import Catalog
from console.config import ConsoleSettings
from console.display import repair_spaces, set_time_zone, time_format
from console.form_models import AgentNumber
from console.gc_pacing import QuietCollector
from console.ingest_gate import IngestGate
from console.listen import ListenSession
from console.look import use_theme
from console.preferences import Preferences, preferences_path
from console.replay_source import ReplaySource
from console.screens.account import AccountScreen
from console.screens.agents import AgentsScreen
from console.screens.base import ViewScreen
from console.screens.bot import BotScreen
from console.screens.calllog import CallLogScreen
from console.screens.campaigns import CampaignsScreen
from console.screens.detail import DetailScreen
from console.screens.dial import DialScreen, OtpScreen
from console.screens.forms import ConfirmScreen, FormField, FormScreen
from console.screens.help import HelpScreen
from console.screens.library import LibraryScreen
from console.screens.live import LiveScreen
from console.screens.numbers import NumbersScreen
from console.screens.replay import ReplayScreen
from console.screens.tasks import TasksScreen
from console.state import ConsoleState, FeedStatus
from console.talk import TalkSession
from console.widgets.badge import BarInfo, TopBar
from kcommon.text import escape_controls
from voice.replay.load import Recording

log = logging.getLogger("console.app")

StreamFactory = Callable[[Callable[[Any], None]], AsyncIterator[Any]]
"""Called with an on_state callback; returns the live stream to iterate (typed items)."""

# (mode name, key, title, screen class) in the order the number keys use.
VIEWS: tuple[tuple[str, str, str, type[ViewScreen]], ...] = (
    ("live", "1", "Live", LiveScreen),
    ("agents", "2", "Agents", AgentsScreen),
    ("tasks", "3", "Tasks", TasksScreen),
    ("calllog", "4", "Call log", CallLogScreen),
    ("bot", "5", "Bot", BotScreen),
    ("campaigns", "6", "Campaigns", CampaignsScreen),
    ("account", "7", "Account", AccountScreen),
    ("numbers", "8", "Numbers", NumbersScreen),
    ("library", "9", "Library", LibraryScreen),
)

# How long Textual holds back the frames of a mode switch (App.switch_mode -> delay_update).
SWITCH_MASK_S = 0.05

# Actions bound to single letters: they never apply while a text field has focus.
_LETTER_ACTIONS = frozenset({"toggle_me", "toggle_pause", "dial", "otp", "help", "quit", "view"})


@dataclass
class ConsoleDeps:
    """Everything the console talks to, injected so tests can build it against the sandbox."""

    client: Any                                  # console.api.client.KnowlarityClient
    settings: ConsoleSettings
    stream_factory: StreamFactory | None = None  # None: no live stream (the Live view says so)
    bot: BotWatcher | None = None                # None: no bot to watch (the Bot view says so)
    clock: Callable[[], float] = time.time
    source: str = ""                             # shown in the top bar, e.g. "sandbox 127.0.0.1:8080"
    agent_poll_s: float = 5.0
    refresh_hz: float = 10.0
    keymap: dict[str, str] = field(default_factory=dict)
    start_view: str = "live"
    preferences_path: Path | None = None         # None: the user's config dir (XDG_CONFIG_HOME)
    # The bot's Stream Node URL, its token and sample rate, when the console can call it
    # (an embedded bot, the demo's): the Bot view's "talk" places a test call there.
    bot_voice: tuple[str, str | None, int] | None = None


class StreamStateChanged(Message):
    """The live stream connected, dropped, is retrying, or gave up."""

    def __init__(self, status: FeedStatus) -> None:
        super().__init__()
        self.status = status


class BotFeedChanged(Message):
    def __init__(self, status: FeedStatus) -> None:
        super().__init__()
        self.status = status


class QuitScreen(ConfirmScreen):
    """Quit while calls are in progress? (one at a time: q again does not stack another)."""


class ConsoleApp(App[int]):
    """The Knowlarity console."""

    CSS_PATH = "console.tcss"
    TITLE = "kconsole"
    ENABLE_COMMAND_PALETTE = True
    MODES: ClassVar[dict[str, Any]] = {name: cls for name, _, _, cls in VIEWS}
    DEFAULT_MODE = "live"

    BINDINGS = [
        *(
            Binding(key, f"view('{name}')", f"go to {title}", show=False, id=f"view.{name}")
            for name, key, title, _ in VIEWS
        ),
        Binding("question_mark", "help", "help", id="app.help"),
        Binding("c", "dial", "call", id="app.dial"),
        Binding("o", "otp", "OTP call", show=False, id="app.otp"),
        Binding("m", "toggle_me", "me/all", id="app.me"),
        Binding("p", "toggle_pause", "pause", id="app.pause"),
        Binding("escape", "back", "close the dialog", show=False, id="app.back"),
        Binding("q", "quit", "quit", id="app.quit"),
    ]

    def __init__(self, deps: ConsoleDeps) -> None:
        # the first view; Textual opens it itself (a ClassVar in Textual's stubs, read per instance)
        self.DEFAULT_MODE = deps.start_view  # type: ignore[misc]
        super().__init__()
        self.deps = deps
        self.clock = deps.clock
        self.prefs_path = deps.preferences_path or preferences_path()
        self.prefs = Preferences.load(self.prefs_path)
        set_time_zone(self.prefs.time_zone)
        # A number given now (--agent, KNOWLARITY_AGENT_NUMBER) wins over the remembered one.
        my_number = deps.settings.agent_number or self.prefs.agent_number or None
        self.state = ConsoleState(clock=deps.clock, my_number=my_number)
        self.state.view.mine_only = bool(self.prefs.mine_only and self.state.my_number)
        self.state.tasks.closed_here = set(self.prefs.closed_tasks)
        self.actions = Actions(deps.client, self.state, deps.settings, deps.bot, clock=deps.clock)
        self.catalog = Catalog(deps.client, self.state, clock=deps.clock)
        self.stream_status = FeedStatus("connecting" if deps.stream_factory else "off")
        self.bot_status = FeedStatus("connecting" if deps.bot else "off")
        self.paused = False
        self._paused_at_events = 0
        self.listen: ListenSession | None = None
        self.talk: TalkSession | None = None
        self.talk_factory: Any = TalkSession  # tests give one with a stand-in microphone
        self.ingested = 0
        self.gate = IngestGate()  # the live feeds wait while a key is being answered
        self.collector = QuietCollector()  # full garbage collections only while nobody types
        self._shown_views = {deps.start_view}
        self._switching = 0  # view switches whose first frame is not out yet
        if deps.keymap:
            self.set_keymap(deps.keymap)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry server text (errors, names, numbers): never markup, controls shown."""
        super().notify(escape_controls(repair_spaces(str(message))), title=escape_controls(str(title)), severity=severity,
                       timeout=timeout, markup=markup)

    # ---- lifecycle ------------------------------------------------------------------------

    async def on_mount(self) -> None:
        if self.prefs.theme and self.prefs.theme in self.available_themes:
            self.theme = self.prefs.theme
        use_theme(self.get_css_variables())
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.prefs.problem:
            self.notify(self.prefs.problem, title="preferences", severity="warning", timeout=8)
        self.collector.start()
        self.set_interval(1.0 / self.deps.refresh_hz, self._refresh_tick, name="refresh")
        self.set_interval(self.deps.agent_poll_s, self._poll, name="poll")
        if self.deps.stream_factory is not None:
            self._run_stream()
        if self.deps.bot is not None:
            self._run_bot()
        self._poll(initial=True)

    async def on_unmount(self) -> None:
        self.collector.stop()
        self.stop_listening()
        self.stop_talking()
        if self.deps.bot is not None:
            await self.deps.bot.aclose()

    # ---- preferences -----------------------------------------------------------------------

    def save_preferences(self) -> None:
        """Remember what the user chose now (my number, me/everyone, theme, zone, closed tasks)."""
        self.prefs.agent_number = self.state.my_number or ""
        self.prefs.mine_only = self.state.view.mine_only
        self.prefs.time_zone = time_format().choice
        self.prefs.closed_tasks = sorted(self.state.tasks.closed_here)
        error = self.prefs.save(self.prefs_path)
        if error:
            self.notify(error, title="preferences", severity="warning", timeout=6)

    def _theme_changed(self, theme: Any) -> None:
        """Another theme: Rich text is restyled from it (every view redraws) and it is remembered."""
        use_theme(self.get_css_variables())
        self.prefs.theme = getattr(theme, "name", "") or str(self.theme)
        self.save_preferences()
        self._refresh_tick()

    def action_toggle_time_zone(self) -> None:
        """Show every time in IST, or in this machine's zone (the default)."""
        set_time_zone("local" if time_format().choice == "IST" else "IST")
        self.state.board.version += 1
        self.state.tasks.version += 1
        self.save_preferences()
        self.notify(f"times are shown in {time_format().label()} now (lists reload with it)", timeout=3)
        self.refresh_tasks()
        self._refresh_tick()

    def action_toggle_bell(self) -> None:
        self.prefs.ring_bell = not self.prefs.ring_bell
        self.save_preferences()
        self.notify("a bell rings when a call comes to me" if self.prefs.ring_bell
                    else "no bell for my calls (the screen pop still opens)", timeout=3)

    def ring_for_me(self, customer: str | None) -> None:
        """A call rings my agent number: the terminal bell and a notification (a setting)."""
        if self.prefs.ring_bell:
            self.bell()

    # ---- the live feeds (long-lived workers) ---------------------------------------------

    @work(group="stream", exclusive=True, exit_on_error=False)
    async def _run_stream(self) -> None:
        """Read the live stream for the app's lifetime; each item goes straight into state."""
        assert self.deps.stream_factory is not None
        stream = self.deps.stream_factory(self._on_stream_state)
        try:
            count = 0
            async for item in stream:
                self.state.board.ingest(item)
                count += 1
                self.ingested = count
                # A stream that is far ahead yields thousands of items without awaiting I/O:
                # keys and redraws get their turns, and a key being answered goes first.
                await self.gate.turn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream's failure is shown, never raised
            log.warning("live stream stopped: %s", describe_error(exc))
            self.post_message(StreamStateChanged(FeedStatus("failed", reason=describe_error(exc))))
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # noqa: BLE001 - closing a broken stream must not raise
                    pass

    def _on_stream_state(self, state: Any) -> None:
        """Called by the live stream on each connection change (any object with `status`)."""
        status = FeedStatus(
            str(getattr(state, "status", "live")),
            getattr(state, "retry_in", None),
            getattr(state, "reason", None),
            since=self.clock(),
        )
        self.post_message(StreamStateChanged(status))

    def on_stream_state_changed(self, message: StreamStateChanged) -> None:
        self.stream_status = message.status

    @work(group="bot", exclusive=True, exit_on_error=False)
    async def _run_bot(self) -> None:
        """Follow the bot's session events for the app's lifetime."""
        assert self.deps.bot is not None
        watcher = self.deps.bot
        try:
            count = 0
            async for event in watcher.events(self._on_bot_state):
                kind = getattr(event, "kind", "")
                if kind == "audio":
                    if self.listen is not None:
                        self.listen.feed(event)
                    continue
                if kind == "barge_in" and self.listen is not None:
                    self.listen.barge_in(event.call_id)
                self.state.bot.ingest(event)
                count += 1
                await self.gate.turn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the feed fails on screen, the console goes on
            self.post_message(BotFeedChanged(FeedStatus("failed", reason=describe_error(exc))))

    def _on_bot_state(self, status: FeedStatus) -> None:
        self.post_message(BotFeedChanged(status))

    def on_bot_feed_changed(self, message: BotFeedChanged) -> None:
        self.bot_status = message.status

    # ---- refresh on a throttle ----------------------------------------------------------

    def request_refresh(self) -> None:
        """Redraw the visible view from state soon (after the pending repaint), not per event:
        what a view calls when the user changed what it shows (a filter, a selection)."""
        if self._switching:
            return  # the switch redraws the view once its first frame is out
        self.call_after_refresh(self._refresh_tick)

    def _refresh_tick(self) -> None:
        if self._switching:
            return  # nothing reaches the terminal until the switch's first frame
        if not self.gate.held:
            self.collector.tick()
        self._redraw()

    def _redraw(self) -> None:
        now = self.clock()
        self.state.board.tick(now)
        base = self._base_screen()
        if base is None or not base.ready:
            return
        base.show_bar(self.bar_info(base))
        if base.LIVE and self.paused:
            return
        self._refresh_screen(base, now)
        top = self.screen
        if top is not base and hasattr(top, "refresh_view"):
            self._refresh_screen(top, now)

    def _refresh_screen(self, screen: Screen[Any], now: float) -> None:
        """Redraw one screen from state; a screen being torn down is skipped, and a redraw
        bug is shown as a notification, never allowed to take the console down."""
        try:
            screen.refresh_view(now)  # type: ignore[attr-defined]
        except NoMatches:
            return  # its widgets are being removed between two ticks (a dialog closing)
        except Exception as exc:
            log.exception("refresh of %s failed", type(screen).__name__)
            self.notify(f"display error: {describe_error(exc)}", severity="error", timeout=4)

    def _base_screen(self) -> ViewScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ViewScreen):
                return screen
        return None

    def bar_info(self, screen: ViewScreen) -> BarInfo:
        me = self.state.my_number
        who = f"me {me}" if self.state.view.mine_only and me else "everyone"
        now = self.clock()

        def counting(status: FeedStatus) -> FeedStatus:
            if status.status != "retrying" or status.retry_in is None:
                return status
            return FeedStatus(status.status, round(status.remaining(now) or 0.0), status.reason)

        return BarInfo(
            views=tuple((key, title) for _, key, title, _ in VIEWS),
            current=screen.VIEW_TITLE,
            who=who,
            stream=counting(self.stream_status),
            bot=counting(self.bot_status) if self.deps.bot is not None else None,
            paused=self.paused,
            paused_new=self.state.board.events_total - self._paused_at_events if self.paused else 0,
            source=self.deps.source,
            clock=time_format().clock(now),
        )

    def _poll(self, initial: bool = False) -> None:
        """Periodic reads (agents, tasks) while their view is on screen, and once at start."""
        base = self._base_screen()
        if initial or isinstance(base, AgentsScreen):
            self.refresh_agents()
        if initial or isinstance(base, TasksScreen):
            self.refresh_tasks()
        if initial:
            self._find_k_number()

    @work(group="k-number", exclusive=True, exit_on_error=False)
    async def _find_k_number(self) -> None:
        """The SR number dialogs offer when none is configured: the account's first number."""
        await self.actions.find_k_number()

    @work(group="agents", exclusive=True, exit_on_error=False)
    async def refresh_agents(self) -> None:
        await self.actions.load_agents()

    @work(group="tasks", exclusive=True, exit_on_error=False)
    async def refresh_tasks(self) -> None:
        await self.actions.load_tasks()

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _LETTER_ACTIONS and isinstance(self.focused, (Input, TextArea, Select, SelectOverlay)):
            # A text field or a dropdown takes what is typed (digits pick options, they
            # do not switch views); esc leaves it.
            return False
        if action == "toggle_pause":
            base = self._base_screen()
            return bool(base and base.LIVE) or self.paused
        return True

    async def on_event(self, event: events.Event) -> None:
        """Input holds the live feeds until it is answered (see console.ingest_gate): the
        hold of a key is released two frames on, or by the view switch it starts once that
        view is up."""
        if isinstance(event, (events.Key, events.MouseDown)) and not event.is_forwarded:
            self.collector.input_seen()
            self.gate.hold()
            self.call_after_refresh(self.call_after_refresh, self.gate.release)
        await super().on_event(event)

    async def action_view(self, name: str) -> None:
        """Show view `name`. A view shown before paints at once with what it held when it
        was hidden (its top bar brought up to date) and is redrawn from state once that
        first frame is out: redrawing first made the key wait for it, and under a flood
        that is the board's thousand rows rebuilt before anything of the view appeared. A
        view shown for the first time has nothing to show yet, so it is filled before its
        first frame. The live feeds wait until then (see console.ingest_gate)."""
        if name == self.current_mode:
            return
        revisit = name in self._shown_views
        self.gate.hold()
        self._switching += revisit
        try:
            await self.switch_mode(name)
            self._shown_views.add(name)
            base = self._base_screen()
            if base is not None and base.ready:
                if revisit:
                    base.show_bar(self.bar_info(base))
                else:
                    self._redraw()
        finally:
            # Textual holds a mode switch's frames back for SWITCH_MASK_S (App.delay_update):
            # a revisited view is redrawn from state, and the feeds go on, once the frame
            # after that has been written.
            self.set_timer(SWITCH_MASK_S, lambda: self.call_after_refresh(self._switch_painted, revisit))

    def _switch_painted(self, revisit: bool) -> None:
        if revisit:
            self._switching = max(0, self._switching - 1)
            self.request_refresh()
        self.gate.release()

    async def on_top_bar_tab_clicked(self, message: TopBar.TabClicked) -> None:
        """A click on a view's tab goes there, as its number key does (also from a text field:
        a click says where the user wants to go; a digit typed there may be meant for the field)."""
        name = next((name for name, key, _, _ in VIEWS if key == message.key), None)
        if name is not None:
            await self.action_view(name)

    async def action_back(self) -> None:
        """esc: close the top dialog. It never changes the view: a user who presses esc to
        get out of something must not land somewhere else (the number keys do that)."""
        if len(self.screen_stack) > 1 and not isinstance(self.screen, ViewScreen):
            self.pop_screen()

    def calls_in_progress(self) -> int:
        """Calls this console is following right now: live board calls and live bot calls."""
        board = sum(1 for row in self.state.board.active.values() if not row.finished)
        bot = sum(1 for call in self.state.bot.calls.values() if not call.finished)
        return board + bot

    async def action_quit(self) -> None:
        """q: quit at once when nothing is in progress, else ask first (Cancel is the default)."""
        live = self.calls_in_progress()
        if live == 0:
            self.exit()
            return
        if isinstance(self.screen, QuitScreen):
            return

        async def submit() -> str | None:
            self.exit()
            return None

        dialog = QuitScreen(
            f"Quit with {live} call{'s' * (live != 1)} in progress?", submit_label="Quit", submit=submit,
            danger=True,
            note="The calls go on; this console stops following them (and the screen pop for "
                 "your number stops)." + (" In the demo, quitting also ends its simulated calls."
                                          if "demo" in self.deps.source else ""),
        )
        self.push_screen(dialog)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_help()))

    def action_toggle_me(self) -> None:
        if not self.state.my_number:
            self.action_set_my_number()
            return
        self.state.view.mine_only = not self.state.view.mine_only
        self.state.board.version += 1
        who = f"my calls ({self.state.my_number})" if self.state.view.mine_only else "everyone's calls"
        self.notify(f"showing {who}", timeout=2)
        self.save_preferences()
        self._refresh_tick()

    def action_set_my_number(self) -> None:
        def done(request: AgentNumber | None) -> None:
            if request is None:
                return
            self.actions.set_my_number(request)
            self.state.view.mine_only = True
            self.notify(f"showing my calls ({self.state.my_number})", timeout=2)
            self.save_preferences()
            self._refresh_tick()

        self.push_screen(
            FormScreen(
                "Your agent number",
                [FormField("agent_number", "Agent number", placeholder="+91XXXXXXXXXX or 10 digits",
                           value=self.state.my_number or "", required=True)],
                build=AgentNumber.model_validate, submit_label="Use this number",
            ),
            done,
        )

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._paused_at_events = self.state.board.events_total
        self._refresh_tick()

    def action_dial(self, number: str | None = None, on_placed: Callable[[], None] | None = None) -> None:
        """Click-to-call: the number selected in the current view, or a blank dial form.
        `on_placed` runs when the dialog closes after it placed its call (a task's call back
        then offers to close the task)."""
        if number is None:
            top = self.screen
            source = top if hasattr(top, "selected_number") else self._base_screen()
            number = source.selected_number() if source is not None else None
        if isinstance(self.screen, DialScreen):
            return
        dialog = DialScreen(self.actions, customer=number or "")

        def closed(_: object) -> None:
            flow = getattr(dialog, "flow", None)
            if on_placed is not None and getattr(flow, "state", "") == "placed":
                on_placed()

        self.push_screen(dialog, closed)

    @work(group="otp", exclusive=True, exit_on_error=False)
    async def action_otp(self) -> None:
        """The OTP dialog, with a picker of the approved sounds (an IVR id can be typed)."""
        try:
            sounds = await self.catalog.sound_choices()
        except Exception:  # noqa: BLE001 - without the list, the IVR id field still works
            sounds = []
        if not isinstance(self.screen, OtpScreen):
            self.push_screen(OtpScreen(self.actions, sounds))

    # ---- listening --------------------------------------------------------------------------

    def start_listening(self, call_id: str, sample_rate: int) -> str | None:
        """Play a bot call's caller+bot audio on the speaker; returns an error line or None."""
        self.stop_listening()
        session = ListenSession(call_id, sample_rate)
        error = session.start()
        if error:
            return error
        self.listen = session
        if self.deps.bot is not None:
            self._send_listen(call_id, True)
        return None

    def stop_listening(self) -> None:
        session, self.listen = self.listen, None
        if session is None:
            return
        session.close()
        if self.deps.bot is not None and self.is_running:
            self._send_listen(session.call_id, False)

    def start_talking(self) -> str | None:
        """A test call to the bot with this machine's microphone as the caller; returns an
        error line (no bot URL known, no microphone) or None."""
        if self.talk is not None:
            return "a test call is already on"
        if self.deps.bot_voice is None:
            return "the console does not know the bot's URL (run it with --serve-bot, or the demo)"
        url, token, rate = self.deps.bot_voice
        session = self.talk_factory(url, sample_rate=rate, token=token)
        error = session.start()
        if error:
            return str(error)
        self.talk = session
        self._run_talk(session)
        return None

    def stop_talking(self) -> None:
        if self.talk is not None:
            self.talk.hang_up()

    @work(group="talk", exit_on_error=False)
    async def _run_talk(self, session: TalkSession) -> None:
        try:
            report = await session.run()
        except Exception as exc:  # noqa: BLE001 - a failed test call is a notice, never a crash
            self.notify(f"test call failed: {describe_error(exc)}", title="talk", severity="error")
        else:
            self.notify(f"test call ended: {report.describe_outcome()}", title="talk", timeout=5)
        finally:
            if self.talk is session:
                self.talk = None

    @work(group="listen", exit_on_error=False)
    async def _send_listen(self, call_id: str, on: bool) -> None:
        assert self.deps.bot is not None
        error = await self.deps.bot.listen(call_id, on)
        if error:
            self.notify(error, severity="warning")

    # ---- help and palette ------------------------------------------------------------------

    def key_for(self, binding: Binding) -> str:
        """The key a binding is on now (after the user's keymap), as shown to the user."""
        key = self._keymap.get(binding.id, binding.key) if binding.id else binding.key
        return ", ".join(self.get_key_display(Binding(k.strip(), "")) for k in key.split(","))

    def key_help(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Every key, by where it applies: (section, [(key, description, binding id)])."""
        from console.widgets.table import VimTable  # noqa: PLC0415 - only the help needs it

        sections: list[tuple[str, list[tuple[str, str, str]]]] = []

        def rows(bindings: Iterable[Binding | tuple[str, ...]]) -> list[tuple[str, str, str]]:
            out = []
            for b in bindings:
                if isinstance(b, Binding):
                    out.append((self.key_for(b), b.description or b.action, b.id or ""))
            return out

        everywhere = rows(self.BINDINGS)
        everywhere.append((self.get_key_display(Binding("ctrl+p", "")), "command palette: every action by name", ""))
        everywhere.extend(rows(ViewScreen.BINDINGS))
        sections.append(("Everywhere", everywhere))
        sections.append(("Tables", rows(VimTable.BINDINGS) + [("↑ ↓ PgUp PgDn", "move", ""), ("enter", "open the row", "")]))
        for _, key, title, cls in VIEWS:
            section = rows(cls.BINDINGS)
            if section:
                sections.append((f"{key} {title}", section))
        dialogs = rows(DialScreen.BINDINGS) + rows(FormScreen.BINDINGS) + rows(DetailScreen.BINDINGS)
        dialogs.append(("tab / shift+tab", "next / previous field", ""))
        sections.append(("Dialogs", dialogs))
        return sections

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for name, key, title, _ in VIEWS:
            yield SystemCommand(f"Go to {title}", f"switch to the {title} view (key {key})",
                                lambda n=name: self.run_action(f"view('{n}')"))
        yield SystemCommand("Dial a number (click-to-call)", "call a customer from an agent number", self.action_dial)
        yield SystemCommand("OTP call", "place an OTP voice call (IVR id, number, customer, channel)", self.action_otp)
        yield SystemCommand("Toggle my calls / everyone", "show only calls of my agent number, or all", self.action_toggle_me)
        yield SystemCommand("Set my agent number", "pick my calls out of the account's stream", self.action_set_my_number)
        yield SystemCommand("Pause / resume the live feed", "freeze the live views to read them", self.action_toggle_pause)
        other = "local time" if time_format().choice == "IST" else "IST"
        yield SystemCommand(f"Time zone: show times in {other}", f"now {time_format().label()}; remembered",
                            self.action_toggle_time_zone)
        yield SystemCommand("Bell for my calls: " + ("off" if self.prefs.ring_bell else "on"),
                            "a terminal bell when a call rings my agent number; remembered", self.action_toggle_bell)
        yield SystemCommand("Help: every key", "list every key binding", self.action_help)
        base = self._base_screen()
        if base is not None:
            for title, help_text, callback in base.palette_commands():
                yield SystemCommand(title, help_text, callback)
        yield SystemCommand("Quit", "close the console (asks first while calls are in progress)", self.action_quit)
        yield from super().get_system_commands(screen)


def build_app(deps: ConsoleDeps) -> ConsoleApp:
    """The app factory: launchers and tests build the console through this."""
    return ConsoleApp(deps)


def build_replay_app(recordings: Sequence[Recording], *, source: str = "", audio: Any = "mixed", speed: float = 1.0,
                     autoplay: bool = True, player_factory: Any = None) -> Any:
    """The console app showing only the Bot view, fed from `recordings` (tests build it here)."""
    replay = ReplaySource(list(recordings), audio_side=audio, player_factory=player_factory)
    replay.cursor.set_speed(speed)
    replay._speed = replay.cursor.speed
    if autoplay:
        replay.cursor.play()

    class ReplayApp(ConsoleApp):
        """The console with one view, the Bot view on recordings; no Knowlarity, no bot."""

        MODES: ClassVar[dict[str, Any]] = {"bot": ReplayScreen}
        DEFAULT_MODE = "bot"

        def __init__(self) -> None:
            settings = ConsoleSettings.model_construct()
            super().__init__(ConsoleDeps(client=None, settings=settings, clock=replay.now, source=source,
                                         start_view="bot"))
            self.replay = replay
            self.state.bot = replay.state

        async def on_mount(self) -> None:
            self.set_interval(1.0 / self.deps.refresh_hz, self._refresh_tick, name="refresh")

        def _refresh_tick(self) -> None:
            self.replay.tick()
            super()._refresh_tick()

        def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
            if action in ("view", "dial", "otp", "toggle_me", "toggle_pause", "set_my_number"):
                return False
            return super().check_action(action, parameters)

        async def action_view(self, name: str) -> None:
            return None

        def _poll(self, initial: bool = False) -> None:
            return None

        def get_system_commands(self, screen: Any) -> Any:
            base = self._base_screen()
            if base is not None:
                for title, help_text, callback in base.palette_commands():
                    yield SystemCommand(title, help_text, callback)
                yield SystemCommand("Quit", "close the replay", self.exit)

    return ReplayApp()
