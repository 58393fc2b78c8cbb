"""9 Library: the phonebooks and sounds campaigns use.

Phonebooks with their counts as Knowlarity reports them (rows, duplicates, invalid, on the
NDNC list); uploading one from typed numbers or a CSV/text file, read and normalised here
first: the lines that are not phone numbers are shown (with their line numbers) before
anything is sent, and only the clean list goes. Sounds with their approval state in words
(under approval / approved / rejected, with the reviewer's comment); adding one by its
public mp3 or wav URL. Only approved sounds can be used in campaigns, so the campaign
forms offer exactly those.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from console.actions import ActionError, fmt_dt
from console.form_models import NewPhonebook, NewSound, PhonebookForm, SoundForm
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.forms import FormField
from console.screens.request_form import RequestForm
from console.widgets.plain import plain
from console.widgets.table import VimTable


def sound_state(status: int | None) -> Text:
    words = {0: "under approval", 1: "approved", 2: "rejected"}
    if status is None:
        return Text("unknown", style="dim")
    return Text(words.get(status, f"unknown ({status})"), style=look({0: "warn", 1: "good", 2: "bad"}.get(status, "dim")))


def count(value: int | None) -> Text:
    return Text("—" if value is None else f"{value:,}", justify="right", style="dim" if not value else "")


class LibraryScreen(ViewScreen):
    VIEW_TITLE = "Library"

    DEFAULT_CSS = """
    #library-pane { height: 1fr; }
    #phonebooks-table, #sounds-table { height: 1fr; }
    """

    BINDINGS = [
        Binding("u", "upload_phonebook", "upload phonebook", id="library.phonebook"),
        Binding("a", "add_sound", "add sound", id="library.sound"),
        Binding("r", "reload", "reload", id="library.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[int, int, str, int] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="library-pane"):
            yield Label("Phonebooks", id="phonebooks-title", classes="pane-title")
            yield VimTable([("id", "Id", 6), ("name", "Phonebook", 24), ("rows", "Rows", 7), ("dups", "Duplicates", 10),
                            ("invalid", "Invalid", 8), ("ndnc", "NDNC", 6), ("when", "Uploaded", 16)],
                           id="phonebooks-table")
            yield Label("Sounds", id="sounds-title", classes="pane-title")
            yield VimTable([("id", "Id", 7), ("name", "Sound", 24), ("state", "State", 15), ("lang", "Language", 9),
                            ("when", "Uploaded", 16), ("comment", "Comment", 40)], id="sounds-table")

    def on_mount(self) -> None:
        self.focus_main()
        self.action_reload()

    def focus_main(self) -> None:
        self.query_one("#phonebooks-table", VimTable).focus()

    @work(group="library", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        await self.capp.catalog.load_phonebooks()
        await self.capp.catalog.load_sounds()
        self.refresh_view(self.capp.clock())

    def refresh_view(self, now: float) -> None:
        books, sounds, view = self.capp.state.phonebooks, self.capp.state.sounds, self.view
        key = (books.version, sounds.version, view.text, generation())
        if key == self._shown:
            return
        self._shown = key
        self.query_one("#phonebooks-table", VimTable).sync_rows([
            (r.id, (r.id, r.item.phonebookname or "", count(r.item.row_count), count(r.item.duplicates_count),
                    count(r.item.invalid_count), count(r.item.ndnc_count), fmt_dt(r.item.timestamp)))
            for r in books.rows(view, "phonebookname", "description")
        ])
        self.query_one("#sounds-table", VimTable).sync_rows([
            (r.id, (r.id, r.item.soundname or "", sound_state(r.item.status), r.item.language or "",
                    fmt_dt(r.item.date), r.item.comment or r.item.description or ""))
            for r in sounds.rows(view, "soundname", "language", "description", "comment")
        ])
        title = f"Phonebooks: {len(books.items)}   u uploads one (typed numbers or a CSV/text file)"
        if books.error:
            title += f"   ⚠ {books.error}"
        self.query_one("#phonebooks-title", Label).update(plain(title))
        approved = sum(1 for r in sounds.items.values() if r.item.approved)
        title = f"Sounds: {len(sounds.items)} ({approved} approved: only those play in campaigns)   a adds one by URL"
        if sounds.error:
            title += f"   ⚠ {sounds.error}"
        self.query_one("#sounds-title", Label).update(plain(title))

    def selected_number(self) -> str | None:
        return None

    # ---- uploads --------------------------------------------------------------------------

    def action_upload_phonebook(self) -> None:
        def build(values: dict[str, str]) -> NewPhonebook:
            return PhonebookForm.model_validate(values).to_request()

        def confirm(book: NewPhonebook) -> str:
            lines = [f"“{book.name}”: {book.numbers.summary()}."]
            if book.numbers.bad:
                shown = book.numbers.bad[:6]
                lines += ["Left out (not phone numbers):", *(f"  {b}" for b in shown)]
                if len(book.numbers.bad) > len(shown):
                    lines.append(f"  … and {len(book.numbers.bad) - len(shown)} more")
            lines.append(f"Press again to upload the {len(book.numbers.numbers)} good numbers.")
            return "\n".join(lines)

        async def submit(book: NewPhonebook) -> str | None:
            try:
                message = await self.capp.catalog.upload_phonebook(book)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title="phonebook", timeout=6)
            self.action_reload()
            return None

        self.capp.push_screen(RequestForm(
            "Upload a phonebook",
            [
                FormField("name", "Name", required=True, placeholder="as campaigns will show it"),
                FormField("numbers", "Numbers", placeholder="+91…; +91…  (one per line, ; or , between)"),
                FormField("file", "Or a file", placeholder="path to a CSV or text file of numbers"),
            ],
            build=build, submit=submit, submit_label="Upload", confirm=confirm,
            note="Numbers are checked and normalised here first; the lines that are not numbers are shown.",
        ))

    def action_add_sound(self) -> None:
        def build(values: dict[str, str]) -> NewSound:
            return SoundForm.model_validate(values).to_request()

        async def submit(sound: NewSound) -> str | None:
            try:
                message = await self.capp.catalog.upload_sound(sound)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title="sound", timeout=6)
            self.action_reload()
            return None

        self.capp.push_screen(RequestForm(
            "Add a sound",
            [
                FormField("url", "Public URL", required=True, placeholder="https://…/greeting.mp3 (mp3 or wav)"),
                FormField("name", "Name", placeholder="default: the file's name"),
                FormField("language", "Language", placeholder="optional, e.g. english"),
                FormField("description", "Description", placeholder="optional"),
            ],
            build=build, submit=submit, submit_label="Add",
            note="Knowlarity fetches the file from its URL and reviews it: it is usable once approved.",
        ))

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Library: upload a phonebook", "typed numbers or a CSV/text file", self.action_upload_phonebook)
        yield ("Library: add a sound by URL", "a public mp3 or wav", self.action_add_sound)
        yield ("Library: reload", "", self.action_reload)
