"""`alliance-bot chat`: the checklist in a terminal, through the same core and database.

Scriptable: it reads one answer per line from standard input, so a file of answers can be piped in.
Choices are numbered; commands are the bot's (/back, /skip, /why, /edit, /summary, /restart,
/reminders, /timezone), plus /quit. End of input leaves like /quit: everything answered so far is
already saved.

Reminders are offered as on Telegram, through the same flow (bot/reminders/flow/); their
choices carry letters (a, b, ...), so they never clash with a question's numbers. What is
accepted is stored, and shows in `alliance-bot export --format ics`.

Text is wrapped at word boundaries to the terminal's width. A block of several lines pasted at
once (a terminal in bracketed-paste mode marks it, see `PASTE_START`) is one answer to a text
question, and is refused elsewhere: it never answers the next questions too.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Callable, Iterator
from typing import TextIO

from bot.conversations import Conversations, Session
from bot.dialogue.engine import Command, Input, Pick, Text
from bot.dialogue.model import Texts
from bot.dialogue.views import Answered, Ask, Menu, Say, ShowSummary, View
from bot.reminders import flow
from bot.reminders.service import Reminders
from bot.report import Plain, render_summary

PASTE_START = "\x1b[200~"  # what a terminal in bracketed-paste mode sends before a paste...
PASTE_END = "\x1b[201~"  # ...and after it
QUIT = ("/quit", "/exit", "/q", "/quitter")
# The space before French ? ! : ; » and after «: not a place to break a line.
_GLUED = re.compile(r"(?<=«) | (?=[?!:;»])")


class TerminalChat:
    """One user's chat session between a text stream and the conversations service."""

    def __init__(
        self,
        conversations: Conversations,
        user_key: str,
        *,
        lang: str | None,
        read_line: Callable[[], str | None],
        out: TextIO,
        reminders: Reminders | None = None,
        width: int | None = None,
    ) -> None:
        self.conversations = conversations
        self.reminders = reminders
        self.choices: list[dict[str, flow.Event]] = []  # the reminder offers shown, by letter
        self.letters = 0
        self.read_line = read_line
        self.out = out
        self.width = width or shutil.get_terminal_size().columns
        self.session: Session = conversations.open(user_key, lang=lang)
        if lang is not None and self.session.user.lang != lang:
            conversations.set_language(self.session, lang)
        self.menu: Menu | None = None

    @property
    def texts(self) -> Texts:
        return self.conversations.engine.texts(self.session.user.lang)

    def run(self) -> int:
        """Chat until /quit or end of input. Returns the exit status."""
        engine = self.conversations.engine
        today = self.conversations.today(self.session.user)
        self.show(
            engine.resume(
                self.session.state,
                self.session.answers,
                self.session.user.lang,
                today,
                fresh=self.session.fresh or not self.session.answers,
            )
        )
        for line in self.lines():
            if "\n" in line:
                if not self.takes_a_block():
                    self.say(self.texts.ui("cli.pasted", count=len(line.split("\n"))))
                    continue
                line = " ".join(line.split("\n"))  # one answer, on one line
            if line.lower() in QUIT:
                break
            if line == "/delete":
                self.conversations.delete(self.session)
                self.say(self.texts.ui("cli.deleted"))
                return 0
            event = self.parse(line)
            if isinstance(event, Text | Pick | Command):
                self.answer(event)
            else:
                self.remind(event)
        self.say(self.texts.ui("cli.bye"))
        return 0

    def lines(self) -> Iterator[str]:
        """What the user sends, one input at a time: a typed line, or a pasted block (its
        lines joined by newlines)."""
        while True:
            self.out.write(self.texts.ui("cli.prompt"))
            self.out.flush()
            line = self.read_line()
            if line is None:
                self.out.write("\n")
                return
            if PASTE_START in line:
                block = [line]
                while PASTE_END not in block[-1] and (more := self.read_line()) is not None:
                    block.append(more)
                text = "".join(block).replace(PASTE_START, "").replace(PASTE_END, "")
                parts = [part.strip() for part in text.splitlines() if part.strip()]
                yield "\n".join(parts)
                continue
            yield line.strip()

    def takes_a_block(self) -> bool:
        """Whether the question on screen takes several pasted lines as one answer."""
        at = self.session.state.at
        question = self.conversations.engine.dialogue.questions.get(at)
        return question is not None and question.type == "text" and self.menu is None

    def parse(self, line: str) -> Input | flow.Event:
        """A typed line as an input: a command, a reminder choice or date, a menu pick, or an
        answer."""
        menu, self.menu = self.menu, None
        if line.startswith("/"):
            name, _, arg = line[1:].partition(" ")
            name, arg = name.lower(), arg.strip()
            if self.reminders is not None and name == "reminders":
                return flow.ListReminders()
            if self.reminders is not None and name == "timezone":
                return flow.TimezoneChoice(arg) if arg else flow.AskTimezone()
            return Command(name, arg)  # the core knows /pourquoi too
        if self.reminders is not None:
            for group in self.choices:
                if line.lower() in group:
                    if not isinstance(group[line.lower()], flow.ReminderAction):
                        self.choices.remove(group)  # an offer is answered once
                    return group[line.lower()]
            if self.session.awaiting is not None:
                return flow.Typed(line)
        if menu is not None and line.isdigit() and 1 <= int(line) <= len(menu.options):
            return Pick(menu.target, menu.options[int(line) - 1].value)
        return Text(line)

    def answer(self, event: Input) -> None:
        """A checklist input, then what the reminders offer after it."""
        self.show(self.conversations.handle(self.session, event))
        if self.reminders is None:
            return
        self.choices, self.letters = [], 0  # the checklist moved on: earlier offers lapse
        session = self.session
        for then in flow.after_checklist(
            session.last_writes, session.state.at, session.just_finished
        ):
            self.remind(then)

    def remind(self, event: flow.Event) -> None:
        """One input of the reminder flow (committed by the service), then what it shows."""
        assert self.reminders is not None
        outcome = self.reminders.handle(self.session, event)
        for view in outcome.views:
            if isinstance(view, flow.Offer):
                self.offer(view)
            else:
                self.say(view.text)

    def offer(self, view: flow.Offer) -> None:
        ui = self.texts.ui
        self.say("")
        for part in (view.text, view.question):
            if part:
                self.say(part)
        group: dict[str, flow.Event] = {}
        for button in (button for row in view.rows for button in row):
            letter = _letter(self.letters)
            self.letters += 1
            group[letter] = button.event
            self.say(ui("reminder_flow.terminal.choice", letter=letter, label=button.label))
        self.choices.append(group)
        self.say(ui("reminder_flow.terminal.pick"))

    # Output --------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Print text wrapped at word boundaries to the terminal's width; a line that starts
        with spaces or a list number keeps its indent on its continuation lines."""
        for line in text.split("\n"):
            if len(line) <= self.width:
                self.out.write(line + "\n")
                continue
            body = line.lstrip(" ")
            indent = " " * (len(line) - len(body))
            marker = body.split(" ", 1)[0]
            hanging = indent + " " * (len(marker) + 1) if marker[:-1].isdigit() else indent
            wrapped = textwrap.fill(
                _GLUED.sub("\u00a0", line),  # "alliance ?" never leaves "?" alone on a line
                width=self.width,
                subsequent_indent=hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
            self.out.write(wrapped.replace("\u00a0", " ") + "\n")

    def show(self, views: tuple[View, ...]) -> None:
        for view in views:
            if isinstance(view, Ask):
                self.ask(view)
            elif isinstance(view, Say) and view.kind == "commands":
                self.say(self.texts.ui("cli.help"))  # the terminal's own: /quit, no buttons
            elif isinstance(view, Say):
                self.say(view.text)
            elif isinstance(view, Menu):
                self.menu = view
                self.say(view.text)
                group: str | None = None
                for index, option in enumerate(view.options, start=1):
                    if option.group is not None and option.group != group:
                        group = option.group
                        self.say(f"-- {group} --")
                    self.say(f"  {index}. {option.label}")
            elif isinstance(view, ShowSummary):
                self.say("")
                self.say(render_summary(view.summary, self.texts, Plain()))
                self.say("")
            elif isinstance(view, Answered):
                question = self.conversations.engine.dialogue.questions.get(view.question_id)
                if question is not None and question.type == "date":  # how it was read
                    self.say(self.texts.ui("cli.answered", answer=view.display))

    def ask(self, view: Ask) -> None:
        ui = self.texts.ui
        self.say("")
        if view.stage_title:
            self.say(f"== {view.stage_title} ==")
            if view.stage_intro:
                self.say(view.stage_intro)
            self.say("")
        self.say(f"[{view.progress}]")
        self.say(view.text)
        if view.type == "scale":  # "1. 1 ... 5. 5" says nothing: give the range
            self.say(ui("cli.scale", min=view.options[0].label, max=view.options[-1].label))
        else:
            for index, option in enumerate(view.options, start=1):
                mark = "[x] " if option.selected else ("[ ] " if view.type == "multi" else "")
                self.say(f"  {index}. {mark}{option.label}")
        if view.type == "scale":
            pass
        elif view.type == "multi":
            self.say(ui("cli.choices_multi"))
        elif view.options:
            self.say(ui("cli.choices"))
        else:
            self.say(view.hint)
        if view.notyet and view.type != "yesno":
            self.say(ui("cli.notyet", notyet=view.notyet_label))
        if view.current is not None:
            self.say(ui("cli.current_answer", answer=view.current) + " " + ui("cli.keep"))


def _letter(index: int) -> str:
    """a, b, ..., z, aa, ab, ...: the label of a reminder choice in the terminal."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters
