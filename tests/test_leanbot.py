"""The bot's Bot API client (bot/telegram/leanbot.py): a message sent or edited reaches the chat
as before; what Telegram answers is turned into a Message only where the handlers read it."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.telegram.leanbot import read_reply, without_tapped_buttons


async def test_sent_and_edited_messages_reach_the_chat_and_return_true_unless_read(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    app_bot = bot.application.bot

    sent = await app_bot.send_message(ana.chat_id, "<b>plain</b>", parse_mode="HTML")
    with read_reply():
        read = await app_bot.send_message(ana.chat_id, "read")
    edited = await app_bot.edit_message_text("read, edited", ana.chat_id, read.message_id)

    assert sent is True  # no Message built
    assert edited is True
    assert isinstance(read, Message)
    assert read.chat.id == ana.chat_id
    assert ana.emulator.message(ana.chat_id, read.message_id).readable == "read, edited"
    texts = [m.readable for m in ana.messages()]
    assert texts[-2:] == ["plain", "read, edited"]


async def test_a_question_answered_after_other_messages_is_still_the_one_edited(bot):
    """The id of the question sent is read (read_reply); the summary and notices in between
    are sent without it."""
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("/help")  # a notice, then the same question again
    question = ana.last_message()
    await ana.send("Acme")
    answered = ana.emulator.message(ana.chat_id, question.message_id)
    assert "Name? (en)\n✅ Acme" in answered.readable
    assert answered.buttons() == []


async def test_a_tapped_messages_buttons_are_not_parsed_but_still_removed(bot):
    """A tap reaches the handlers with its message's keyboard empty (present or not, no
    buttons): a stale button's message still loses its buttons, and a tap on a message
    without any costs no call."""
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap("Alpha-en")
    app_bot = bot.application.bot
    old_buttons = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Beta", callback_data="a|kind|beta")]]
    )
    with read_reply():
        old = await app_bot.send_message(ana.chat_id, "old", reply_markup=old_buttons)
        bare = await app_bot.send_message(ana.chat_id, "bare")
    emulator = ana.emulator

    mark = emulator.mark()
    await ana.tap_data("a|kind|beta", message_id=old.message_id)
    removed = [c for c in emulator.calls_since(mark) if c.method == "editMessageReplyMarkup"]
    assert [c.params.get("message_id") for c in removed] == [old.message_id]
    assert emulator.message(ana.chat_id, old.message_id).buttons() == []
    assert "already dealt with" in ana.last_callback().answer_text

    mark = emulator.mark()
    await ana.tap_data("a|kind|beta", message_id=bare.message_id)
    calls = [c.method for c in emulator.calls_since(mark)]
    assert "editMessageReplyMarkup" not in calls
    assert "answerCallbackQuery" in calls


def test_only_a_taps_message_loses_its_buttons_and_keeps_a_keyboard():
    """What polling and the webhook hand to python-telegram-bot."""
    buttons = {"inline_keyboard": [[{"text": "Beta", "callback_data": "a|kind|beta"}]]}
    tap = {"update_id": 1, "callback_query": {"id": "1", "message": {"reply_markup": buttons}}}
    without_tapped_buttons(tap)
    assert tap["callback_query"]["message"]["reply_markup"] == {"inline_keyboard": []}

    bare = {"update_id": 2, "callback_query": {"id": "2", "message": {"text": "bare"}}}
    without_tapped_buttons(bare)
    assert "reply_markup" not in bare["callback_query"]["message"]

    sent = {"update_id": 3, "message": {"text": "hi", "reply_markup": buttons}}
    without_tapped_buttons(sent)
    assert sent["message"]["reply_markup"] is buttons  # not a tap: as it came

    for odd in ([], "text", {"callback_query": "x"}, {"callback_query": {"message": None}}):
        without_tapped_buttons(odd)  # not an update as Telegram sends them: left alone
