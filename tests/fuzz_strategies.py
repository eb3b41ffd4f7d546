"""Hypothesis strategies for fuzzing what users send, and the invariants they check.

Texts mix what people type (words, numbers, dates, yes/no in both languages, emoji, right-to-
left scripts) with what they should not (NUL and control characters, lone surrogates, direction
overrides, 10,000 characters). Inputs for the engine are drawn against the dialogue, so that a
walk reaches deep questions; updates for the Telegram application are Bot API dicts, some of
them well-formed, some missing fields, some of unexpected kinds.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from bot.dialogue.conditions import NOT_YET
from bot.dialogue.engine import COMMANDS, CONFIRM, EDIT, RESTART, Command, Pick, State, Text
from bot.dialogue.model import DONE, Dialogue, Question

# Texts ----------------------------------------------------------------------------------------
SPECIALS = (
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u200b\u200e\u200f\u202a\u202b\u202e\u2066\u2069"
    "\ufeff\ufffd\ud800\udfff\r\n\t "
)
ALPHABET = st.one_of(
    st.characters(codec="utf-8"),  # anything encodable, controls and combining marks included
    st.sampled_from("abcdéèàçñ ABZ0123456789/-.,:;!?'\"<>&"),
    st.sampled_from("שלום עולם مرحبا بالعالم"),  # right to left
    st.sampled_from("😀👍🏽👨‍👩‍👧🇫🇷✅☑️▫️"),
    st.sampled_from(SPECIALS),
)
TYPED = (
    "",
    " ",
    "Acme",
    "oui",
    "non",
    "yes",
    "no",
    "pas encore",
    "not yet",
    "peut-être",
    "1",
    "2",
    "4",
    "5",
    "0",
    "-1",
    "10",
    "1 000 000",
    "1,000",
    "4.0",
    "dix-sept",
    "twenty",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "15/03/2027",
    "31/02/2027",
    "2027-03-15",
    "demain",
    "in 3 weeks",
    "fin mars",
    "29/02/2100",
    "1, 2",
    "1 et 3",
    "all",
    "<b>bold</b>",
    "&amp; &",
    "a|b|c",
    "/start",
    "\x00",
)


@st.composite
def long_texts(draw: st.DrawFn) -> str:
    """Up to 10,000 characters, built from a repeated piece (fast to generate and to shrink)."""
    piece = draw(st.text(ALPHABET, min_size=1, max_size=40))
    size = draw(st.integers(1, 10_000))
    return (piece * (size // len(piece) + 1))[:size]


texts = st.one_of(
    st.sampled_from(TYPED),
    st.text(ALPHABET, max_size=60),
    long_texts(),
)


def json_safe(text: str) -> str:
    """Telegram sends valid UTF-8: lone surrogates become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8")


# Engine inputs --------------------------------------------------------------------------------
def _answer_keys(question: Question) -> list[str]:
    return [*question.choices, NOT_YET, CONFIRM]


@st.composite
def engine_input(draw: st.DrawFn, dialogue: Dialogue, state: State) -> Text | Pick | Command:
    """One input: often a plausible answer to the question shown, otherwise anything."""
    qids = list(dialogue.questions)
    current = dialogue.questions.get(state.at)
    kind = draw(st.sampled_from(("answer", "answer", "answer", "text", "pick", "command")))
    if kind == "answer" and current is not None:
        tap = draw(st.booleans())
        if current.choices and tap:
            return Pick(current.id, draw(st.sampled_from(_answer_keys(current))))
        return Text(draw(st.sampled_from(TYPED) | st.text(ALPHABET, max_size=12)))
    if kind == "pick":
        target = draw(st.sampled_from([*qids, EDIT, RESTART, "", DONE]) | texts)
        question = dialogue.questions.get(target)
        values = _answer_keys(question) if question else [*qids, "yes", "no", "1", "99"]
        return Pick(target, draw(st.sampled_from(values) | texts))
    if kind == "command":
        name = draw(st.sampled_from([*COMMANDS, "unknown", "language"]) | texts)
        arg = draw(st.sampled_from(["", "1", "2", "99", "-1", *qids]) | texts)
        at = draw(st.none() | st.sampled_from(qids) | st.just(DONE))
        return Command(name, arg, at)
    return Text(draw(texts))


# Invariants -----------------------------------------------------------------------------------
def check_state(dialogue: Dialogue, state: State) -> None:
    """The state is a valid question or done, and its parts refer to real things."""
    assert state.at == DONE or state.at in dialogue.questions, state
    assert (
        state.return_to is None
        or state.return_to == DONE
        or (state.return_to in dialogue.questions)
    ), state
    assert state.confirm in (None, "restart"), state
    if state.draft is not None:
        question = dialogue.questions.get(state.at)
        assert question is not None, state
        assert question.type == "multi", state
        assert set(state.draft) <= set(question.options), state
        assert len(set(state.draft)) == len(state.draft), state
    assert State.load(json.loads(json.dumps(state.dump()))) == state  # survives storage


def check_answer(question: Question, value: Any) -> None:
    """A stored answer is valid for its question's type, options and bounds."""
    where = f"{question.id} ({question.type}) = {value!r}"
    json.dumps(value)  # storable
    if value == NOT_YET:
        assert question.notyet or question.type == "yesno", where
        return
    kind = question.type
    if kind == "text":
        assert isinstance(value, str), where
        assert 1 <= len(value) <= question.max_length, where
        assert value == value.strip(), where
        assert unicodedata.is_normalized("NFC", value), where
        bad = [c for c in value if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cs")]
        assert not bad, where
    elif kind == "choice":
        assert value in question.options, where
    elif kind == "multi":
        assert isinstance(value, list), where
        assert value, where
        assert len(set(value)) == len(value), where
        assert set(value) <= set(question.options), where
        assert value == [o for o in question.options if o in value], where  # option order
        assert len(value) == 1 or not set(value) & set(question.exclusive), where
    elif kind == "yesno":
        assert value in ("yes", "no"), where
    elif kind == "scale":
        low, high = question.minimum or 1, question.maximum or 5
        assert type(value) is int, where
        assert low <= value <= high, where
    elif kind == "number":
        assert type(value) is int, where
        assert question.minimum is None or value >= question.minimum, where
        assert question.maximum is None or value <= question.maximum, where
    elif kind == "date":
        assert isinstance(value, str), where
        assert dt.date.fromisoformat(value).isoformat() == value, where
    else:  # pragma: no cover - the loader allows no other type
        raise AssertionError(where)


def check_answers(dialogue: Dialogue, answers: Mapping[str, Any]) -> None:
    for qid, value in answers.items():
        assert qid in dialogue.questions, qid
        check_answer(dialogue.questions[qid], value)


# Telegram updates -----------------------------------------------------------------------------
BOT_ID = 123456  # tests/telegram_fixtures.py TOKEN's bot


def user_dict(user_id: int, lang: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Fuzz"}
    if lang is not None:
        data["language_code"] = lang
    return data


@st.composite
def callback_data(draw: st.DrawFn, dialogue: Dialogue) -> str:
    qids = list(dialogue.questions)
    word = st.sampled_from([*qids, "yes", "no", "1", "99", "-1", EDIT, RESTART, CONFIRM, ""])
    field = word | st.text(ALPHABET, max_size=10)
    kind = st.sampled_from([*"awcmlxpsqrfez", "", "zz"])
    parts = draw(st.lists(field, max_size=4))
    forged = "|".join([draw(kind), *parts])
    return draw(st.sampled_from([forged, forged[:64]]) | st.text(ALPHABET, max_size=80))


@st.composite
def update_dict(draw: st.DrawFn, dialogue: Dialogue, user_id: int, message_ids: list[int]) -> dict:
    """A Bot API update from user_id: sound, odd, or missing fields (update_id set later).

    What is drawn never depends on user_id or message_ids (hypothesis replays draws): a tap
    draws an index into message_ids, the bot's text messages in the user's chat.
    """
    lang = draw(st.sampled_from(["fr", "en", "de", None, "FR-ca"]))
    user = user_dict(user_id, lang)
    chat = draw(
        st.sampled_from(
            [
                {"id": user_id, "type": "private", "first_name": "Fuzz"},
                {"id": user_id, "type": "private", "first_name": "Fuzz"},
                {"id": -100 - user_id, "type": "group", "title": "G"},
                {"id": -1001000 - user_id, "type": "channel", "title": "C"},
                {"id": user_id + 10**6, "type": "private", "first_name": "Other"},
            ]
        )
    )
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 10**6)),
        "date": 1_800_000_000,
        "chat": chat,
    }
    if draw(st.integers(0, 9)):  # a sender, most of the time
        message["from"] = user
    content = draw(
        st.sampled_from(["text", "text", "text", "command", "photo", "sticker", "contact", "none"])
    )
    if content in ("text", "command"):
        text = json_safe(draw(texts))
        if content == "command":
            name = draw(
                st.sampled_from([*COMMANDS, "language", "delete", "mydata", "export"])
                | st.text("abcxyz_", min_size=1, max_size=8)
            )
            suffix = draw(st.sampled_from(["", "@alliance_test_bot", "@other_bot"]))
            text = f"/{name}{suffix} {text}"[:4096]
            length = len(name) + len(suffix) + 1
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message["text"] = text
    elif content == "photo":
        message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
        if draw(st.booleans()):
            message["caption"] = json_safe(draw(texts))[:1024]
    elif content == "sticker":
        message["sticker"] = {
            "file_id": "s",
            "file_unique_id": "s",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
    elif content == "contact":
        message["contact"] = {"phone_number": "+33100000000", "first_name": "Z"}
    kind = draw(
        st.sampled_from(
            ["message"] * 5 + ["edited_message", "callback", "callback", "channel_post", "odd"]
        )
    )
    if kind == "callback":
        query: dict[str, Any] = {
            "id": str(draw(st.integers(1, 10**9))),
            "from": user,
            "chat_instance": "1",
            "data": json_safe(draw(callback_data(dialogue))),
        }
        on_message, index = draw(st.integers(0, 4)), draw(st.integers(0, 1000))
        inline = draw(st.booleans())
        if message_ids and on_message:
            query["message"] = {
                "message_id": message_ids[-1 - index % len(message_ids)],
                "date": 0 if on_message == 1 else 1_800_000_000,  # 0: an inaccessible message
                "chat": {"id": user_id, "type": "private", "first_name": "Fuzz"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Alliance Bot"},
                "text": "?",
            }
        elif inline:
            query["inline_message_id"] = "inline-1"
        return {"callback_query": query}
    if kind == "edited_message":
        message["edit_date"] = 1_800_000_100
        return {"edited_message": message}
    if kind == "channel_post":
        message.pop("from", None)
        message["chat"] = {"id": -1001000 - user_id, "type": "channel", "title": "C"}
        return {"channel_post": message}
    if kind == "odd":
        broken = dict(message)
        for key in draw(st.lists(st.sampled_from(sorted(broken)), max_size=3)):
            broken.pop(key, None)
        return draw(
            st.sampled_from(
                [
                    {"message": broken},
                    {"my_chat_member": {"chat": chat, "from": user, "date": 1}},
                    {"poll_answer": {"poll_id": "1", "user": user, "option_ids": [0]}},
                    {"something_new": {"x": 1}},
                    {},
                ]
            )
        )
    return {"message": message}
