"""Tests of the Bot API emulator and of the chat harness, with a tiny echo-and-buttons bot."""

import asyncio
import html
import time
from json import dumps
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.support.emulator import (
    PNG_1X1,
    BotApiEmulator,
    TgChat,
    TgUser,
    parse_html,
)
from tests.support.harness import BotHarness, harness_builder

ANA = TgUser(id=42, first_name="Ana", language_code="fr", username="ana")


@pytest.fixture
async def emu():
    async with BotApiEmulator(token="123:ABC") as emulator:
        yield emulator
    assert not emulator.internal_errors


@pytest.fixture
async def bot_client(emu):
    """A bare PTB Bot aimed at the emulator (named so as not to shadow conftest's ``bot``)."""
    async with Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url) as bot:
        yield bot


@pytest.fixture
def timedelta_errors(monkeypatch):
    """PTB 22 warns when building RetryAfter unless PTB_TIMEDELTA opts into timedeltas, and
    this suite turns warnings into errors."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def api(
    emu: BotApiEmulator,
    method: str,
    *,
    json: dict[str, Any] | None = None,
    data: Any = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST one raw Bot API request; return (HTTP status, JSON body)."""
    url = f"{emu.base_url}{token or emu.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=json, data=data) as r:
        return r.status, await r.json()


async def send(emu: BotApiEmulator, chat_id: int, text: str, **params: Any) -> dict[str, Any]:
    status, body = await api(emu, "sendMessage", json={"chat_id": chat_id, "text": text, **params})
    assert status == 200, body
    return body["result"]


# ---- a tiny bot ---------------------------------------------------------------------------------

KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Ping", callback_data="ping"),
            InlineKeyboardButton("Report", callback_data="report"),
        ],
        [InlineKeyboardButton("Website", url="https://example.org")],
    ]
)


Context = ContextTypes.DEFAULT_TYPE


def message_of(update: Update) -> Message:
    assert update.effective_message is not None
    return update.effective_message


def chat_id_of(update: Update) -> int:
    assert update.effective_chat is not None
    return update.effective_chat.id


async def start(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    name = html.escape(update.effective_user.first_name)
    await message_of(update).reply_html(f"Hello <b>{name}</b>", reply_markup=KEYBOARD)


async def menu(update: Update, context: Context) -> None:
    keyboard = ReplyKeyboardMarkup([["Yes", "No"]])
    await message_of(update).reply_text("Pick one", reply_markup=keyboard)


async def hide(update: Update, context: Context) -> None:
    await message_of(update).reply_text("Hidden", reply_markup=ReplyKeyboardRemove())


async def echo(update: Update, context: Context) -> None:
    await message_of(update).reply_text(f"echo: {message_of(update).text}")


async def on_callback(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    assert context.user_data is not None
    if query.data == "ping":
        count = context.user_data["pings"] = context.user_data.get("pings", 0) + 1
        await query.answer("pong!")
        again = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="ping")]])
        await query.edit_message_text(f"Pong #{count}", reply_markup=again)
    elif query.data == "report":
        await query.answer()
        await context.bot.send_document(
            chat_id_of(update), b"quarterly numbers", filename="report.txt", caption="Here"
        )
    # Any other data is deliberately left unanswered.


async def on_photo(update: Update, context: Context) -> None:
    size = message_of(update).photo[-1]
    await message_of(update).reply_text(f"photo {size.width}x{size.height}")


async def on_document(update: Update, context: Context) -> None:
    document = message_of(update).document
    assert document is not None
    data = await (await document.get_file()).download_as_bytearray()
    await message_of(update).reply_text(f"got {document.file_name}: {bytes(data)!r}")


async def on_sticker(update: Update, context: Context) -> None:
    sticker = message_of(update).sticker
    assert sticker is not None
    await message_of(update).reply_text(f"sticker {sticker.emoji}")


async def crash(update: Update, context: Context) -> None:
    raise RuntimeError("boom")


async def slow(update: Update, context: Context) -> None:
    await asyncio.sleep(0.3)


async def background(update: Update, context: Context) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await context.bot.send_message(chat_id_of(update), "done in background")

    context.application.create_task(later(), update=update)


def build_app(emu: BotApiEmulator):
    app = harness_builder(emu).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("menu", menu))
    app.add_handler(CommandHandler("hide", hide))
    app.add_handler(CommandHandler("crash", crash))
    app.add_handler(CommandHandler("slow", slow))
    app.add_handler(CommandHandler("background", background))
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    app.add_handler(MessageHandler(filters.Sticker.ALL, on_sticker))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


@pytest.fixture
async def harness(emu):
    async with BotHarness(emu, build_app(emu), timeout=5) as running:
        yield running


# ---- protocol -----------------------------------------------------------------------------------


async def test_get_me_wrong_token_and_unknown_method(emu, bot_client):
    assert bot_client.username == "alliance_test_bot"
    assert bot_client.id == 123

    assert await api(emu, "getMe", token="123:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    status, body = await api(emu, "sendPigeon", json={})
    assert (status, body["description"]) == (404, "Not Found")
    status, body = await api(emu, "GETME")  # method names are case-insensitive
    assert status == 200
    assert body["result"]["is_bot"] is True
    assert [(c.method, c.status) for c in emu.calls[-3:]] == [
        ("getMe", 401),
        ("sendPigeon", 404),
        ("getMe", 200),
    ]

    with pytest.raises(InvalidToken):
        async with Bot("123:WRONG", base_url=emu.base_url):
            pass


async def test_long_poll_returns_as_soon_as_an_update_is_pushed(emu):
    poll = asyncio.create_task(api(emu, "getUpdates", json={"timeout": 5}))
    await emu.wait_for(lambda: bool(emu.calls_to("getUpdates")))
    started = time.monotonic()
    update_id = emu.push_message(ANA, "hello")
    status, body = await poll
    assert time.monotonic() - started < 0.5
    assert status == 200
    [update] = body["result"]
    assert update["update_id"] == update_id
    assert update["message"]["text"] == "hello"
    assert update["message"]["chat"] == {
        "id": 42,
        "type": "private",
        "username": "ana",
        "first_name": "Ana",
    }
    assert update["message"]["from"]["language_code"] == "fr"


async def test_long_poll_times_out_empty(emu):
    started = time.monotonic()
    status, body = await api(emu, "getUpdates", json={"timeout": 0.2})
    assert (status, body["result"]) == (200, [])
    assert time.monotonic() - started >= 0.19


async def test_offsets_confirm_updates(emu):
    ids = [emu.push_message(ANA, f"m{i}") for i in range(4)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4

    _, body = await api(emu, "getUpdates", json={"limit": 2})
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    _, body = await api(emu, "getUpdates", json={})  # nothing confirmed yet
    assert [u["update_id"] for u in body["result"]] == ids
    _, body = await api(emu, "getUpdates", data={"offset": str(ids[2])})  # form-encoded
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    assert emu.pending_update_ids == ids[2:]
    _, body = await api(emu, "getUpdates", json={"offset": -1})
    assert [u["update_id"] for u in body["result"]] == ids[3:]
    _, body = await api(emu, "getUpdates", json={"offset": ids[-1] + 1})
    assert body["result"] == []
    assert emu.pending_update_ids == []
    with pytest.raises(ValueError, match="must exceed"):
        emu.push_update({"update_id": ids[0], "message": {"text": "x"}})


async def test_allowed_updates_and_concurrent_polls(emu):
    emu.push_update({"chat_member": {"chat": {"id": -5, "type": "group"}}})
    member_update = emu.push_update({"chat_member": {"chat": {"id": -5, "type": "group"}}})
    _, body = await api(emu, "getUpdates", json={})
    assert body["result"] == []  # excluded by default, then dropped
    emu.push_update({"chat_member": {"chat": {"id": -5, "type": "group"}}})
    _, body = await api(emu, "getUpdates", json={"allowed_updates": ["chat_member"]})
    assert [u["update_id"] for u in body["result"]] == [member_update + 1]

    confirmed = {"offset": member_update + 2}
    first = asyncio.create_task(api(emu, "getUpdates", json={"timeout": 5, **confirmed}))
    await emu.wait_for(lambda: len(emu.calls_to("getUpdates")) == 3)
    second = asyncio.create_task(api(emu, "getUpdates", json={"timeout": 0.1, **confirmed}))
    status, body = await first
    assert status == 409
    assert "terminated by other getUpdates request" in body["description"]
    assert (await second)[0] == 200


async def test_json_form_and_multipart_bodies_decode_alike(emu):
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    as_json = await send(emu, 42, "one", reply_markup=markup)
    status, body = await api(
        emu,
        "sendMessage",
        data={"chat_id": "42", "text": "two", "reply_markup": dumps(markup)},
    )
    assert status == 200
    form = aiohttp.FormData()
    form.add_field("chat_id", "42")
    form.add_field("caption", "three")
    form.add_field("reply_markup", dumps(markup))
    form.add_field("document", b"bytes", filename="three.txt", content_type="text/plain")
    status, multipart = await api(emu, "sendDocument", data=form)
    assert status == 200
    assert as_json["reply_markup"] == body["result"]["reply_markup"] == markup
    assert multipart["result"]["reply_markup"] == markup
    assert multipart["result"]["document"]["file_name"] == "three.txt"
    calls = emu.calls_to("sendMessage")
    assert calls[0].params["chat_id"] == calls[1].params["chat_id"] == 42
    assert calls[1].params["reply_markup"] == markup
    assert [m.buttons() for m in emu.messages(42)] == [["A"], ["A"], ["A"]]


# ---- Telegram's rules ---------------------------------------------------------------------------

TOO_LONG = "x" * 4097
BIG_DATA = "d" * 65


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"text": ""}, "message text is empty"),
        ({"text": " \n "}, "message text is empty"),
        ({"text": "<b> </b>", "parse_mode": "HTML"}, "message text is empty"),
        ({"text": TOO_LONG}, "message is too long"),
        ({"text": "<i>" + TOO_LONG + "</i>", "parse_mode": "HTML"}, "message is too long"),
        (
            {
                "text": "t",
                "reply_markup": {"inline_keyboard": [[{"text": "B", "callback_data": BIG_DATA}]]},
            },
            "BUTTON_DATA_INVALID",
        ),
        (
            {"text": "t", "reply_markup": {"inline_keyboard": [[{"text": "B"}]]}},
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            {
                "text": "t",
                "reply_markup": {"inline_keyboard": [[{"text": "", "url": "https://a.b"}]]},
            },
            "Text must be non-empty",
        ),
        (
            {"text": "<b>bold", "parse_mode": "HTML"},
            'Can\'t find end tag corresponding to start tag "b"',
        ),
        (
            {"text": "line<br>break", "parse_mode": "HTML"},
            'Unsupported start tag "br" at byte offset 4',
        ),
        ({"text": "a < b", "parse_mode": "HTML"}, 'Unsupported start tag "" at byte offset 2'),
        ({"text": "a<b", "parse_mode": "HTML"}, "Unclosed start tag at byte offset 1"),
        ({"text": "fish & chips", "parse_mode": "HTML"}, 'Unescaped "&" at byte offset 5'),
        ({"text": "&nbsp;", "parse_mode": "HTML"}, 'Unescaped "&" at byte offset 0'),
        (
            {"text": "<b><i>x</b></i>", "parse_mode": "HTML"},
            'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
        ),
        ({"text": "x</b>", "parse_mode": "HTML"}, "Unexpected end tag at byte offset 1"),
        (
            {"text": "<span>x</span>", "parse_mode": "HTML"},
            'Tag "span" must have class "tg-spoiler"',
        ),
        ({"text": "<div>x</div>", "parse_mode": "HTML"}, 'Unsupported start tag "div"'),
        ({"text": "x", "parse_mode": "Textile"}, "unsupported parse_mode"),
        ({"text": "x", "reply_to_message_id": 999}, "message to be replied not found"),
    ],
)
async def test_send_message_rules(emu, params, expected):
    status, body = await api(emu, "sendMessage", json={"chat_id": 42, **params})
    assert status == 400, body
    assert body["ok"] is False
    assert body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ")
    assert expected in body["description"]
    assert emu.messages(42) == []
    assert emu.calls[-1].status == 400


async def test_html_is_parsed_like_telegram(emu):
    source = (
        "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins> <s>s</s> "
        '<strike>k</strike> <del>d</del> <span class="tg-spoiler">p</span> '
        '<tg-spoiler>q</tg-spoiler> <a href="https://x.org/?a=1&amp;b=2">link</a> <code>c</code> '
        '<pre><code class="language-python">print()</code></pre> <blockquote expandable>bq'
        '</blockquote> <tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> '
        "&lt;tag&gt; &amp; &quot; &#39; &#x1F600; 😀<b>after</b>"
    )
    result = await send(emu, 42, source, parse_mode="HTML")
    text = result["text"]
    assert text.startswith("bold s i e u n s k d p q link c print() bq 👍 <tag> & \" ' 😀 😀after")
    types = [e["type"] for e in result["entities"]]
    assert types.count("bold") == 3
    assert "spoiler" in types
    assert "expandable_blockquote" in types
    [link] = [e for e in result["entities"] if e["type"] == "text_link"]
    assert link["url"] == "https://x.org/?a=1&b=2"
    [pre] = [e for e in result["entities"] if e["type"] == "pre"]
    assert pre["language"] == "python"
    last = result["entities"][-1]
    assert last["type"] == "bold"
    # Offsets count UTF-16 code units: each emoji outside the BMP counts twice.
    assert last["offset"] == len(text.encode("utf-16-le")) // 2 - len("after")
    assert emu.last_bot_message(42).source == source

    # The 4096 limit applies after parsing: markup does not count.
    await send(emu, 42, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert parse_html("  <b>x</b>") == ("  x", [{"type": "bold", "offset": 2, "length": 1}])


async def test_caption_and_upload_rules(emu):
    form = aiohttp.FormData()
    form.add_field("chat_id", "42")
    form.add_field("caption", "c" * 1025)
    form.add_field("document", b"data", filename="a.txt")
    status, body = await api(emu, "sendDocument", data=form)
    assert (status, body["description"]) == (400, "Bad Request: message caption is too long")

    form = aiohttp.FormData()
    form.add_field("chat_id", "42")
    form.add_field("document", b"", filename="empty.txt")
    status, body = await api(emu, "sendDocument", data=form)
    assert (status, body["description"]) == (400, "Bad Request: file must be non-empty")

    status, body = await api(emu, "sendPhoto", json={"chat_id": 42, "photo": "nope"})
    assert (status, body["description"]) == (
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )


async def test_edit_rules(emu):
    first = await send(emu, 42, "hello")
    emu.push_message(ANA, "user text")
    user_message_id = emu.messages(42, from_bot=False)[-1].message_id
    for text in ("a", "b", "c"):
        await send(emu, 43, text)  # message ids are per chat: chat 43 has 1, 2 and 3

    async def edit(**params: Any) -> str:
        status, body = await api(emu, "editMessageText", json=params)
        assert status == 400, body
        return body["description"]

    not_found = "Bad Request: message to edit not found"
    assert await edit(chat_id=42, message_id=999, text="x") == not_found
    assert await edit(chat_id=42, message_id=3, text="x") == not_found  # only in chat 43
    assert await edit(chat_id=42, message_id=user_message_id, text="x") == (
        "Bad Request: message can't be edited"
    )
    assert (await edit(chat_id=42, message_id=first["message_id"], text="hello")).startswith(
        "Bad Request: message is not modified"
    )
    status, body = await api(
        emu, "editMessageReplyMarkup", json={"chat_id": 42, "message_id": first["message_id"]}
    )
    assert status == 400
    assert "message is not modified" in body["description"]


async def test_callback_answer_rules(emu):
    message = await send(
        emu, 42, "tap", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    query_id = emu.push_callback(ANA, message["message_id"], "a")
    invalid = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    status, body = await api(emu, "answerCallbackQuery", json={"callback_query_id": "nope"})
    assert (status, body["description"]) == (400, invalid)
    assert not emu.callback_queries[query_id].answered
    status, _ = await api(
        emu,
        "answerCallbackQuery",
        data={"callback_query_id": query_id, "text": "ok", "show_alert": "true"},
    )
    assert status == 200
    record = emu.callback_queries[query_id]
    assert (record.answered, record.answer_text, record.show_alert) == (True, "ok", True)
    status, body = await api(emu, "answerCallbackQuery", json={"callback_query_id": query_id})
    assert (status, body["description"]) == (400, invalid)
    with pytest.raises(ValueError, match="no message 77"):
        emu.push_callback(ANA, 77, "a")


# ---- PTB against the emulator -------------------------------------------------------------------


@pytest.mark.usefixtures("timedelta_errors")
async def test_faults_are_seen_by_ptb(emu, bot_client):
    emu.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot_client.send_message(42, "x")
    assert flood.value.retry_after.total_seconds() == 3
    _, body = await api(emu, "getMe")
    assert body["ok"] is True  # the fault was for sendMessage only

    emu.fail_next("sendMessage", 403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot_client.send_message(42, "x")
    emu.fail_next("*", 502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot_client.send_chat_action(42, "typing")
    assert (await bot_client.send_message(42, "through")).text == "through"
    assert [m.text for m in emu.messages(42)] == ["through"]

    emu.block_user(42)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot_client.send_message(42, "x")
    emu.block_user(-100123)
    with pytest.raises(Forbidden, match="kicked"):
        await bot_client.send_message(-100123, "x")
    emu.unblock_user(42)
    await bot_client.send_message(42, "again")
    assert [c.status for c in emu.calls_to("sendMessage")] == [429, 403, 200, 403, 403, 200]


@pytest.mark.usefixtures("timedelta_errors")
async def test_rate_limits(emu, bot_client):
    now = [1000.0]
    emu.clock = lambda: now[0]  # a frozen clock makes the token buckets deterministic
    emu.enforce_rate_limits(global_per_s=5, per_chat_per_s=1, group_per_min=2)
    await bot_client.send_message(42, "one")
    with pytest.raises(RetryAfter) as flood:
        await bot_client.send_message(42, "two")
    assert flood.value.retry_after.total_seconds() == 1
    for chat_id in (1, 2, 3, 4):
        await bot_client.send_message(chat_id, "hi")
    with pytest.raises(RetryAfter):  # a sixth send within the second: over the global limit
        await bot_client.send_message(5, "hi")

    now[0] += 1.0
    await bot_client.send_message(42, "two, a second later")
    await bot_client.send_message(-100, "group 1")
    now[0] += 1.0
    await bot_client.send_message(-100, "group 2")
    now[0] += 1.0
    with pytest.raises(RetryAfter) as flood:  # 2 per minute in a group
        await bot_client.send_message(-100, "group 3")
    assert flood.value.retry_after.total_seconds() == 28  # one token per 30 s, 2 s refilled
    assert [c.status for c in emu.calls_to("sendMessage")].count(429) == 3
    emu.disable_rate_limits()
    await bot_client.send_message(-100, "free again")


async def test_slow_answer_times_out_but_takes_effect(emu, bot_client):
    emu.slow_next("sendMessage", 0.3)
    with pytest.raises(TimedOut):
        await bot_client.send_message(42, "late", read_timeout=0.05)
    await emu.wait_for(lambda: bool(emu.messages(42)), timeout=2)
    assert emu.last_bot_message(42).text == "late"


async def test_documents_photos_and_downloads(emu, bot_client):
    sent = await bot_client.send_document(
        42, b"%PDF-1.4 fake", filename="plan.pdf", caption="Plan"
    )
    stored = emu.last_bot_message(42)
    assert stored.document is not None
    assert (stored.document.filename, stored.document.data) == ("plan.pdf", b"%PDF-1.4 fake")
    assert stored.caption == "Plan"
    assert sent.document.file_name == "plan.pdf"
    assert emu.calls_to("sendDocument")[0].uploads["document"].data == b"%PDF-1.4 fake"

    again = await bot_client.send_document(43, sent.document.file_id)  # re-send by file_id
    assert again.document.file_id == sent.document.file_id

    photo = await bot_client.send_photo(42, PNG_1X1)
    assert (photo.photo[-1].width, photo.photo[-1].height) == (1, 1)
    assert emu.last_bot_message(42).photo.data == PNG_1X1

    file = await bot_client.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 fake"
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot_client.get_file("unknown")


async def test_edits_apply_in_place(emu, bot_client):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    message = await bot_client.send_message(42, "v1", reply_markup=keyboard)
    await bot_client.edit_message_text(
        "v2", chat_id=42, message_id=message.message_id, reply_markup=keyboard
    )
    stored = emu.message(42, message.message_id)
    assert (stored.text, stored.buttons(), stored.history) == ("v2", ["A"], ["v1"])
    assert stored.edit_date is not None

    # Telegram drops the inline keyboard when an edit does not repeat it.
    await bot_client.edit_message_text("v3", chat_id=42, message_id=message.message_id)
    assert (stored.text, stored.buttons()) == ("v3", [])
    other = InlineKeyboardMarkup([[InlineKeyboardButton("B", callback_data="b")]])
    await bot_client.edit_message_reply_markup(
        chat_id=42, message_id=message.message_id, reply_markup=other
    )
    assert [m.keyboard() for m in emu.messages(42)] == [[["B"]]]
    with pytest.raises(BadRequest, match="not modified"):
        await bot_client.edit_message_reply_markup(
            chat_id=42, message_id=message.message_id, reply_markup=other
        )
    assert await bot_client.delete_message(42, message.message_id)
    assert emu.messages(42) == []


async def test_bot_profile_chat_actions_and_webhook(emu, bot_client):
    await bot_client.set_my_commands([("start", "Démarrer"), ("aide", "Aide")], language_code="fr")
    await bot_client.set_my_commands([("start", "Start")])
    assert [c["command"] for c in emu.commands_for("fr")] == ["start", "aide"]
    assert emu.commands_for() == [{"command": "start", "description": "Start"}]
    assert [c.command for c in await bot_client.get_my_commands(language_code="fr")] == [
        "start",
        "aide",
    ]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot_client.set_my_commands([("Start!", "bad")])

    await bot_client.set_my_description("Un conseiller", language_code="fr")
    await bot_client.set_my_short_description("Conseil")
    assert emu.descriptions == {"fr": "Un conseiller"}
    assert emu.short_descriptions == {"": "Conseil"}

    await bot_client.send_chat_action(42, "typing")
    assert emu.chat_actions(42) == ["typing"]
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot_client.send_chat_action(42, "dancing")

    with pytest.raises(BadRequest, match="https url must be provided"):
        await bot_client.set_webhook("http://127.0.0.1:8080/hook")
    await bot_client.set_webhook("https://bot_client.example.org/hook", secret_token="s3cret")
    info = await bot_client.get_webhook_info()
    assert info.url == "https://bot_client.example.org/hook"
    assert emu.webhook.secret_token == "s3cret"
    status, body = await api(emu, "getUpdates", json={})
    assert status == 409
    assert "webhook is active" in body["description"]
    emu.push_message(ANA, "queued")
    await bot_client.delete_webhook(drop_pending_updates=True)
    assert (await bot_client.get_webhook_info()).url == ""
    assert emu.pending_update_ids == []


# ---- the harness --------------------------------------------------------------------------------


async def test_harness_send_and_tap_round_trip(emu, harness):
    ana = harness.user(id=42, first_name="Ana")
    assert await ana.send("/start") == ["Hello Ana"]
    assert ana.buttons() == ["Ping", "Report", "Website"]
    assert ana.keyboard() == [["Ping", "Report"], ["Website"]]
    assert ana.last_message().entities == [{"type": "bold", "offset": 6, "length": 3}]

    assert await ana.tap("Ping") == ["Pong #1"]
    callback = ana.last_callback()
    assert callback is not None
    assert (callback.answered, callback.answer_text) == (True, "pong!")
    assert [m.readable for m in ana.messages()] == ["Pong #1"]  # edited in place
    assert await ana.tap("gain") == ["Pong #2"]  # a label containing the text
    assert ana.texts_since_last_send() == ["Pong #2"]

    await ana.send("/start")
    assert await ana.tap("Report") == ["Here"]
    document = ana.last_document()
    assert (document.filename, document.data) == ("report.txt", b"quarterly numbers")
    assert ana.last_text() == "Here"

    with pytest.raises(
        AssertionError, match=r"available buttons: \['Ping', 'Report', 'Website'\]"
    ):
        await ana.tap("Nope")
    with pytest.raises(AssertionError, match="is a url button"):
        await ana.tap("Website")

    await ana.tap_data("unknown")  # the bot leaves it unanswered
    assert not ana.last_callback().answered


async def test_harness_other_kinds_of_messages(emu, harness):
    bob = harness.user(first_name="Bob", language_code="en")
    assert bob.id == 1001
    assert await bob.send("/menu") == ["Pick one"]
    assert bob.buttons() == ["Yes", "No"]
    assert await bob.tap("Yes") == ["echo: Yes"]  # a reply keyboard sends its text
    await bob.send("/hide")
    assert bob.buttons() == []
    with pytest.raises(AssertionError, match="no bot message with a keyboard"):
        await bob.tap("Yes")
    assert await bob.send_photo() == ["photo 1x1"]
    assert await bob.send_document("notes.txt", b"abc") == ["got notes.txt: b'abc'"]
    assert await bob.send_sticker("🎉") == ["sticker 🎉"]
    first = emu.messages(bob.chat_id, from_bot=False)[0]
    # PTB command handlers also see edited messages.
    assert await bob.edit(first.message_id, "/menu again") == ["Pick one"]

    group = TgChat.group(-77, "Team")
    carol = harness.user(first_name="Carol", chat=group)
    assert await carol.send("in the group") == ["echo: in the group"]
    assert emu.chat(-77).type == "group"
    await harness.push({"channel_post": {"chat": {"id": -100500, "type": "channel"}, "text": "x"}})
    assert bob.texts_since_last_send() == ["Pick one"]  # other chats do not leak in
    assert carol.texts_since_last_send() == ["echo: in the group"]


async def test_harness_waits_for_background_tasks(harness):
    dan = harness.user()
    assert await dan.send("/background") == ["done in background"]


async def test_harness_reports_crashes_and_timeouts(harness):
    eve = harness.user()
    with pytest.raises(AssertionError, match="raised while handling '/crash'") as crashed:
        await eve.send("/crash")
    assert isinstance(crashed.value.__cause__, RuntimeError)
    assert len(harness.errors) == 1
    harness.timeout = 0.1  # the /slow handler takes 0.3 s
    with pytest.raises(AssertionError, match="handlers have not returned"):
        await eve.send("/slow")


async def test_harness_needs_a_tracking_application(emu):
    plain = ApplicationBuilder().token(emu.token).base_url(emu.base_url).build()
    with pytest.raises(TypeError, match="TrackingApplication"):
        BotHarness(emu, plain)


async def test_a_client_gone_in_the_middle_of_its_request_is_no_emulator_error(emu):
    """A bot killed while sending a file leaves a request cut short: the emulator answers no
    one and records it as unanswered, not as a bug of its own."""
    host, port = emu.base_url.split("//", 1)[1].split("/", 1)[0].split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"chat_id": 42, "text": "cut'
    writer.write(
        f"POST /bot{emu.token}/sendMessage HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    await emu.wait_for(lambda: any(call.method == "sendMessage" for call in emu.calls))
    writer.transport.abort()
    await emu.wait_idle()
    [call] = [call for call in emu.calls if call.method == "sendMessage"]
    assert call.status == 0
    assert call.description == "client disconnected"
    assert not emu.internal_errors
