"""`alliance-bot chat`: the checklist in a terminal, through the same core and database.

Scriptable: it reads one answer per line from standard input, so a file of answers can be piped in.
Choices are numbered; commands are the bot's (/back, /skip, /why, /edit, /summary, /restart), plus
/quit. End of input leaves like /quit: everything answered so far is already saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TextIO

from bot.conversations import Conversations, Session
from bot.dialogue.engine import COMMANDS, Command, Input, Pick, Text
from bot.dialogue.model import Texts
from bot.dialogue.views import Answered, Ask, Menu, Say, ShowSummary, View
from bot.report import Plain, render_summary


class TerminalChat:
    """One user's chat session between a text stream and the conversations service."""

    session: Session  # opened by run()

    def __init__(
        self,
        conversations: Conversations,
        user_key: str,
        *,
        lang: str | None,
        read_line: Callable[[], str | None],
        out: TextIO,
    ) -> None:
        self.conversations = conversations
        self.read_line = read_line
        self.out = out
        self.user_key = user_key
        self.lang = lang
        self.menu: Menu | None = None

    @property
    def texts(self) -> Texts:
        return self.conversations.engine.texts(self.session.user.lang)

    async def run(self) -> int:
        """Chat until /quit or end of input. Returns the exit status."""
        self.session = await self.conversations.open(self.user_key, lang=self.lang)
        if self.lang is not None and self.session.user.lang != self.lang:
            await self.conversations.set_language(self.session, self.lang)
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
            if line in ("/quit", "/exit", "/q"):
                break
            if line == "/delete":
                await self.conversations.delete(self.session)
                self.say(self.texts.ui("cli.deleted"))
                return 0
            self.show(await self.conversations.handle(self.session, self.parse(line)))
        self.say(self.texts.ui("cli.bye"))
        return 0

    def lines(self) -> Iterator[str]:
        while True:
            self.out.write(self.texts.ui("cli.prompt"))
            self.out.flush()
            line = self.read_line()
            if line is None:
                self.out.write("\n")
                return
            yield line.strip()

    def parse(self, line: str) -> Input:
        """A typed line as an engine input: a command, a menu pick, or an answer."""
        menu, self.menu = self.menu, None
        if line.startswith("/"):
            name, _, arg = line[1:].partition(" ")
            name = name.lower()
            return Command(name if name in COMMANDS else "unknown", arg.strip())
        if menu is not None and line.isdigit() and 1 <= int(line) <= len(menu.options):
            return Pick(menu.target, menu.options[int(line) - 1].value)
        return Text(line)

    # Output --------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    def show(self, views: tuple[View, ...]) -> None:
        for view in views:
            if isinstance(view, Ask):
                self.ask(view)
            elif isinstance(view, Say):
                self.say(view.text)
            elif isinstance(view, Menu):
                self.menu = view
                self.say(view.text)
                for index, option in enumerate(view.options, start=1):
                    self.say(f"  {index}. {option.label}")
            elif isinstance(view, ShowSummary):
                self.say("")
                self.say(render_summary(view.summary, self.texts, Plain()))
                self.say("")
            elif isinstance(view, Answered):
                pass  # the terminal already shows what was typed

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
            self.say(ui("cli.notyet"))
        if view.current is not None:
            self.say(ui("cli.current_answer", answer=view.current))
