"""A Telegram Bot API emulator: a real HTTP server on 127.0.0.1 that tests and benchmarks drive.

Telegram is unreachable from the test machines, so the suite points python-telegram-bot at this
server (``ApplicationBuilder().base_url(emu.base_url).base_file_url(emu.base_file_url)``) and
PTB's whole request path (httpx, JSON/form/multipart encoding, error mapping) runs for real::

    async with BotApiEmulator(token="123:ABC") as emu:
        app = ApplicationBuilder().token(emu.token).base_url(emu.base_url).build()
        emu.push_message(TgUser(id=42, first_name="Ana"), "/start")
        ...
        assert emu.last_bot_message(42).text == "Bonjour Ana"

Wire format. Answers are the Bot API's JSON: ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``. Requests may be
GET with a query string, JSON bodies, form-encoded or multipart bodies; in form and multipart
bodies non-string values (``reply_markup``, ``entities``, ``commands``...) are JSON-encoded
strings, exactly as PTB sends them. Method names are case-insensitive, as on Telegram. A wrong
token answers 401 "Unauthorized"; an unsupported method answers 404 "Not Found", so a bot that
starts using a method the emulator lacks fails loudly instead of silently.

Methods: getMe, getUpdates (real long poll: returns as soon as an update is queued; ``offset``
confirms earlier updates, a negative offset keeps only the last updates; ``limit``;
``allowed_updates`` with Telegram's default of every type except chat_member, message_reaction
and message_reaction_count; a second concurrent getUpdates terminates the first with 409, and
getUpdates while a webhook is set answers 409), sendMessage, editMessageText,
editMessageReplyMarkup, editMessageCaption, deleteMessage, answerCallbackQuery, sendDocument,
sendPhoto (multipart uploads keep their bytes and filename; an earlier file_id may be re-sent),
getFile plus file download under ``base_file_url``, sendChatAction, setMyCommands /
getMyCommands / deleteMyCommands (per scope and language_code), setMyDescription /
getMyDescription, setMyShortDescription / getMyShortDescription, setWebhook, deleteWebhook,
getWebhookInfo.

Rules enforced with a 400 and a Telegram-like description (all start with "Bad Request: "):

* message text empty (after entity parsing and trimming) or longer than 4096 characters;
  captions longer than 1024. Lengths count Unicode code points of the parsed text (tags
  stripped, entities decoded, surrounding whitespace trimmed), as Telegram's documented
  "characters after entities parsing"; entity offsets in answers are in UTF-16 code units.
* inline keyboards: a button with no action (neither url nor callback_data nor another action
  field), empty button text, callback_data empty or over 64 UTF-8 bytes, more than 100 buttons.
* ``parse_mode="HTML"``: only Telegram's tags (b strong i em u ins s strike del span
  class="tg-spoiler" tg-spoiler a href code pre blockquote [expandable] tg-emoji), properly
  nested and closed; the entities &lt; &gt; &amp; &quot; and numeric ones. Any other tag, an
  unclosed or mismatched tag, a bare "<" and a bare "&" that starts no entity answer
  "can't parse entities: ...". (Telegram itself keeps a bare "&" as text; the emulator refuses
  it on purpose, so user input interpolated without html.escape() is caught.) MarkdownV2 and
  Markdown are accepted but not validated: the stored text is then the raw source.
* editing: "message to edit not found" (unknown id, or a message of another chat), "message
  can't be edited" (a user's message), "message is not modified" (same text, entities and
  markup). Like Telegram, editMessageText without reply_markup removes the inline keyboard.
* answerCallbackQuery for an unknown or already answered query id.
* replying to a missing message, unknown file ids, an empty upload, invalid chat actions, bot
  command names and descriptions, non-HTTPS webhooks.

Faults: :meth:`BotApiEmulator.fail_next` (429 with ``parameters.retry_after``, 403 "Forbidden:
bot was blocked by the user", 5xx, any status), :meth:`~BotApiEmulator.slow_next` (delay an
answer, to provoke client time-outs), :meth:`~BotApiEmulator.block_user` (every call aimed at
that chat answers 403) and :meth:`~BotApiEmulator.enforce_rate_limits` (token buckets: global,
per chat and per group; 429 when exceeded; ``emu.clock`` can be replaced by a fake clock).
Note: PTB 22.8 emits a PTBDeprecationWarning while building RetryAfter unless the environment
sets PTB_TIMEDELTA=true, and this suite turns warnings into errors: tests that provoke a 429
should ``monkeypatch.setenv("PTB_TIMEDELTA", "true")`` (RetryAfter.retry_after is then a
timedelta).

State tests read: :attr:`~BotApiEmulator.calls` (every request: method, decoded params,
uploads, monotonic time, status, result), per-chat message lists holding each message's
current text and reply markup (edits apply in place; :meth:`~BotApiEmulator.messages`),
callback queries and whether they were answered, chat actions, bot commands, descriptions and
the webhook. Tests inject updates with ``push_message``, ``push_command``, ``push_callback``,
``push_photo``, ``push_document``, ``push_sticker``, ``push_edited_message`` and
``push_update`` for anything else. Update ids increase monotonically.

Everything runs on the caller's event loop; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import BodyPartReader, web

JSONDict = dict[str, Any]

#: Telegram's limits the emulator enforces.
MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_INLINE_BUTTONS: Final = 100
MAX_CALLBACK_ANSWER_LENGTH: Final = 200
MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
MAX_PHOTO_BYTES: Final = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES: Final = 20 * 1024 * 1024

#: A valid 1x1 PNG, handy as default photo content.
PNG_1X1: Final = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_DEFAULT_EXCLUDED_UPDATES: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CHAT_ACTIONS: Final = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
# Methods counted by the optional rate limiter: Telegram's limits are about sent messages.
_RATE_LIMITED_METHODS: Final = frozenset({"sendMessage", "sendDocument", "sendPhoto"})
_INLINE_ACTIONS: Final = tuple(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
_BOT_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
# A button URL: an http(s)/tg/ton URL, or a bare domain such as "example.org/page".
_BUTTON_URL_RE = re.compile(r"(?:https?|tg|ton)://\S+|[^\s:/]+\.[^\s:/]+(?:/\S*)?")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")

# Parameter types, so that form-encoded and JSON requests decode to the same values.
_INT_PARAMS: Final = frozenset(
    [
        "message_id",
        "offset",
        "limit",
        "cache_time",
        "message_thread_id",
        "reply_to_message_id",
        "max_connections",
        "user_id",
        "from_chat_id",
        "width",
        "height",
        "duration",
    ]
)
_FLOAT_PARAMS: Final = frozenset({"timeout"})
_BOOL_PARAMS: Final = frozenset(
    [
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
    ]
)
_JSON_PARAMS: Final = frozenset(
    [
        "reply_markup",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "commands",
        "scope",
        "allowed_updates",
        "media",
    ]
)


# --------------------------------------------------------------------------------------------
# Value objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TgUser:
    """A Telegram user that sends updates to the bot."""

    id: int
    first_name: str = "Test"
    language_code: str | None = "fr"
    username: str | None = None
    last_name: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSONDict:
        """The Bot API ``User`` object."""
        data: JSONDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass(frozen=True)
class TgChat:
    """A chat updates come from; build it with :meth:`private`, :meth:`group` and friends."""

    id: int
    type: str = "private"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None

    @classmethod
    def private(cls, user: TgUser) -> TgChat:
        """The private chat between ``user`` and the bot (its id is the user's id)."""
        return cls(id=user.id, type="private", username=user.username, first_name=user.first_name)

    @classmethod
    def group(cls, chat_id: int, title: str = "Test group") -> TgChat:
        """A basic group; ``chat_id`` must be negative, as on Telegram."""
        return cls(id=chat_id, type="group", title=title)

    @classmethod
    def supergroup(cls, chat_id: int, title: str = "Test supergroup") -> TgChat:
        """A supergroup; Telegram's supergroup ids look like -100xxxxxxxxxx."""
        return cls(id=chat_id, type="supergroup", title=title)

    @classmethod
    def channel(cls, chat_id: int, title: str = "Test channel") -> TgChat:
        """A channel (its posts arrive as ``channel_post`` updates, without ``from``)."""
        return cls(id=chat_id, type="channel", title=title)

    def to_dict(self) -> JSONDict:
        """The Bot API ``Chat`` object."""
        data: JSONDict = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class StoredFile:
    """A file the emulator knows: uploaded by the bot or sent by a test user."""

    file_id: str
    file_unique_id: str
    kind: str  # "document", "photo" or "sticker"
    data: bytes
    filename: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    file_path: str = ""

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def document_dict(self) -> JSONDict:
        """The Bot API ``Document`` object."""
        data: JSONDict = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.filename is not None:
            data["file_name"] = self.filename
        if self.mime_type is not None:
            data["mime_type"] = self.mime_type
        return data

    def photo_sizes(self) -> list[JSONDict]:
        """The Bot API ``PhotoSize`` array (a single size)."""
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "width": self.width,
                "height": self.height,
                "file_size": self.size,
            }
        ]


@dataclass
class Upload:
    """One file part of a multipart request, as received."""

    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class StoredMessage:
    """A message in a chat, in its current state (edits apply in place).

    Bot messages are built from the bot's requests; user messages keep the raw dict that was
    pushed (``raw``) so the bot receives back exactly what the test sent.
    """

    chat: JSONDict
    message_id: int
    date: int
    from_bot: bool
    sender: JSONDict | None
    text: str | None = None
    entities: list[JSONDict] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSONDict] = field(default_factory=list)
    source: str | None = None  # text or caption as the bot sent it, before parse_mode
    parse_mode: str | None = None
    reply_markup: JSONDict | None = None
    document: StoredFile | None = None
    photo: StoredFile | None = None
    reply_to: StoredMessage | None = None
    edit_date: int | None = None
    history: list[str | None] = field(default_factory=list)  # earlier texts/captions
    raw: JSONDict | None = None

    @property
    def chat_id(self) -> int:
        """The id of the chat the message belongs to."""
        return int(self.chat["id"])

    @property
    def content(self) -> str | None:
        """What the user reads: the text, or else the caption."""
        return self.text if self.text is not None else self.caption

    def keyboard(self) -> list[list[str]]:
        """Button labels row by row, of an inline or reply keyboard; empty when none."""
        return [[_button_text(b) for b in row] for row in _keyboard_rows(self.reply_markup)]

    def buttons(self) -> list[str]:
        """Button labels, flattened."""
        return [label for row in self.keyboard() for label in row]

    def button_objects(self) -> list[JSONDict]:
        """The buttons as dicts (a reply keyboard's plain strings become ``{"text": ...}``)."""
        return [
            b if isinstance(b, dict) else {"text": str(b)}
            for row in _keyboard_rows(self.reply_markup)
            for b in row
        ]

    @property
    def readable(self) -> str:
        """The text, else the caption, else a placeholder (see :func:`readable_text`)."""
        return readable_text(self.to_dict(with_reply=False))

    @property
    def has_inline_keyboard(self) -> bool:
        """Whether the message carries a non-empty inline keyboard."""
        return bool(self.reply_markup and self.reply_markup.get("inline_keyboard"))

    @property
    def has_keyboard(self) -> bool:
        """Whether the message carries an inline or reply keyboard with buttons."""
        return bool(self.buttons())

    def to_dict(self, *, with_reply: bool = True) -> JSONDict:
        """The Bot API ``Message`` object, as PTB de-jsons it."""
        if self.raw is not None:
            return copy.deepcopy(self.raw)
        data: JSONDict = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": dict(self.chat),
        }
        if self.sender is not None:
            data["from"] = dict(self.sender)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = copy.deepcopy(self.entities)
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = copy.deepcopy(self.caption_entities)
        if self.document is not None:
            data["document"] = self.document.document_dict()
        if self.photo is not None:
            data["photo"] = self.photo.photo_sizes()
        # Telegram only echoes inline keyboards in Message objects.
        if self.has_inline_keyboard:
            data["reply_markup"] = copy.deepcopy(self.reply_markup)
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_dict(with_reply=False)
        return data


@dataclass
class ChatState:
    """Everything the emulator knows about one chat."""

    chat: JSONDict
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    next_message_id: int = 1

    @property
    def id(self) -> int:
        """The chat id."""
        return int(self.chat["id"])

    @property
    def type(self) -> str:
        """private, group, supergroup or channel."""
        return str(self.chat["type"])


@dataclass
class Call:
    """One request the bot made. ``status`` is 0 while the request is still being answered."""

    seq: int
    method: str
    params: JSONDict
    uploads: dict[str, Upload]
    time: float  # the emulator's clock (time.monotonic by default) at arrival
    status: int = 0
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.status == 200

    @property
    def finished(self) -> bool:
        """Whether the answer was sent."""
        return self.status != 0

    @property
    def chat_id(self) -> int | str | None:
        """The ``chat_id`` parameter, if any."""
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) else None


@dataclass
class CallbackQueryRecord:
    """A callback query pushed to the bot and how the bot answered it."""

    query_id: str
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    data: str | None
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    answer_url: str | None = None


@dataclass
class WebhookState:
    """The webhook as set by setWebhook (``url == ""`` means none)."""

    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None


@dataclass
class _Fault:
    method: str  # a method name, or "*" for any method except getUpdates
    status: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _Delay:
    method: str
    seconds: float
    remaining: int


class _TokenBucket:
    """Allows ``rate`` events per second with bursts of up to ``capacity``."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Consume a token (call :meth:`wait_time` first)."""
        self.tokens -= 1


@dataclass
class _RateLimits:
    global_per_s: float
    per_chat_per_s: float
    group_per_min: float
    global_bucket: _TokenBucket
    chat_buckets: dict[int | str, _TokenBucket] = field(default_factory=dict)
    group_buckets: dict[int | str, _TokenBucket] = field(default_factory=dict)


class ApiError(Exception):
    """Raised by method handlers to answer a Bot API error."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSONDict:
        """The JSON body Telegram answers."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class _Signal:
    """Wakes every waiter whenever :meth:`notify` is called."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 (a bounded wait by design)
        """Return on the next notification, or after ``timeout`` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait([waiter], timeout=max(timeout, 0.0))
        finally:
            self._waiters.discard(waiter)
            if not waiter.done():
                waiter.cancel()


# --------------------------------------------------------------------------------------------
# Text formatting: HTML parse mode, trimming, lengths
# --------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; the message is Telegram-like."""


_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));")
_NAMED_ENTITIES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_ENTITY_TYPES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the output
    language: str | None = None


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(source: str, index: int) -> tuple[str, int]:
    """Decode the character entity at ``source[index] == "&"``; return (text, next index)."""
    match = _ENTITY_RE.match(source, index)
    if match is None:
        raise HtmlParseError(
            f'Unescaped "&" at byte offset {_byte_offset(source, index)}: '
            "write &amp; (html.escape) for a literal ampersand"
        )
    name, decimal, hexadecimal = match.groups()
    if name:
        return _NAMED_ENTITIES[name], match.end()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise HtmlParseError(
            f"Unsupported HTML entity at byte offset {_byte_offset(source, index)}"
        )
    return chr(code), match.end()


def _decode_attribute(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            text, i = _decode_entity(value, i)
            out.append(text)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram HTML into (plain text, entities), as Telegram does.

    Entities come sorted by offset (then longest first), with UTF-16 offsets and lengths;
    empty ones are dropped. The text is not trimmed here.

    Raises:
        HtmlParseError: the markup is invalid; the message follows Telegram's wording.
    """
    out: list[str] = []
    position = 0  # UTF-16 length of the output so far
    entities: list[JSONDict] = []
    stack: list[_OpenTag] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "&":
            text, i = _decode_entity(source, i)
            out.append(text)
            position += utf16_length(text)
            continue
        if ch != "<":
            out.append(ch)
            position += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        if source.startswith("</", i):
            i = _parse_end_tag(source, i, stack, entities, position)
            continue
        # Start tag: its name runs to the first space or ">".
        j = i + 1
        while j < n and not source[j].isspace() and source[j] != ">":
            j += 1
        if j >= n:
            raise HtmlParseError(
                f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
            )
        name = source[i + 1 : j].lower()
        if name not in _TAG_ENTITY_TYPES:
            raise HtmlParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}'
            )
        attrs, i = _parse_attributes(source, j, name, begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(source, begin)}"
            )
        stack.append(_OpenTag(name=name, attrs=attrs, start=position))
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_attributes(source: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Parse a start tag's attributes from ``i``; return them and the index after ">"."""
    n = len(source)
    attrs: dict[str, str] = {}

    def unclosed() -> HtmlParseError:
        return HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")

    while True:
        while i < n and source[i].isspace():
            i += 1
        if i >= n:
            raise unclosed()
        if source[i] == ">":
            return attrs, i + 1
        k = i
        while k < n and not source[k].isspace() and source[k] not in "=>":
            k += 1
        name = source[i:k].lower()
        if not name:
            raise HtmlParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset '
                f"{_byte_offset(source, begin)}"
            )
        i = k
        while i < n and source[i].isspace():
            i += 1
        if i < n and source[i] == "=":
            i += 1
            while i < n and source[i].isspace():
                i += 1
            if i >= n:
                raise unclosed()
            if source[i] in "\"'":
                end = source.find(source[i], i + 1)
                if end < 0:
                    raise unclosed()
                value = _decode_attribute(source[i + 1 : end])
                i = end + 1
            else:
                k = i
                while k < n and not source[k].isspace() and source[k] != ">":
                    k += 1
                value = _decode_attribute(source[i:k])
                i = k
        else:
            value = ""  # a boolean attribute such as <blockquote expandable>
        attrs[name] = value


def _parse_end_tag(
    source: str, i: int, stack: list[_OpenTag], entities: list[JSONDict], position: int
) -> int:
    """Close the innermost open tag at ``source[i:] == "</..."``; return the next index."""
    begin = i
    n = len(source)
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
    j = i + 2
    while j < n and not source[j].isspace() and source[j] != ">":
        j += 1
    name = source[i + 2 : j].lower()
    while j < n and source[j].isspace():
        j += 1
    if j >= n or source[j] != ">":
        raise HtmlParseError(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
    tag = stack[-1]
    if name and name != tag.name:
        raise HtmlParseError(
            f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
            f'expected "</{tag.name}>", found "</{name}>"'
        )
    stack.pop()
    length = position - tag.start
    css_class = tag.attrs.get("class", "")
    if (
        tag.name == "code"
        and stack
        and stack[-1].name == "pre"
        and css_class.startswith("language-")
    ):
        # <pre><code class="language-x"> is one pre entity with a language.
        stack[-1].language = css_class.removeprefix("language-")
        return j + 1
    if length <= 0:
        return j + 1
    entity: JSONDict = {"type": _TAG_ENTITY_TYPES[tag.name], "offset": tag.start, "length": length}
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return j + 1
        entity["url"] = href
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        emoji_id = tag.attrs.get("emoji-id")
        if not emoji_id:
            return j + 1
        entity["custom_emoji_id"] = emoji_id
    entities.append(entity)
    return j + 1


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace as Telegram does, shifting and clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_length(text[: len(text) - len(text.lstrip())])
    end = utf16_length(stripped)
    kept: list[JSONDict] = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        stop = min(end, entity["offset"] + entity["length"] - lead)
        if stop > start:
            kept.append({**entity, "offset": start, "length": stop - start})
    return stripped, kept


def _bot_command_entities(text: str) -> list[JSONDict]:
    """The ``bot_command`` entities Telegram adds to incoming texts (CommandHandler needs them)."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_length(text[: m.start()]),
            "length": utf16_length(m.group()),
        }
        for m in _BOT_COMMAND_RE.finditer(text)
    ]


# --------------------------------------------------------------------------------------------
# Keyboards
# --------------------------------------------------------------------------------------------


def _keyboard_rows(markup: JSONDict | None) -> list[list[Any]]:
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [list(row) for row in rows if isinstance(row, list)]


def _button_text(button: Any) -> str:
    return str(button.get("text", "")) if isinstance(button, dict) else str(button)


def _validate_markup(markup: Any, *, inline_only: bool = False) -> JSONDict | None:
    """Check a reply_markup as Telegram does; return it (None when absent)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _validate_inline_keyboard(markup["inline_keyboard"])
        # An empty inline keyboard means "no keyboard", as on Telegram.
        return markup if markup["inline_keyboard"] else None
    if inline_only:
        raise _bad("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse reply keyboard markup JSON object")
        for row in rows:
            for button in row:
                if not _button_text(button).strip():
                    raise _bad("keyboard button text must be non-empty")
        return markup
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return markup
    raise _bad("can't parse reply keyboard markup JSON object")


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('can\'t parse inline keyboard: field "inline_keyboard" must be an Array')
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise _bad("reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise _bad("can't parse inline keyboard button: InlineKeyboardButton expected")
            if not str(button.get("text", "")).strip():
                raise _bad("can't parse inline keyboard button: Text must be non-empty")
            actions = [key for key in _INLINE_ACTIONS if key in button]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not (
                    1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not _BUTTON_URL_RE.fullmatch(url):
                    raise _bad("BUTTON_URL_INVALID")


# --------------------------------------------------------------------------------------------
# Request decoding
# --------------------------------------------------------------------------------------------


def _coerce_param(name: str, value: Any) -> Any:
    """Decode one parameter to its JSON type, whichever encoding the client used."""
    try:
        if name == "chat_id":
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
                return int(value)
            return value
        if name in _INT_PARAMS and isinstance(value, str):
            return int(value)
        if name in _FLOAT_PARAMS and isinstance(value, str):
            return float(value)
        if name in _BOOL_PARAMS and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in {"true", "false", "1", "0"}:
                raise ValueError(value)
            return lowered in {"true", "1"}
        if name in _JSON_PARAMS and isinstance(value, str):
            return json.loads(value)
    except (ValueError, json.JSONDecodeError) as exc:
        if name == "reply_markup":
            raise _bad("can't parse reply keyboard markup JSON object") from exc
        raise _bad(f'can\'t parse parameter "{name}"') from exc
    return value


async def _read_request(request: web.Request) -> tuple[JSONDict, dict[str, Upload]]:
    """Merge the query string and the body (JSON, form or multipart) into params and uploads."""
    raw: JSONDict = dict(request.query)
    uploads: dict[str, Upload] = {}
    content_type = request.content_type
    if request.method == "POST" and request.can_read_body:
        if content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise _bad("can't parse JSON object") from exc
            if not isinstance(body, dict):
                raise _bad("JSON object expected")
            raw.update(body)
        elif content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    data = bytes(await part.read(decode=False))
                    uploads[part.name] = Upload(
                        filename=part.filename,
                        data=data,
                        content_type=part.headers.get("Content-Type"),
                    )
                else:
                    raw[part.name] = await part.text()
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    raw[key] = value
    params = {key: _coerce_param(key, value) for key, value in raw.items()}
    return params, uploads


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == PNG_1X1[:8] and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 320, 240


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class BotApiEmulator:
    """A Bot API server on 127.0.0.1 (free port) with inspectable state and fault injection.

    Use it as ``async with BotApiEmulator(token="123:ABC") as emu:`` (or ``await start()`` /
    ``await close()``), then give PTB ``emu.base_url`` and ``emu.base_file_url``.

    Args:
        token: The bot token the emulator accepts; its numeric prefix is the bot's user id.
        bot_username: The bot's username in getMe and in ``from`` of its messages.
        bot_first_name: The bot's first name.
        require_known_chats: When true, sending to a chat that never appeared in a pushed
            update answers "chat not found", as Telegram does for users who never started the
            bot. By default any integer chat id is accepted (private if positive).
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "alliance_test_bot",
        bot_first_name: str = "Alliance Bot",
        require_known_chats: bool = False,
    ) -> None:
        bot_id, sep, _secret = token.partition(":")
        if not sep or not bot_id.isdigit():
            raise ValueError(f"a bot token looks like '123456:secret', got {token!r}")
        self.token = token
        self.bot_user: JSONDict = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.require_known_chats = require_known_chats
        #: The clock of ``Call.time`` and of rate limiting (seconds, monotonic). Tests may
        #: replace it with a fake to make rate limits deterministic.
        self.clock: Callable[[], float] = time.monotonic

        #: Every request in arrival order: getUpdates, refused ones (wrong token: 401, unknown
        #: method: 404, under the method name as sent) and faults included.
        self.calls: list[Call] = []
        #: Every update pushed, in order (delivered or not).
        self.updates: list[JSONDict] = []
        #: Callback queries by id.
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        #: Bot commands by (scope key, language_code); see :meth:`commands_for`.
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        #: Bot descriptions by language_code ("" is the default language).
        self.descriptions: dict[str, str] = {}
        #: Bot short descriptions by language_code.
        self.short_descriptions: dict[str, str] = {}
        #: The webhook (url "" when none is set).
        self.webhook = WebhookState()
        #: The id of the last update pushed (0 before any).
        self.last_update_id = 0
        #: Unexpected exceptions inside the emulator (answered as 500); tests may assert empty.
        self.internal_errors: list[Exception] = []

        self._chats: dict[int, ChatState] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._pending: list[JSONDict] = []
        self._allowed_updates: list[str] | None = None
        self._blocked: set[int] = set()
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._rate_limits: _RateLimits | None = None
        self._in_flight: dict[int, Call] = {}
        self._next_call_seq = 1
        self._ids = itertools.count(1)
        self._poll_generation = 0
        self._closing = False
        self._changed = _Signal()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def close(self) -> None:
        """Wake pending long polls and delayed answers, then stop the server."""
        self._closing = True
        self._changed.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The TCP port the emulator listens on."""
        if not self._port:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """What to give ``ApplicationBuilder().base_url()``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """What to give ``ApplicationBuilder().base_file_url()``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- pushing updates -------------------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue any update for getUpdates; return its id.

        ``update_id`` is assigned when missing (it must otherwise exceed every earlier id).
        Message-like payloads (message, edited_message, channel_post, edited_channel_post,
        business_message) get ``message_id`` and ``date`` when missing, their chat becomes
        known and new messages are stored; a ``callback_query`` is recorded so the bot can
        answer it. ``from`` is never added: updates without a sender are legitimate.
        """
        data = copy.deepcopy(dict(update))
        if "update_id" in data:
            update_id = int(data["update_id"])
            if update_id <= self.last_update_id:
                raise ValueError(
                    f"update_id {update_id} must exceed the last one ({self.last_update_id})"
                )
        else:
            update_id = self.last_update_id + 1
            data = {"update_id": update_id, **data}
        self._register_incoming(data)
        self.last_update_id = update_id
        self.updates.append(data)
        self._pending.append(data)
        self._changed.notify()
        return update_id

    def push_message(
        self,
        user: TgUser | None,
        text: str,
        chat: TgChat | None = None,
        **fields: Any,
    ) -> int:
        """A text message from ``user`` (private chat by default); return the update id.

        ``bot_command`` entities are added like Telegram does; ``fields`` are merged into the
        message dict (e.g. ``reply_to_message=...``).
        """
        message = self._user_message(user, chat)
        message["text"] = text
        entities = _bot_command_entities(text)
        if entities:
            message["entities"] = entities
        message.update(fields)
        return self.push_update({"message": message})

    def push_command(
        self, user: TgUser | None, command: str, *args: str, chat: TgChat | None = None
    ) -> int:
        """``/command arg1 arg2`` as a text message; return the update id."""
        text = " ".join(["/" + command.lstrip("/"), *args])
        return self.push_message(user, text, chat=chat)

    def push_callback(
        self, user: TgUser, message_id: int, data: str, chat: TgChat | None = None
    ) -> str:
        """The user taps a callback button on bot message ``message_id``; return the query id.

        Raises:
            ValueError: no such message in that chat (a test bug, not a bot bug).
        """
        chat = chat or TgChat.private(user)
        state = self._chats.get(chat.id)
        message = state.messages.get(message_id) if state else None
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat.id} to tap a button on")
        query_id = str(10**18 + next(self._ids))
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "message": message.to_dict(),
                    "chat_instance": str(-chat.id - 1000),
                    "data": data,
                }
            }
        )
        return query_id

    def push_photo(
        self,
        user: TgUser | None,
        data: bytes = PNG_1X1,
        *,
        caption: str | None = None,
        chat: TgChat | None = None,
    ) -> int:
        """A photo from ``user``; the bytes are downloadable through getFile."""
        stored = self._store_file("photo", data, filename=None, mime_type="image/jpeg")
        message = self._user_message(user, chat)
        message["photo"] = stored.photo_sizes()
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message})

    def push_document(
        self,
        user: TgUser | None,
        filename: str,
        data: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        chat: TgChat | None = None,
    ) -> int:
        """A document from ``user``; the bytes are downloadable through getFile."""
        stored = self._store_file("document", data, filename=filename, mime_type=mime_type)
        message = self._user_message(user, chat)
        message["document"] = stored.document_dict()
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message})

    def push_sticker(
        self, user: TgUser | None, emoji: str = "👍", *, chat: TgChat | None = None
    ) -> int:
        """A (regular, static) sticker from ``user``."""
        stored = self._store_file("sticker", b"RIFF\x00\x00\x00\x00WEBP", mime_type="image/webp")
        message = self._user_message(user, chat)
        message["sticker"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": stored.size,
        }
        return self.push_update({"message": message})

    def push_edited_message(
        self, user: TgUser, message_id: int, text: str, chat: TgChat | None = None
    ) -> int:
        """The user edits their earlier text message ``message_id``."""
        chat = chat or TgChat.private(user)
        state = self._chats.get(chat.id)
        stored = state.messages.get(message_id) if state else None
        if stored is None or stored.from_bot:
            raise ValueError(f"no user message {message_id} in chat {chat.id} to edit")
        message = stored.to_dict()
        message["text"] = text
        message["edit_date"] = int(time.time())
        entities = _bot_command_entities(text)
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        return self.push_update({"edited_message": message})

    # ---- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        retry_after: int | None = None,
        count: int = 1,
        *,
        description: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error instead of running them.

        ``method`` is a Bot API method name or ``"*"`` for any method except getUpdates. A 429
        carries ``parameters.retry_after`` (default 1 s, so PTB raises RetryAfter); the default
        descriptions are Telegram's ("Forbidden: bot was blocked by the user" for 403...).
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.append(
            _Fault(
                method=method,
                status=status,
                description=description or _default_description(status, retry_after),
                retry_after=retry_after if status == 429 else None,
                remaining=count,
            )
        )

    def slow_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Delay the answer to the next ``count`` calls of ``method`` (``"*"``: any but
        getUpdates). The call still takes effect after the delay, even if the client gave up,
        as a real request that timed out client-side may have."""
        self._delays.append(_Delay(method=method, seconds=seconds, remaining=count))

    def clear_faults(self) -> None:
        """Forget pending faults and delays."""
        self._faults.clear()
        self._delays.clear()

    def block_user(self, chat_id: int) -> None:
        """Every call aimed at ``chat_id`` answers 403 from now on (user blocked the bot, or
        the bot was kicked from the group)."""
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        """Undo :meth:`block_user`."""
        self._blocked.discard(chat_id)

    def enforce_rate_limits(
        self,
        global_per_s: float = 30,
        per_chat_per_s: float = 1,
        group_per_min: float = 20,
    ) -> None:
        """Answer 429 (with retry_after) to sends beyond Telegram's published limits.

        Token buckets: ``global_per_s`` sends per second overall (bursts up to that many),
        ``per_chat_per_s`` per chat (bursts up to ``max(1, per_chat_per_s)``) and, in groups,
        ``group_per_min`` per minute (bursts up to that many). Only sendMessage, sendDocument
        and sendPhoto are counted; refused calls do not consume tokens.
        """
        if min(global_per_s, per_chat_per_s, group_per_min) <= 0:
            raise ValueError("rate limits must be positive")
        self._rate_limits = _RateLimits(
            global_per_s=global_per_s,
            per_chat_per_s=per_chat_per_s,
            group_per_min=group_per_min,
            global_bucket=_TokenBucket(global_per_s, max(1.0, global_per_s), self.clock()),
        )

    def disable_rate_limits(self) -> None:
        """Stop enforcing rate limits."""
        self._rate_limits = None

    # ---- reading state ---------------------------------------------------------------------

    def chat(self, chat_id: int) -> ChatState:
        """The state of a chat the emulator knows.

        Raises:
            KeyError: the chat never appeared.
        """
        return self._chats[chat_id]

    def messages(self, chat_id: int, *, from_bot: bool | None = None) -> list[StoredMessage]:
        """Messages of a chat in their current state, oldest first (deleted ones removed).

        ``from_bot`` filters on the author; None keeps both.
        """
        state = self._chats.get(chat_id)
        if state is None:
            return []
        return [m for m in state.messages.values() if from_bot is None or m.from_bot == from_bot]

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        """One message in its current state.

        Raises:
            KeyError: unknown chat or message.
        """
        return self._chats[chat_id].messages[message_id]

    def last_bot_message(self, chat_id: int) -> StoredMessage | None:
        """The bot's latest message in a chat, or None."""
        bot_messages = self.messages(chat_id, from_bot=True)
        return bot_messages[-1] if bot_messages else None

    def chat_actions(self, chat_id: int) -> list[str]:
        """The chat actions (typing...) sent to a chat, in order."""
        state = self._chats.get(chat_id)
        return list(state.actions) if state else []

    def file(self, file_id: str) -> StoredFile:
        """A stored file by id.

        Raises:
            KeyError: unknown file id.
        """
        return self._files[file_id]

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    def mark(self) -> int:
        """A position in the call log; pass it to :meth:`calls_since`."""
        return self._next_call_seq

    def calls_since(self, mark: int) -> list[Call]:
        """Calls that arrived after :meth:`mark` returned ``mark``."""
        return [c for c in self.calls if c.seq >= mark]

    def commands_for(self, language_code: str = "", scope: str = "default") -> list[JSONDict]:
        """The commands set for a scope key ("default", "all_private_chats", "chat:<id>"...)
        and language ("" for all languages); empty when unset."""
        return list(self.commands.get((scope, language_code), []))

    @property
    def in_flight(self) -> int:
        """Requests being answered right now, getUpdates excluded."""
        return len(self._in_flight)

    @property
    def in_flight_calls(self) -> list[Call]:
        """The requests being answered right now, getUpdates excluded."""
        return list(self._in_flight.values())

    @property
    def pending_update_ids(self) -> list[int]:
        """Ids of updates queued and not yet confirmed by an offset."""
        return [int(u["update_id"]) for u in self._pending]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 (the deadline is part of the API)
    ) -> None:
        """Wait until ``predicate()`` is true, re-checking on every change of the emulator
        (request answered, update pushed or consumed).

        Raises:
            TimeoutError: still false after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition still false after {timeout} s")
            await self._changed.wait(remaining)

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no request other than getUpdates is being answered."""
        await self.wait_for(lambda: not self._in_flight, timeout)

    # ---- HTTP plumbing ---------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        method = _CANONICAL_METHODS.get(name.lower(), name)
        seq = self._next_call_seq
        self._next_call_seq += 1
        call = Call(seq=seq, method=method, params={}, uploads={}, time=self.clock())
        self.calls.append(call)
        if method != "getUpdates":
            self._in_flight[seq] = call
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if method not in SUPPORTED_METHODS:
                raise ApiError(404, "Not Found")
            call.params, call.uploads = await _read_request(request)
            result = await self._dispatch(call)
        except ApiError as error:
            call.status, call.description = error.status, error.description
            return _json_error(error)
        except ConnectionResetError:
            # The client went away in the middle of its request (a bot killed with -9): Telegram
            # answers no one then, and it is no emulator bug. Status 0: nothing was answered.
            call.status, call.description = 0, "client disconnected"
            return web.Response(status=400)
        except Exception as exc:
            # An emulator bug: answer like a Telegram outage and keep it for the tests to see.
            self.internal_errors.append(exc)
            failure = ApiError(500, f"Internal Server Error: emulator bug: {exc!r}")
            call.status, call.description = failure.status, failure.description
            return _json_error(failure)
        else:
            call.status, call.result = 200, result
            body: JSONDict = {"ok": True, "result": result}
            if method == "setWebhook":
                body["description"] = "Webhook was set"
            elif method == "deleteWebhook":
                body["description"] = "Webhook was deleted"
            return web.json_response(body)
        finally:
            self._in_flight.pop(seq, None)
            self._changed.notify()

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_error(ApiError(401, "Unauthorized"))
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return _json_error(ApiError(404, "Not Found"))
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _dispatch(self, call: Call) -> Any:
        delay = _take(self._delays, call.method)
        if delay is not None:
            await self._sleep(delay.seconds)
        fault = _take(self._faults, call.method)
        if fault is not None:
            raise ApiError(fault.status, fault.description, retry_after=fault.retry_after)
        handler = self._handlers()[call.method]
        if self._rate_limits is None or call.method not in _RATE_LIMITED_METHODS:
            return await handler(call)
        now = self.clock()
        buckets = self._buckets_for(call.params.get("chat_id"), now)
        wait = max(bucket.wait_time(now) for bucket in buckets)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        result = await handler(call)
        for bucket in buckets:
            bucket.take()
        return result

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and loop.time() < deadline:
            await self._changed.wait(deadline - loop.time())

    def _buckets_for(self, chat_id: Any, now: float) -> list[_TokenBucket]:
        limits = self._rate_limits
        assert limits is not None
        buckets = [limits.global_bucket]
        if not isinstance(chat_id, int | str):
            return buckets
        if chat_id not in limits.chat_buckets:
            limits.chat_buckets[chat_id] = _TokenBucket(
                limits.per_chat_per_s, max(1.0, limits.per_chat_per_s), now
            )
        buckets.append(limits.chat_buckets[chat_id])
        state = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        is_group = state.type in {"group", "supergroup"} if state else _is_group_id(chat_id)
        if is_group:
            if chat_id not in limits.group_buckets:
                limits.group_buckets[chat_id] = _TokenBucket(
                    limits.group_per_min / 60, max(1.0, limits.group_per_min), now
                )
            buckets.append(limits.group_buckets[chat_id])
        return buckets

    def _handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": self._set_my_description,
            "getMyDescription": self._get_my_description,
            "setMyShortDescription": self._set_my_short_description,
            "getMyShortDescription": self._get_my_short_description,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
        }

    # ---- methods: updates ------------------------------------------------------------------

    async def _get_me(self, call: Call) -> JSONDict:
        return dict(self.bot_user)

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        if self.webhook.url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        params = call.params
        # A newer getUpdates terminates the older one, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed.notify()
        offset = params.get("offset")
        if isinstance(offset, int) and offset != 0:
            self._confirm(offset)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = list(allowed) if allowed else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            await self._changed.wait(remaining)

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self._changed.notify()

    def _deliverable(self, limit: int) -> list[JSONDict]:
        allowed = self._allowed_updates
        batch: list[JSONDict] = []
        kept: list[JSONDict] = []
        for update in self._pending:
            kind = _update_type(update)
            wanted = kind in allowed if allowed else kind not in _DEFAULT_EXCLUDED_UPDATES
            if wanted:
                kept.append(update)
                if len(batch) < limit:
                    batch.append(copy.deepcopy(update))
            # Updates of unwanted types are dropped, as Telegram never sends them.
        self._pending = kept
        return batch

    # ---- methods: messages -----------------------------------------------------------------

    async def _send_message(self, call: Call) -> JSONDict:
        state = self._target_chat(call.params)
        text, entities = _formatted(call.params, "text", MAX_TEXT_LENGTH, required=True)
        markup = _validate_markup(call.params.get("reply_markup"))
        reply_to = self._reply_target(call.params, state)
        message = self._new_bot_message(state, reply_to=reply_to, markup=markup)
        message.text, message.entities = text, entities
        message.source = call.params.get("text")
        message.parse_mode = call.params.get("parse_mode")
        return message.to_dict()

    async def _send_document(self, call: Call) -> JSONDict:
        return await self._send_media(call, "document")

    async def _send_photo(self, call: Call) -> JSONDict:
        return await self._send_media(call, "photo")

    async def _send_media(self, call: Call, kind: str) -> JSONDict:
        state = self._target_chat(call.params)
        stored = self._input_file(call, kind)
        caption, caption_entities = _formatted(call.params, "caption", MAX_CAPTION_LENGTH)
        markup = _validate_markup(call.params.get("reply_markup"))
        reply_to = self._reply_target(call.params, state)
        message = self._new_bot_message(state, reply_to=reply_to, markup=markup)
        if kind == "document":
            message.document = stored
        else:
            message.photo = stored
        if caption:
            message.caption, message.caption_entities = caption, caption_entities
            message.source = call.params.get("caption")
            message.parse_mode = call.params.get("parse_mode")
        return message.to_dict()

    async def _edit_message_text(self, call: Call) -> JSONDict:
        message = self._message_to_edit(call.params)
        if message.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities = _formatted(call.params, "text", MAX_TEXT_LENGTH, required=True)
        markup = _validate_markup(call.params.get("reply_markup"), inline_only=True)
        if markup is None and not message.has_inline_keyboard:
            markup = message.reply_markup  # a reply keyboard belongs to the chat: it stays
        if (text, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise _bad(_NOT_MODIFIED)
        message.history.append(message.text)
        message.text, message.entities, message.reply_markup = text, entities, markup
        message.source = call.params.get("text")
        message.parse_mode = call.params.get("parse_mode")
        message.edit_date = int(time.time())
        return message.to_dict()

    async def _edit_message_caption(self, call: Call) -> JSONDict:
        message = self._message_to_edit(call.params)
        if message.document is None and message.photo is None:
            raise _bad("there is no caption in the message to edit")
        caption, entities = _formatted(call.params, "caption", MAX_CAPTION_LENGTH)
        markup = _validate_markup(call.params.get("reply_markup"), inline_only=True)
        new_caption = caption or None
        if (new_caption, entities, markup) == (
            message.caption,
            message.caption_entities,
            message.reply_markup,
        ):
            raise _bad(_NOT_MODIFIED)
        message.history.append(message.caption)
        message.caption, message.caption_entities = new_caption, entities
        message.reply_markup = markup
        message.source = call.params.get("caption")
        message.parse_mode = call.params.get("parse_mode")
        message.edit_date = int(time.time())
        return message.to_dict()

    async def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        message = self._message_to_edit(call.params)
        markup = _validate_markup(call.params.get("reply_markup"), inline_only=True)
        if markup == message.reply_markup or (not markup and not message.has_inline_keyboard):
            raise _bad(_NOT_MODIFIED)
        message.reply_markup = markup
        message.edit_date = int(time.time())
        return message.to_dict()

    async def _delete_message(self, call: Call) -> bool:
        state = self._target_chat(call.params)
        message_id = call.params.get("message_id")
        if not isinstance(message_id, int) or state.messages.pop(message_id, None) is None:
            raise _bad("message to delete not found")
        return True

    async def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id", ""))
        record = self.callback_queries.get(query_id)
        if record is None or record.answered:
            raise _bad(_QUERY_INVALID)
        text = call.params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer_text = text if isinstance(text, str) else None
        record.show_alert = bool(call.params.get("show_alert", False))
        url = call.params.get("url")
        record.answer_url = url if isinstance(url, str) else None
        return True

    async def _send_chat_action(self, call: Call) -> bool:
        state = self._target_chat(call.params)
        action = call.params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        state.actions.append(str(action))
        return True

    # ---- methods: files --------------------------------------------------------------------

    async def _get_file(self, call: Call) -> JSONDict:
        stored = self._files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    def _input_file(self, call: Call, kind: str) -> StoredFile:
        """The file of a send: a fresh upload, an ``attach://`` part or a known file_id."""
        upload = call.uploads.get(kind)
        value = call.params.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = call.uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad(f"can't find attached file {value}")
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            if kind == "photo" and len(upload.data) > MAX_PHOTO_BYTES:
                raise _bad("PHOTO_SAVE_FILE_INVALID")
            return self._store_file(
                kind, upload.data, filename=upload.filename, mime_type=upload.content_type
            )
        if value is None:
            raise _bad(f"there is no {kind} in the request")
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and re.match(r"https?://", value):
            raise _bad("failed to get HTTP URL content")
        raise _bad("wrong file identifier/HTTP URL specified")

    def _store_file(
        self, kind: str, data: bytes, *, filename: str | None = None, mime_type: str | None = None
    ) -> StoredFile:
        number = next(self._ids)
        folder = {"document": "documents", "photo": "photos", "sticker": "stickers"}[kind]
        suffix = ""
        if filename and "." in filename:
            suffix = "." + filename.rsplit(".", 1)[1]
        elif kind == "photo":
            suffix = ".jpg"
        width, height = _png_size(data) if kind == "photo" else (0, 0)
        stored = StoredFile(
            file_id=f"EMU{kind[:3].upper()}{number:08d}",
            file_unique_id=f"U{number:08d}",
            kind=kind,
            data=data,
            filename=filename,
            mime_type=mime_type,
            width=width,
            height=height,
            file_path=f"{folder}/file_{number}{suffix}",
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    # ---- methods: bot profile and webhook --------------------------------------------------

    async def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" must be an Array')
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (self._scope_key(call.params.get("scope")), _language(call.params))
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, call: Call) -> list[JSONDict]:
        key = (self._scope_key(call.params.get("scope")), _language(call.params))
        return list(self.commands.get(key, []))

    async def _delete_my_commands(self, call: Call) -> bool:
        key = (self._scope_key(call.params.get("scope")), _language(call.params))
        self.commands.pop(key, None)
        return True

    async def _set_my_description(self, call: Call) -> bool:
        _set_profile_text(self.descriptions, call.params, "description", 512)
        return True

    async def _get_my_description(self, call: Call) -> JSONDict:
        return {"description": self.descriptions.get(_language(call.params), "")}

    async def _set_my_short_description(self, call: Call) -> bool:
        _set_profile_text(self.short_descriptions, call.params, "short_description", 120)
        return True

    async def _get_my_short_description(self, call: Call) -> JSONDict:
        return {"short_description": self.short_descriptions.get(_language(call.params), "")}

    async def _set_webhook(self, call: Call) -> bool:
        url = str(call.params.get("url", "") or "")
        if url:
            match = re.fullmatch(r"https://([^/:?#]+)(?::(\d+))?(?:[/?#].*)?", url)
            if match is None:
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if match.group(2) and int(match.group(2)) not in {80, 88, 443, 8443}:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = call.params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        max_connections = int(call.params.get("max_connections") or 40)
        if not 1 <= max_connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        allowed = call.params.get("allowed_updates")
        self.webhook = WebhookState(
            url=url,
            secret_token=str(secret) if secret is not None else None,
            max_connections=max_connections,
            allowed_updates=list(allowed) if allowed else None,
        )
        self._changed.notify()  # a pending long poll must now answer 409
        return True

    async def _delete_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = WebhookState()
        return True

    async def _get_webhook_info(self, call: Call) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates:
                info["allowed_updates"] = list(self.webhook.allowed_updates)
        return info

    # ---- helpers ---------------------------------------------------------------------------

    def _user_message(self, user: TgUser | None, chat: TgChat | None) -> JSONDict:
        if chat is None:
            if user is None:
                raise ValueError("a message without a sender needs an explicit chat")
            chat = TgChat.private(user)
        message: JSONDict = {"date": int(time.time()), "chat": chat.to_dict()}
        if user is not None:
            message["from"] = user.to_dict()
        return message

    def _register_incoming(self, update: JSONDict) -> None:
        """Make chats of an incoming update known and store its messages."""
        for key in ("message", "channel_post", "business_message"):
            payload = update.get(key)
            if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
                state = self._ensure_chat(payload["chat"])
                if "message_id" not in payload:
                    payload["message_id"] = state.next_message_id
                payload.setdefault("date", int(time.time()))
                message_id = int(payload["message_id"])
                state.next_message_id = max(state.next_message_id, message_id + 1)
                state.messages[message_id] = _incoming_message(payload)
        for key in ("edited_message", "edited_channel_post"):
            payload = update.get(key)
            if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
                state = self._ensure_chat(payload["chat"])
                payload.setdefault("date", int(time.time()))
                payload.setdefault("edit_date", int(time.time()))
                if "message_id" in payload:
                    stored = state.messages.get(int(payload["message_id"]))
                    if stored is not None and not stored.from_bot:
                        state.messages[stored.message_id] = _incoming_message(payload)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            message = query.get("message") if isinstance(query.get("message"), dict) else None
            chat = message.get("chat") if message else None
            sender = query.get("from")
            self.callback_queries[str(query["id"])] = CallbackQueryRecord(
                query_id=str(query["id"]),
                user_id=sender.get("id") if isinstance(sender, dict) else None,
                chat_id=chat.get("id") if isinstance(chat, dict) else None,
                message_id=message.get("message_id") if message else None,
                data=query.get("data"),
            )

    def _ensure_chat(self, chat: Mapping[str, Any]) -> ChatState:
        chat_id = int(chat["id"])
        state = self._chats.get(chat_id)
        if state is None:
            state = ChatState(chat=dict(chat))
            self._chats[chat_id] = state
        else:
            state.chat.update(chat)
        return state

    def _target_chat(self, params: JSONDict) -> ChatState:
        """The chat a call is aimed at; raise 400 if unknown and 403 if blocked."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        state: ChatState | None = None
        if isinstance(chat_id, int):
            state = self._chats.get(chat_id)
            if state is None and not self.require_known_chats:
                state = self._ensure_chat({"id": chat_id, "type": _chat_type_for_id(chat_id)})
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            state = next(
                (
                    s
                    for s in self._chats.values()
                    if str(s.chat.get("username", "")).lower() == name
                ),
                None,
            )
        if state is None:
            raise _bad("chat not found")
        if state.id in self._blocked:
            if state.type == "private":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, f"Forbidden: bot was kicked from the {state.type} chat")
        return state

    def _reply_target(self, params: JSONDict, state: ChatState) -> StoredMessage | None:
        reply_id = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_id = reply_parameters.get("message_id")
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply"))
        if reply_id is None:
            return None
        target = state.messages.get(int(reply_id))
        if target is None and not allow_missing:
            raise _bad("message to be replied not found")
        return target

    def _message_to_edit(self, params: JSONDict) -> StoredMessage:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by the emulator")
        state = self._target_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        message = state.messages.get(int(message_id))
        if message is None:
            raise _bad("message to edit not found")
        if not message.from_bot:
            raise _bad("message can't be edited")
        return message

    def _new_bot_message(
        self, state: ChatState, *, reply_to: StoredMessage | None, markup: JSONDict | None
    ) -> StoredMessage:
        message = StoredMessage(
            chat=dict(state.chat),
            message_id=state.next_message_id,
            date=int(time.time()),
            from_bot=True,
            sender=_bot_sender(self.bot_user),
            reply_markup=markup,
            reply_to=reply_to,
        )
        state.next_message_id += 1
        state.messages[message.message_id] = message
        return message

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict) or not scope.get("type"):
            return "default"
        parts = [str(scope["type"])]
        parts += [str(scope[key]) for key in ("chat_id", "user_id") if key in scope]
        return ":".join(parts)


_CANONICAL_METHODS: Final = {
    name.lower(): name
    for name in (
        "getMe",
        "getUpdates",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "deleteMessage",
        "answerCallbackQuery",
        "sendDocument",
        "sendPhoto",
        "getFile",
        "sendChatAction",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "setMyDescription",
        "getMyDescription",
        "setMyShortDescription",
        "getMyShortDescription",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
    )
}

#: Bot API methods the emulator answers.
SUPPORTED_METHODS: Final = frozenset(_CANONICAL_METHODS.values())


def _json_error(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


def _default_description(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    return {
        400: "Bad Request: injected error",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
        "instance is running",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, f"Error {status}")


def _take(items: list[Any], method: str) -> Any:
    """Consume one use of the first fault/delay matching ``method``, or return None."""
    for item in items:
        if item.method == method or (item.method == "*" and method != "getUpdates"):
            item.remaining -= 1
            if item.remaining <= 0:
                items.remove(item)
            return item
    return None


def _formatted(
    params: JSONDict, key: str, limit: int, *, required: bool = False
) -> tuple[str, list[JSONDict]]:
    """Parse ``params[key]`` under its parse_mode; check emptiness and length."""
    value = params.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        value = str(value)
    parse_mode = params.get("parse_mode")
    entities_key = "entities" if key == "text" else "caption_entities"
    entities: list[JSONDict] = []
    if isinstance(parse_mode, str) and parse_mode:
        if parse_mode.lower() == "html":
            try:
                value, entities = parse_html(value)
            except HtmlParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from exc
        elif parse_mode.lower() not in {"markdown", "markdownv2"}:
            raise _bad(f"unsupported parse_mode {parse_mode!r}")
    elif isinstance(params.get(entities_key), list):
        entities = list(params[entities_key])
    text, entities = _trim(value, entities)
    if required and not text:
        raise _bad("message text is empty")
    if len(text) > limit:
        raise _bad("message is too long" if key == "text" else "message caption is too long")
    return text, entities


def _language(params: JSONDict) -> str:
    code = params.get("language_code") or ""
    if code and not _LANGUAGE_CODE_RE.fullmatch(str(code)):
        raise _bad("LANG_CODE_INVALID")
    return str(code)


def _set_profile_text(store: dict[str, str], params: JSONDict, key: str, limit: int) -> None:
    """setMyDescription / setMyShortDescription: an empty text removes the language's text."""
    language = _language(params)
    text = str(params.get(key) or "")
    if len(text) > limit:
        raise _bad(f"{key.replace('_', ' ')} is too long (at most {limit} characters)")
    if text:
        store[language] = text
    else:
        store.pop(language, None)


def _bot_sender(bot_user: JSONDict) -> JSONDict:
    return {k: bot_user[k] for k in ("id", "is_bot", "first_name", "username")}


def _incoming_message(payload: JSONDict) -> StoredMessage:
    return StoredMessage(
        chat=dict(payload["chat"]),
        message_id=int(payload["message_id"]),
        date=int(payload["date"]),
        from_bot=False,
        sender=payload.get("from"),
        text=payload.get("text"),
        entities=list(payload.get("entities", [])),
        caption=payload.get("caption"),
        caption_entities=list(payload.get("caption_entities", [])),
        raw=copy.deepcopy(payload),
    )


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _is_group_id(chat_id: int | str) -> bool:
    return isinstance(chat_id, int) and chat_id < 0


def _chat_type_for_id(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def readable_text(message: Mapping[str, Any]) -> str:
    """What a user reads in a Bot API ``Message`` dict: its text, else its caption, else a
    placeholder such as ``[document report.pdf]``, ``[photo]`` or ``[sticker 👍]``."""
    for key in ("text", "caption"):
        if isinstance(message.get(key), str):
            return str(message[key])
    document = message.get("document")
    if isinstance(document, dict):
        name = document.get("file_name")
        return f"[document {name}]" if name else "[document]"
    if "photo" in message:
        return "[photo]"
    sticker = message.get("sticker")
    if isinstance(sticker, dict):
        return f"[sticker {sticker.get('emoji', '')}]".replace(" ]", "]")
    return ""
