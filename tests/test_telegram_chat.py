"""The checklist on Telegram, through the Bot API emulator and PTB's real request path."""

import json

import pytest

from bot.dialogue.loader import DEFAULT_DIR
from bot.storage.factory import open_storage
from tests.support.emulator import TgChat, TgUser
from tests.telegram_chat import answer_current, real_dialogue
from tests.telegram_fixtures import running_bot


async def stored_answers(database_url, user_id):
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(f"tg:{user_id}")
        if user is None:
            return None
        conversation = await storage.active_conversation(user.id)
        return await storage.current_answers(conversation.id) if conversation else {}
    finally:
        await storage.close()


async def test_start_welcomes_and_asks_first_question(bot):
    ana = bot.user(language_code="fr")
    await ana.send("/start")
    [welcome] = ana.texts_since_last_send()  # one message: the welcome above the question
    assert welcome.startswith("Bonjour")
    assert "Étape 1/2 · question 1/3" in welcome  # a third question may open
    assert "Name? (fr)" in welcome
    assert "Pourquoi ?" in ana.buttons()


async def test_the_welcome_stays_above_the_first_question_once_answered(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    first = ana.last_message()
    await ana.send("Acme")
    answered = ana.emulator.message(ana.chat_id, first.message_id)
    assert answered.readable.startswith("Hello!")
    assert "Name? (en)\n✅ Acme" in answered.readable
    assert answered.buttons() == []
    assert "Kind? (en)" in ana.last_text()


async def test_welcome_back_stays_above_its_question_while_ticking(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap("Beta-en")
    await ana.send("/start")
    [back] = ana.texts_since_last_send()
    assert back.startswith("Welcome back")
    assert "Picks? (en)" in back
    await ana.tap("Ex-en")
    assert ana.last_text().startswith("Welcome back")
    assert "☑️ Ex-en" in ana.buttons()
    picks = ana.last_message()
    await ana.tap("Confirm")
    answered = ana.emulator.message(ana.chat_id, picks.message_id).readable
    assert answered.startswith("Welcome back")
    assert "✅ Ex-en" in answered
    assert "Level? (en)" in ana.last_text()


async def test_english_for_other_language_codes(bot):
    bob = bot.user(language_code="de")
    await bob.send("/start")
    assert "Hello!" in bob.texts_since_last_send()[0]
    assert "Stage 1/2" in bob.last_text()


async def test_answering_with_buttons_edits_the_question(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap("Rival-en")
    kind_message = [m for m in ana.messages() if "Kind? (en)" in m.readable]
    assert "✅ Rival-en" in kind_message[-1].readable
    assert kind_message[-1].buttons() == []
    assert "Cooperate? (en)" in ana.last_text()
    assert ana.last_callback().answered


async def test_typed_answer_removes_buttons_of_the_question(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("2")
    kind_message = [m for m in ana.messages() if "Kind? (en)" in m.readable][-1]
    assert kind_message.buttons() == []
    assert "✅ Beta-en" in kind_message.readable


async def test_multiple_choice_ticks_in_place_then_confirms(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap("Alpha-en")
    picks = ana.last_message()
    await ana.tap("Ex-en")
    assert ana.last_message().message_id == picks.message_id
    assert "☑️ Ex-en" in ana.buttons()
    await ana.tap("Why-en")
    await ana.tap("Confirm")
    assert "✅ Ex-en, Why-en" in ana.emulator.message(ana.chat_id, picks.message_id).readable
    assert "Level? (en)" in ana.last_text()


async def test_why_button_explains_and_keeps_the_question(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    question = ana.last_message()
    await ana.tap("Why?")
    assert ana.last_text() == "Why name en"
    assert ana.emulator.message(ana.chat_id, question.message_id).buttons()


async def test_commands_and_descriptions_registered_in_both_languages(bot):
    emu = bot.emulator
    fr = [c["command"] for c in emu.commands_for("fr")]
    en = [c["command"] for c in emu.commands_for("en")]
    assert fr == en
    assert {"start", "help", "back", "skip", "summary", "edit", "restart"} <= set(fr)
    assert {"language", "mydata", "delete"} <= set(fr)
    assert "alliance" in emu.descriptions["en"]
    assert "alliance" in emu.descriptions["fr"]
    assert emu.short_descriptions["fr"]


async def test_language_switch_is_remembered(bot, database_url):
    ana = bot.user(language_code="fr")
    await ana.send("/start")
    await ana.send("/language")
    await ana.tap("English")
    assert "Name? (en)" in ana.last_text()
    await ana.send("Acme")
    assert "Kind? (en)" in ana.last_text()


@pytest.mark.parametrize(
    "payload",
    [
        {"photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]},
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        },
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 2}},
        {"document": {"file_id": "d", "file_unique_id": "d", "file_name": "x.pdf"}},
        {"location": {"latitude": 48.85, "longitude": 2.35}},
        {"contact": {"phone_number": "+33100000000", "first_name": "Zoé"}},
        {
            "poll": {
                "id": "1",
                "question": "?",
                "options": [
                    {"text": "a", "voter_count": 0, "persistent_id": "a"},
                    {"text": "b", "voter_count": 0, "persistent_id": "b"},
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            }
        },
    ],
    ids=["photo", "sticker", "voice", "document", "location", "contact", "poll"],
)
async def test_media_instead_of_an_answer(bot, database_url, payload):
    ana = bot.user(language_code="fr")
    await ana.send("/start")
    await ana.send("Acme")
    user = TgUser(id=ana.id, first_name="Ana", language_code="fr")
    await bot.run_action(
        lambda: bot.emulator.push_update(
            {
                "message": {
                    "from": user.to_dict(),
                    "chat": TgChat.private(user).to_dict(),
                    **payload,
                }
            }
        ),
        "media",
    )
    replies = ana.texts_since_last_send()
    assert any("que du texte" in r for r in replies)
    assert "Kind? (fr)" in ana.last_text()
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}


async def test_bad_typed_answers_are_re_asked_politely(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("x" * 500)
    assert "keep it to 20" in " ".join(ana.texts_since_last_send())
    assert "Name? (en)" in ana.last_text()
    await ana.send("Acme")
    await ana.send("Gamma")
    assert "isn't one of the options" in " ".join(ana.texts_since_last_send())
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}


@pytest.mark.parametrize(
    ("lang", "notice"), [("en", "already dealt with"), ("fr", "question déjà traitée")]
)
async def test_old_button_gets_a_pop_up_notice_and_records_nothing(
    bot, database_url, lang, notice
):
    ana = bot.user(language_code=lang)
    await ana.send("/start")
    await ana.send("Acme")
    kind = ana.last_message()
    await ana.tap(f"Alpha-{lang}")
    await ana.tap_data("a|kind|beta", message_id=kind.message_id)
    assert notice in ana.last_callback().answer_text
    assert ana.texts_since_last_send() == []  # no new message, no question asked again
    assert (await stored_answers(database_url, ana.id))["kind"] == "alpha"
    assert f"Picks? ({lang})" in ana.last_text()


@pytest.mark.parametrize(
    "data", ["garbage", "a|kind", "a|nope|x", "a||", "m|__edit__|zzz", "x" * 64, "w|", "l|de"]
)
async def test_forged_callback_data_does_not_crash(bot, database_url, data):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap_data(data)
    assert ana.last_callback().answered
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}
    assert not bot.errors


@pytest.mark.expected_api_errors(
    # The second tap carries the keyboard as it was: its removal was already done.
    r"^editMessageReplyMarkup 400 Bad Request: message is not modified",
)
async def test_double_tap_records_one_answer(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    kind = ana.last_message()
    emu = bot.emulator
    first = emu.push_callback(TgUser(id=ana.id, first_name="A"), kind.message_id, "a|kind|alpha")
    await ana.tap_data("a|kind|beta", message_id=kind.message_id)
    assert emu.callback_queries[first].answered
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(f"tg:{ana.id}")
        history = await storage.answer_history((await storage.active_conversation(user.id)).id)
    finally:
        await storage.close()
    assert [a.value for a in history if a.question_id == "kind"] == ["alpha"]


async def test_edited_message_changes_nothing(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    sent = bot.emulator.messages(ana.chat_id, from_bot=False)[-1]
    await ana.edit(sent.message_id, "Globex")
    assert "/edit" in ana.last_text()
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}


async def test_channel_posts_and_updates_without_user_are_ignored(bot):
    emu = bot.emulator
    channel = TgChat.channel(-100123)
    await bot.run_action(
        lambda: emu.push_update({"channel_post": {"chat": channel.to_dict(), "text": "hi"}}),
        "channel post",
    )
    assert emu.messages(-100123, from_bot=True) == []
    assert not bot.errors


async def test_group_chat_points_to_private_chat_and_records_nothing(bot, database_url):
    group = TgChat.group(-4242)
    ana = bot.user(language_code="fr", chat=group)
    await ana.send("/start")
    reply = bot.emulator.last_bot_message(-4242)
    assert "conversation privée" in reply.readable
    assert "https://t.me/alliance_test_bot?start=group" in json.dumps(reply.raw or {}) or (
        "t.me" in (reply.source or "")
    )
    assert await stored_answers(database_url, ana.id) is None


async def test_user_text_is_escaped(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("<b>Ac&me</b>")
    await ana.send("/summary")
    summary = " ".join(ana.texts_since_last_send())
    assert "<b>Ac&me</b>" in summary


async def test_summary_back_skip_edit_restart_commands(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("/back")
    assert "Name? (en)" in ana.last_text()
    assert "Current answer: Acme" in ana.last_text()
    await ana.send("/skip")
    assert "can't skip" in " ".join(ana.texts_since_last_send())
    await ana.send("Acme 2")
    await ana.send("/edit")
    assert "1. Name-en: Acme 2" in ana.last_text()  # the current answers, by stage
    await ana.tap("1")
    await ana.send("Acme 3")
    assert await stored_answers(database_url, ana.id) == {"company": "Acme 3"}
    await ana.send("/restart")
    await ana.tap("Yes, start over")
    assert "Name? (en)" in ana.last_text()
    assert await stored_answers(database_url, ana.id) == {}


async def test_restart_of_the_application_resumes_where_the_user_stopped(
    emulator, database_url, mini_dialogues
):
    async with running_bot(emulator, database_url, mini_dialogues) as harness:
        ana = harness.user(id=777, language_code="en")
        await ana.send("/start")
        await ana.send("Acme")
        await ana.tap("Beta-en")
    async with running_bot(emulator, database_url, mini_dialogues) as harness:
        ana = harness.user(id=777, language_code="en")
        await ana.send("/start")
        [back] = ana.texts_since_last_send()
        assert back.startswith("Welcome back")
        assert "Picks? (en)" in back
        await ana.send("1")
        assert "Level? (en)" in ana.last_text()
    assert await stored_answers(database_url, 777) == {
        "company": "Acme",
        "kind": "beta",
        "picks": ["x"],
    }


async def test_a_failed_reply_gets_an_apology_and_the_answer_is_kept(
    emulator, database_url, mini_dialogues
):
    async with running_bot(emulator, database_url, mini_dialogues, raise_errors=False) as bot:
        ana = bot.user(language_code="en")
        await ana.send("/start")
        bot.emulator.fail_next("sendMessage", 500, count=1)
        await ana.send("Acme")
        assert len(bot.errors) == 1
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}
    replies = " ".join(ana.texts_since_last_send())
    assert "Sorry" in replies
    assert "Kind? (en)" in ana.last_text()


async def test_delete_erases_everything_after_confirmation(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("/delete")
    await ana.tap("No, keep it")
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}
    await ana.send("/delete")
    await ana.tap("Yes, erase everything")
    assert "erased" in ana.last_text()
    assert await stored_answers(database_url, ana.id) is None


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_whole_checklist_in_each_language(emulator, database_url, lang):
    dialogue = real_dialogue()
    texts = dialogue.texts[lang]
    async with running_bot(emulator, database_url, DEFAULT_DIR) as harness:
        ana = harness.user(language_code=lang)
        await ana.send("/start")
        asked = []
        for _ in range(60):
            if texts.ui("done") in " ".join(ana.texts_since_last_send()):
                break
            asked.append(await answer_current(ana, dialogue, lang))
        summary = " ".join(ana.texts_since_last_send())
        sent = emulator.messages(ana.chat_id, from_bot=True)
    assert texts.ui("summary.title") in summary
    assert texts.ui("summary.next_steps") in summary
    # The verdict opens the summary, before the answers; the "then" steps come folded.
    assert summary.index(texts.ui("advice.verdict")) < summary.index(texts.ui("summary.answers"))
    assert texts.ui("advice.priorities") in summary
    folded = [e for m in sent for e in m.entities if e["type"] == "expandable_blockquote"]
    assert folded
    assert len(asked) >= 35
    assert len(asked) == len(set(asked))
    answers = await stored_answers(database_url, ana.id)
    assert set(asked) <= set(answers)


async def test_long_answers_give_a_summary_split_within_limits(emulator, database_url):
    dialogue = real_dialogue()
    async with running_bot(emulator, database_url, DEFAULT_DIR) as harness:
        ana = harness.user(language_code="fr")
        await ana.send("/start")
        for _ in range(60):
            if "Synthèse de votre projet" in " ".join(ana.texts_since_last_send()):
                break
            await answer_current(ana, dialogue, "fr", long_text=True)
        parts = ana.texts_since_last_send()
    assert len(parts) > 2
    assert all(len(part) <= 4096 for part in parts)
    assert not emulator.internal_errors


# --- Words in the user's language, keeping an answer, progress ----------------------------------
@pytest.mark.parametrize(
    ("lang", "typed"),
    [("fr", "Pourquoi ?"), ("fr", "/pourquoi"), ("fr", "?"), ("en", "why?"), ("en", "/why")],
)
async def test_why_typed_or_as_a_command_explains_and_is_not_saved(bot, database_url, lang, typed):
    ana = bot.user(language_code=lang)
    await ana.send("/start")
    await ana.send(typed)
    assert f"Why name {lang}" in ana.texts_since_last_send()
    assert await stored_answers(database_url, ana.id) == {}
    await ana.send("Acme")
    assert await stored_answers(database_url, ana.id) == {"company": "Acme"}


@pytest.mark.parametrize(("lang", "typed"), [("fr", "/aide"), ("fr", "aide"), ("en", "help")])
async def test_help_in_the_users_words_lists_why(bot, lang, typed):
    ana = bot.user(language_code=lang)
    await ana.send("/start")
    await ana.send(typed)
    replies = " ".join(ana.texts_since_last_send())
    assert "/why" in replies
    assert "/back" in replies


@pytest.mark.parametrize(
    ("lang", "keep"), [("fr", "Garder cette réponse"), ("en", "Keep this answer")]
)
async def test_after_back_a_keep_button_keeps_the_answer(bot, database_url, lang, keep):
    ana = bot.user(language_code=lang)
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap(f"Beta-{lang}")
    await ana.send("/back")
    assert "Kind?" in ana.last_text()
    await ana.tap(keep)
    assert await stored_answers(database_url, ana.id) == {"company": "Acme", "kind": "beta"}
    assert f"Picks? ({lang})" in ana.last_text()


async def test_progress_counts_a_question_that_may_still_open(bot):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    assert "question 1/3" in ana.last_text()
    await ana.send("Acme")
    assert "question 2/3" in ana.last_text()
    await ana.tap("Rival-en")
    assert "question 3/3" in ana.last_text()  # the competitor question opened: no jump


@pytest.mark.parametrize(
    ("lang", "echo"), [("fr", "✅ mardi 8 décembre 2026"), ("en", "✅ Tuesday")]
)
async def test_a_typed_date_is_echoed_in_words(bot, lang, echo):
    ana = bot.user(language_code=lang)
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap(f"Alpha-{lang}")
    await ana.tap(f"Ex-{lang}")
    await ana.tap("Valider ✅" if lang == "fr" else "Confirm ✅")
    await ana.tap("3")
    await ana.send("/skip")
    await ana.send("08/12/2026" if lang == "fr" else "12/08/2026")
    date_message = [m for m in ana.messages() if "Start date?" in m.readable][-1]
    assert echo in date_message.readable
