"""What the core asks a front end to show. Front ends (Telegram, terminal) only format these."""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.summary import Summary


@dataclass(frozen=True)
class Option:
    value: str  # the answer key a button carries
    label: str
    selected: bool = False
    group: str | None = None  # a heading the option is listed under (a stage, in /edit)


@dataclass(frozen=True)
class Ask:
    """A question to show, with everything needed to answer it."""

    question_id: str
    type: str
    progress: str  # "Étape 3/7 · question 2/5"
    text: str
    hint: str  # how to answer by typing
    options: tuple[Option, ...] = ()
    stage_title: str | None = None  # set on the first question of a stage
    stage_intro: str | None = None
    current: str | None = None  # the answer already given, shown when revisiting (kept on Enter)
    notyet: bool = False  # "not yet" is accepted
    notyet_label: str = ""  # its wording for this question ("Pas encore", "Pas encore clair")
    can_back: bool = False
    can_skip: bool = False
    refresh: bool = False  # same question, new selection: a front end may edit in place


@dataclass(frozen=True)
class Say:
    """A message. kind: "info"; "error"; "help" (why a question is asked); "commands" (the
    command list: a front end may show its own, the terminal's has /quit); "stale" (a button
    of a message already answered: Telegram shows it as a pop-up notice)."""

    text: str
    kind: str = "info"


@dataclass(frozen=True)
class Answered:
    """A question was just answered: a front end may update the message that asked it."""

    question_id: str
    text: str
    display: str


@dataclass(frozen=True)
class Menu:
    """A choice outside the checklist: which answer to edit, confirm a restart, ..."""

    target: str  # "edit" or "restart": what a pick of one of the options means
    text: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class ShowSummary:
    summary: Summary


View = Ask | Say | Answered | Menu | ShowSummary
