"""Click-to-call and OTP call dialogs.

Dialling rings a real person, so the dialog asks once ("Dial" shows what will happen;
"Call now" does it) and never twice: the flow object in console.actions refuses a
second request once one is in flight or done, and the button is disabled the moment it
is pressed. After the outcome the dialog follows that call's live events on the board.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from console.actions import ActionError, Actions, DialFlow, describe_error
from console.form_models import OtpCall
from console.look import look
from console.screens.forms import FormField, FormScreen
from console.state import EVENT_LABELS
from console.widgets.plain import safe_cell, safe_text

CHANNELS = [("PSTN (phone)", "PSTN"), ("WhatsApp", "Whatsapp")]


class DialScreen(ModalScreen[None]):
    """Agent number, customer number, SR number, caller id, PSTN or WhatsApp."""

    BINDINGS = [
        Binding("escape", "close", "close", id="dial.close"),
        Binding("ctrl+s", "primary", "dial", id="dial.go"),
    ]

    def __init__(self, actions: Actions, *, customer: str = "") -> None:
        super().__init__()
        self.actions = actions
        self.flow: DialFlow = actions.dial_flow()
        self.customer = customer

    def compose(self) -> ComposeResult:
        settings = self.actions.settings
        with Vertical(classes="dialog form-dialog", id="dial-box"):
            yield Label("☎ Click-to-call", classes="dialog-title")
            yield Static("Knowlarity rings the agent first, then connects the customer.", classes="dialog-note")
            with Horizontal(classes="form-row"):
                yield Label("Agent number *", classes="form-label")
                yield Input(value=self.actions.state.my_number or settings.agent_number or "",
                            placeholder="the phone that rings first", id="dial-agent", classes="form-input")
            with Horizontal(classes="form-row"):
                yield Label("Customer number *", classes="form-label")
                yield Input(value=self.customer, placeholder="+91XXXXXXXXXX", id="dial-customer", classes="form-input")
            with Horizontal(classes="form-row"):
                yield Label("SR number *", classes="form-label")
                yield Input(value=self.actions.default_k_number or "", placeholder="your Knowlarity number",
                            id="dial-knumber", classes="form-input")
            with Horizontal(classes="form-row"):
                yield Label("Caller id", classes="form-label")
                yield Input(placeholder="optional", id="dial-callerid", classes="form-input")
            with Horizontal(classes="form-row"):
                yield Label("Channel", classes="form-label")
                yield Select(CHANNELS, value="PSTN", allow_blank=False, id="dial-channel", classes="form-input")
            with Horizontal(classes="form-row"):
                yield Label("Ask permission", classes="form-label")
                yield Checkbox("WhatsApp call permission request", value=False, id="dial-permission", classes="form-input")
            yield Static("", id="dial-status", classes="form-error")
            yield Static("", id="dial-events", classes="dial-events")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Dial …", variant="primary", id="dial-go")
                yield Button("Cancel", id="dial-cancel")

    async def on_mount(self) -> None:
        target = "#dial-customer" if not self.customer else "#dial-go"
        if not self.query_one("#dial-agent", Input).value:
            target = "#dial-agent"
        self.query_one(target).focus()
        if not self.actions.default_k_number:
            self._load_k_number()

    @work(exit_on_error=False)
    async def _load_k_number(self) -> None:
        number = await self.actions.find_k_number()
        box = self.query_one("#dial-knumber", Input)
        if number and not box.value:
            box.value = number

    def _values(self) -> dict[str, str]:
        channel = self.query_one("#dial-channel", Select).value
        return {
            "agent_number": self.query_one("#dial-agent", Input).value,
            "customer_number": self.query_one("#dial-customer", Input).value,
            "k_number": self.query_one("#dial-knumber", Input).value,
            "caller_id": self.query_one("#dial-callerid", Input).value,
            "channel": str(channel) if channel is not Select.BLANK else "PSTN",
            "call_permission_request": "true" if self.query_one("#dial-permission", Checkbox).value else "",
        }

    def _set_status(self, text: Text | str) -> None:
        self.query_one("#dial-status", Static).update(safe_cell(text))

    def _lock_inputs(self, locked: bool) -> None:
        for widget in self.query(".form-input"):
            widget.disabled = locked

    @on(Input.Submitted)
    @on(Button.Pressed, "#dial-go")
    def action_primary(self) -> None:
        """First press: check and show what will happen. Second press: place the call once."""
        state = self.flow.state
        if state in ("editing", "failed_validation"):
            try:
                request = self.flow.prepare(self._values())
            except ActionError as exc:
                self._set_status(Text(str(exc), look("bad")))
                return
            self._lock_inputs(True)
            self._set_status(Text.assemble(
                ("Call ", ""), (request.customer_number, "bold"), (" from agent ", ""), (request.agent_number, "bold"),
                (f" via {request.channel_label}?  ", ""), ("Press “Call now” to dial, esc to cancel.", "dim"),
            ))
            button = self.query_one("#dial-go", Button)
            button.label = "Call now"
            button.variant = "warning"
            button.focus()
        elif state == "confirming":
            button = self.query_one("#dial-go", Button)
            button.disabled = True
            button.label = "Dialling …"
            self._set_status(Text("dialling …", "bold"))
            self._place()

    @work(exit_on_error=False, group="dial")
    async def _place(self) -> None:
        await self.flow.place()
        button = self.query_one("#dial-go", Button)
        if self.flow.state == "placed":
            self._set_status(Text.assemble(("✓ ", look("bold good")), (self.flow.outcome, ""),
                                           ("  — following the call below", "dim")))
            button.label = "Placed"
        else:
            self._set_status(Text.assemble(("✕ ", look("bold bad")), (self.flow.outcome, look("bad"))))
            button.label = "Failed"
        self.query_one("#dial-cancel", Button).label = "Close"

    def refresh_view(self, now: float) -> None:
        """Called by the app's timer: show the placed call's live events."""
        if self.flow.state != "placed":
            return
        row = self.flow.matched_call(self.actions.state.board)
        if row is None:
            self.query_one("#dial-events", Static).update(Text("waiting for the call's first event …", "dim italic"))
            return
        text = Text()
        text.append(f"call {row.uuid[:8]}  ", "dim")
        for i, event in enumerate(row.events):
            if i:
                text.append(" → ", "dim")
            text.append(EVENT_LABELS.get(event, event.lower()), "bold" if i == len(row.events) - 1 else "")
        if row.finished:
            text.append(f"   ({row.duration(now):.0f} s)", "dim")
        self.query_one("#dial-events", Static).update(safe_text(text))

    @on(Button.Pressed, "#dial-cancel")
    def action_close(self) -> None:
        if self.flow.state == "dialing":
            self.app.notify("the call is being placed; wait for the outcome", timeout=3)
            return
        if self.flow.state == "confirming":
            # Back to editing: nothing was sent.
            self.flow.reset()
            self._lock_inputs(False)
            button = self.query_one("#dial-go", Button)
            button.label, button.variant = "Dial …", "primary"
            self._set_status("")
            return
        self.dismiss(None)

    def selected_number(self) -> str | None:
        return self.query_one("#dial-customer", Input).value or None


class OtpScreen(FormScreen[OtpCall]):
    """An OTP voice call: an approved sound (picked) or an IVR id, SR number, customer, channel."""

    def __init__(self, actions: Actions, sounds: list[tuple[str, str]] | None = None) -> None:
        self.actions = actions
        picker = [FormField("sound_id", "Sound", choices=[("— none: the IVR id below —", ""), *sounds])] if sounds else []
        super().__init__(
            "OTP call",
            [
                *picker,
                FormField("ivr_id", "IVR id" if not sounds else "or IVR id", placeholder="100xxxxxxx",
                          required=not sounds),
                FormField("k_number", "SR number", value=actions.default_k_number or "", required=True),
                FormField("customer_number", "Customer", placeholder="+91XXXXXXXXXX", required=True),
                FormField("channel", "Channel", choices=CHANNELS, value="PSTN"),
                FormField("call_permission_request", "Ask permission", check=True),
            ],
            build=OtpCall.model_validate,
            submit_label="Place OTP call",
            submit=self._submit,
            note="Places one call; it is never retried automatically.",
        )

    async def _submit(self, request: OtpCall) -> str | None:
        try:
            message = await self.actions.otp_call(request)
        except ActionError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never a crash
            return describe_error(exc)
        self.app.notify(message, title="OTP call", timeout=6)
        return None
