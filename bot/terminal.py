"""`alliance-bot chat`: the checklist in a terminal, through the same core and database.

Scriptable: it reads one answer per line from standard input, so a file of answers can be piped in.
Choices are numbered; commands are the bot's (/back, /skip, /why, /edit, /summary, /restart), plus
/quit. End of input leaves like /quit: everything answered so far is already saved.

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
        width: int | None = None,
    ) -> None:
        self.conversations = conversations
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
            self.show(self.conversations.handle(self.session, self.parse(line)))
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

    def parse(self, line: str) -> Input:
        """A typed line as an engine input: a command, a menu pick, or an answer."""
        menu, self.menu = self.menu, None
        if line.startswith("/"):
            name, _, arg = line[1:].partition(" ")
            return Command(name.lower(), arg.strip())  # the core knows /pourquoi too
        if menu is not None and line.isdigit() and 1 <= int(line) <= len(menu.options):
            return Pick(menu.target, menu.options[int(line) - 1].value)
        return Text(line)

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
