"""Question keyboards (bot/telegram/render.py) are built once per question and language and
sent as they are: one manager's ticks never show on another's."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.dialogue.views import Ask
from bot.telegram import render
from tests.test_engine import Chat


def _keyboard(chat: Chat):
    view = chat.ask
    assert isinstance(view, Ask)
    message = render.question(view, chat.engine.texts(chat.lang))
    assert message.keyboard is not None
    return message.keyboard


def _rows(keyboard):
    return [
        [(b["text"], b["callback_data"]) for b in row]
        for row in keyboard.to_dict()["inline_keyboard"]
    ]


def test_two_managers_at_the_same_question_get_the_same_buttons_built_once(mini_engine):
    ana, bob = Chat(mini_engine, "en"), Chat(mini_engine, "en")
    for chat in (ana, bob):
        chat.send("Acme")
    first, second = _keyboard(ana), _keyboard(bob)
    assert first is second
    # What is sent is what a keyboard built afresh would send.
    fresh = InlineKeyboardMarkup(first.inline_keyboard)
    assert first.to_dict() == fresh.to_dict()
    assert first.to_json() == fresh.to_json()
    labels = [text for row in _rows(first) for text, _ in row]
    assert any(label.startswith("Alpha") for label in labels)


def test_one_managers_ticks_do_not_show_on_anothers_keyboard(mini_engine):
    ana, bob = Chat(mini_engine, "en"), Chat(mini_engine, "en")
    for chat in (ana, bob):
        chat.send("Acme")
        chat.tap("kind", "alpha")
    untouched = _rows(_keyboard(bob))
    ana.tap("picks", "x")
    ticked = _rows(_keyboard(ana))
    assert ticked != untouched
    assert ticked[0][0][0].startswith("☑️")
    assert untouched[0][0][0].startswith("▫️")
    assert _rows(_keyboard(bob)) == untouched


def test_each_language_has_its_own_buttons(mini_engine):
    en, fr = Chat(mini_engine, "en"), Chat(mini_engine, "fr")
    for chat in (en, fr):
        chat.send("Acme")
    en_labels = [text for row in _rows(_keyboard(en)) for text, _ in row]
    fr_labels = [text for row in _rows(_keyboard(fr)) for text, _ in row]
    assert en_labels != fr_labels
    assert [d for row in _rows(_keyboard(en)) for _, d in row] == [
        d for row in _rows(_keyboard(fr)) for _, d in row
    ]
