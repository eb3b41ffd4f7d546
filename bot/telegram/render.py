"""Core views as Telegram messages: HTML text (user text escaped) and inline keyboards.

Messages stay under Telegram's limits: long texts are split at paragraph boundaries, then at line
boundaries, then at spaces (never inside a word unless a single word is longer than a message).

A question's keyboard is the same for every user at that question in that language: it is built
once (`_question_keyboard`, cached on the view and the language) and turned into the Bot API's
JSON once (`Keyboard`), which saves about a tenth of a millisecond per question sent.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialogue.engine import CONFIRM, KEEP
from bot.dialogue.model import Texts
from bot.dialogue.views import Answered, Ask, Menu
from bot.telegram.callbacks import CallbackKind, encode

MAX_TEXT = 4096
#: Question keyboards kept built: a few per question and language (with its answer kept, ticks).
KEYBOARDS_KEPT = 2048


class Keyboard(InlineKeyboardMarkup):
    """An inline keyboard sent many times: its JSON is made on the first send and kept (PTB's
    objects cannot change once made, so it stays true)."""

    __slots__ = ("_wire",)

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        if not recursive:
            return super().to_dict(recursive)
        wire: dict[str, Any] | None = getattr(self, "_wire", None)
        if wire is None:
            wire = super().to_dict()
            with self._unfrozen():
                self._wire = wire
        return wire


@dataclass(frozen=True)
class Message:
    text: str  # HTML
    keyboard: InlineKeyboardMarkup | None = None


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def question(view: Ask, texts: Texts, preface: str = "") -> Message:
    """A question: progress, text, the answer already given, a hint, and its buttons; under
    `preface` (HTML: a greeting sent with the question, see handlers.start) if there is one."""
    parts = [preface] if preface else []
    if view.stage_title:
        header = f"<b>{escape(view.stage_title)}</b>"
        if view.stage_intro:
            header += f"\n{escape(view.stage_intro)}"
        parts.append(header)
    parts.append(f"<i>{escape(view.progress)}</i>\n<b>{escape(view.text)}</b>")
    if view.current is not None:
        parts.append(escape(texts.ui("cli.current_answer", answer=view.current)))
    parts.append(f"<i>{escape(view.hint)}</i>")
    return Message("\n\n".join(parts), _question_keyboard(view, texts))


def answered(view: Answered, preface: str = "") -> Message:
    """What a question's message becomes once answered: the question and the answer, no buttons
    (under the greeting it was sent with, if any)."""
    text = f"{escape(view.text)}\n✅ <b>{escape(view.display)}</b>"
    return Message(f"{preface}\n\n{text}" if preface else text)


def menu(view: Menu) -> Message:
    if any(o.group for o in view.options):
        return _grouped_menu(view)
    rows = [
        [_button(o.label, encode(CallbackKind.MENU, view.target, o.value))] for o in view.options
    ]
    if len(view.options) == 2:
        rows = [[button for row in rows for button in row]]
    return Message(escape(view.text), InlineKeyboardMarkup(rows))


def _grouped_menu(view: Menu) -> Message:
    """A long menu under headings (answers by stage): the list, numbered, in the message;
    numbered buttons, five to a row, below it."""
    lines = [escape(view.text)]
    group: str | None = None
    for number, option in enumerate(view.options, start=1):
        if option.group != group:
            group = option.group
            lines.append(f"\n<b>{escape(group or '')}</b>")
        lines.append(f"{number}. {escape(option.label)}")
    buttons = [
        _button(str(number), encode(CallbackKind.MENU, view.target, option.value))
        for number, option in enumerate(view.options, start=1)
    ]
    rows = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    return Message("\n".join(lines), InlineKeyboardMarkup(rows))


def choice_keyboard(options: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """A row of buttons from (label, callback data) pairs."""
    return InlineKeyboardMarkup([[_button(label, data) for label, data in options]])


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)


@functools.lru_cache(maxsize=KEYBOARDS_KEPT)
def _question_keyboard(view: Ask, texts: Texts) -> InlineKeyboardMarkup:
    qid = view.question_id
    rows: list[list[InlineKeyboardButton]] = []
    if view.type == "multi":
        for option in view.options:
            mark = "☑️ " if option.selected else "▫️ "
            rows.append(
                [_button(mark + option.label, encode(CallbackKind.ANSWER, qid, option.value))]
            )
        rows.append(
            [_button(texts.ui("buttons.confirm"), encode(CallbackKind.ANSWER, qid, CONFIRM))]
        )
    elif view.type == "scale":
        rows.append(
            [_button(o.label, encode(CallbackKind.ANSWER, qid, o.value)) for o in view.options]
        )
    elif view.options:
        rows += _pairs(
            [_button(o.label, encode(CallbackKind.ANSWER, qid, o.value)) for o in view.options],
            view,
        )
    if view.current is not None and view.type != "multi":
        rows.append([_button(texts.ui("buttons.keep"), encode(CallbackKind.ANSWER, qid, KEEP))])
    controls = [_button(texts.ui("buttons.why"), encode(CallbackKind.WHY, qid))]
    if view.notyet and view.type != "yesno":
        label = view.notyet_label or texts.ui("buttons.notyet")
        controls.append(_button(label, encode(CallbackKind.ANSWER, qid, "notyet")))
    if view.can_skip:
        controls.append(
            _button(texts.ui("buttons.skip"), encode(CallbackKind.CONTROL, qid, "skip"))
        )
    if view.can_back:
        controls.append(
            _button(texts.ui("buttons.back"), encode(CallbackKind.CONTROL, qid, "back"))
        )
    rows += [controls[i : i + 3] for i in range(0, len(controls), 3)]
    return Keyboard(rows)


def _pairs(buttons: list[InlineKeyboardButton], view: Ask) -> list[list[InlineKeyboardButton]]:
    # Yes / no / not yet fit on one row; longer labels go two by two, or one by one when long.
    if view.type == "yesno":
        return [buttons]
    width = 1 if any(len(o.label) > 20 for o in view.options) else 2
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split text into messages of at most `limit` characters at the cleanest boundary.

    Tags of Telegram's HTML never span a paragraph in our output, so splitting at blank lines
    and line ends keeps every part well-formed.
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for block in _pieces(text, limit):
        candidate = f"{current}{block}" if current else block.lstrip("\n")
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                parts.append(current.rstrip())
            current = block.lstrip("\n")
    if current.strip():
        parts.append(current.rstrip())
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs (with their separators), broken further only when one is over the limit."""
    pieces: list[str] = []
    for index, paragraph in enumerate(text.split("\n\n")):
        prefix = "\n\n" if index else ""
        if len(paragraph) <= limit - 2:
            pieces.append(prefix + paragraph)
            continue
        for line_index, line in enumerate(paragraph.split("\n")):
            line_prefix = prefix if line_index == 0 else "\n"
            while len(line) > limit - 2:
                cut = line.rfind(" ", 0, limit - 2)
                cut = cut if cut > 0 else limit - 2
                pieces.append(line_prefix + line[:cut])
                line, line_prefix = line[cut:].lstrip(" "), "\n"
            pieces.append(line_prefix + line)
    return pieces
