"""A chat-like client for conversation tests: the real bot, polling the Bot API emulator.

::

    async with BotApiEmulator() as emu:
        app = harness_builder(emu).build()  # ApplicationBuilder preset for the emulator
        register_handlers(app)
        async with BotHarness(emu, app) as harness:
            ana = harness.user(first_name="Ana", language_code="fr")
            await ana.send("/start")
            assert "Bonjour" in ana.last_text()
            await ana.tap("Commencer")
            assert ana.buttons() == ["Oui", "Non"]

:class:`BotHarness` runs a PTB :class:`~telegram.ext.Application` exactly as ``run_polling``
does (initialize, post_init, start_polling, start; and the reverse on exit) against the
emulator. Every action (``send``, ``tap``...) pushes one update and returns once the bot has
finished it: the update went through ``process_update``, tasks started with
``application.create_task`` (non-blocking handlers, concurrent updates) are done, and no
request other than getUpdates is in flight. That needs the application to be a
:class:`TrackingApplication` (``harness_builder`` or
``ApplicationBuilder().application_class(TrackingApplication)``). Nothing sleeps a fixed time;
an action that does not settle within the timeout (10 s by default) fails with an
AssertionError that says where the update is stuck. Work the bot starts outside PTB's
``create_task`` (a bare ``asyncio.create_task``, a JobQueue job scheduled for later) is not
awaited: wait for its effect with ``emulator.wait_for``.

Errors raised by handlers are recorded in :attr:`BotHarness.errors`. When the application has
no error handler (PTB would only log them) they also fail the action, so a crashing handler is
never mistaken for a silent bot; ``raise_bot_errors`` forces either behaviour.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from tests.support.emulator import (
    PNG_1X1,
    BotApiEmulator,
    CallbackQueryRecord,
    StoredFile,
    StoredMessage,
    TgChat,
    TgUser,
    readable_text,
)

#: Bot API methods whose answer is a message the user now reads (sent or edited).
_MESSAGE_METHODS: Final = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageCaption"}
)
DEFAULT_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class BotError:
    """An exception a handler raised, with the update it was handling."""

    update: object
    error: BaseException


class TrackingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application that tells tests when it has finished an update.

    PTB's Application declares ``__slots__``; this subclass does not, so it gets a
    ``__dict__`` for its extra attributes. Build it with
    ``ApplicationBuilder().application_class(TrackingApplication)``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Ids of the updates ``process_update`` has returned from (handlers done or failed).
        self.finished_update_ids: set[int] = set()
        #: Errors handed to ``process_error``, in order.
        self.errors: list[BotError] = []
        self._tracked_tasks: set[asyncio.Task[Any]] = set()

    async def process_update(self, update: object) -> None:
        """Run PTB's processing, then record the update as finished (even if it failed)."""
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update):
                self.finished_update_ids.add(update.update_id)

    def create_task(
        self,
        coroutine: Any,
        update: object | None = None,
        *,
        name: str | None = None,
    ) -> asyncio.Task[Any]:
        """PTB's ``create_task``, remembering the task until it is done."""
        task = super().create_task(coroutine, update=update, name=name)
        self._tracked_tasks.add(task)
        task.add_done_callback(self._tracked_tasks.discard)
        return task

    async def process_error(
        self,
        update: object | None,
        error: Exception,
        job: Any = None,
        coroutine: Any = None,
    ) -> bool:
        """Record the error, then let PTB hand it to the error handlers."""
        self.errors.append(BotError(update=update, error=error))
        return await super().process_error(update, error, job=job, coroutine=coroutine)

    @property
    def pending_tasks(self) -> list[asyncio.Task[Any]]:
        """Tasks started through ``create_task`` that are not done yet."""
        return [task for task in self._tracked_tasks if not task.done()]


def tracking_application_class() -> type[TrackingApplication]:
    """The Application subclass the harness needs, for ``ApplicationBuilder.application_class``."""
    return TrackingApplication


def harness_builder(emulator: BotApiEmulator) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """An ApplicationBuilder aimed at the emulator (token, base URLs, TrackingApplication).

    Add what the bot needs (persistence, rate limiter, defaults...) and call ``build()``.
    """
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .application_class(TrackingApplication)
    )
    return builder


class BotHarness:
    """Runs an Application in polling mode against the emulator and hands out chat users.

    Args:
        emulator: A started :class:`BotApiEmulator`.
        application: Built with ``.base_url(emulator.base_url)`` and
            ``.application_class(TrackingApplication)`` (see :func:`harness_builder`).
        timeout: Seconds an action may take before the test fails.
        poll_timeout: The long-poll timeout given to ``start_polling``; stopping does not wait
            for it.
        allowed_updates: Passed to ``start_polling`` (None: Telegram's default types).
        raise_bot_errors: Fail an action when a handler raised. None (default): only when the
            application has no error handler.
        run_post_hooks: Call the application's post_init / post_stop / post_shutdown, as
            ``run_polling`` does.
    """

    def __init__(
        self,
        emulator: BotApiEmulator,
        application: Application[Any, Any, Any, Any, Any, Any],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        poll_timeout: float = 1.0,
        allowed_updates: Sequence[str] | None = None,
        raise_bot_errors: bool | None = None,
        run_post_hooks: bool = True,
    ) -> None:
        if not isinstance(application, TrackingApplication):
            raise TypeError(
                "BotHarness needs a TrackingApplication: build the application with "
                "harness_builder(emulator) or "
                "ApplicationBuilder().application_class(TrackingApplication)"
            )
        if application.updater is None:
            raise TypeError("BotHarness polls for updates: build the application with an Updater")
        self.emulator = emulator
        self.application: TrackingApplication = application
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self.allowed_updates = allowed_updates
        self.raise_bot_errors = raise_bot_errors
        self.run_post_hooks = run_post_hooks
        self._user_ids = itertools.count(1001)
        self._started = False

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Initialize and start the application and its polling, like ``run_polling``."""
        app = self.application
        updater = app.updater
        assert updater is not None
        await app.initialize()
        self._started = True
        try:
            if self.run_post_hooks and app.post_init:
                await app.post_init(app)
            await updater.start_polling(
                poll_interval=0,
                timeout=dtm.timedelta(seconds=self.poll_timeout),
                allowed_updates=self.allowed_updates,
                drop_pending_updates=False,
            )
            await app.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop polling and the application, then shut it down (idempotent)."""
        if not self._started:
            return
        self._started = False
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        if self.run_post_hooks and app.post_stop:
            await app.post_stop(app)
        await app.shutdown()
        if self.run_post_hooks and app.post_shutdown:
            await app.post_shutdown(app)

    async def __aenter__(self) -> BotHarness:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- users and raw updates -------------------------------------------------------------

    def user(
        self,
        id: int | None = None,
        first_name: str | None = None,
        language_code: str | None = "fr",
        username: str | None = None,
        last_name: str | None = None,
        chat: TgChat | None = None,
    ) -> ChatUser:
        """A user talking to the bot, in a private chat unless ``chat`` is given.

        Ids are allocated from 1001 when not given; the first name defaults to "User<id>".
        """
        user_id = id if id is not None else next(self._user_ids)
        tg_user = TgUser(
            id=user_id,
            first_name=first_name or f"User{user_id}",
            language_code=language_code,
            username=username,
            last_name=last_name,
        )
        return ChatUser(self, tg_user, chat or TgChat.private(tg_user))

    @property
    def errors(self) -> list[BotError]:
        """Every error a handler raised so far."""
        return list(self.application.errors)

    async def push(self, update: Mapping[str, Any]) -> int:
        """Push any update (see ``BotApiEmulator.push_update``), wait until the bot has
        finished it; return its id."""
        return await self.run_action(lambda: self.emulator.push_update(update), "push update")

    async def run_action(self, push: Callable[[], object], what: str) -> int:
        """Run ``push`` (which queues one update), then wait until the bot has finished it.

        Returns the update id. Raises AssertionError on timeout, and on handler errors (see
        ``raise_bot_errors``).
        """
        if not self._started:
            raise RuntimeError("the harness is not started: use 'async with BotHarness(...)'")
        errors_before = len(self.application.errors)
        push()
        update_id = self.emulator.last_update_id
        await self.settle(update_id, what=what)
        self._check_errors(errors_before, what)
        return update_id

    async def settle(
        self,
        update_id: int | None = None,
        *,
        what: str = "the last update",
        timeout: float | None = None,  # noqa: ASYNC109 (the deadline is part of the API)
    ) -> None:
        """Wait until update ``update_id`` (default: the last pushed) is finished, tracked
        tasks are done and no request is in flight.

        Raises:
            AssertionError: not settled within ``timeout`` (default: the harness timeout), or
                the application stopped.
        """
        target = update_id if update_id is not None else self.emulator.last_update_id
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        app = self.application
        while not self._settled(target):
            if not app.running or app.updater is None or not app.updater.running:
                raise AssertionError(f"the application stopped while handling {what}")
            if loop.time() >= deadline:
                raise AssertionError(self._stuck_report(target, what, limit))
            # The state spans PTB and the emulator, which have no common event: poll it.
            await asyncio.sleep(0.001)

    def _settled(self, update_id: int) -> bool:
        app = self.application
        return (
            update_id in app.finished_update_ids
            and not app.pending_tasks
            and self.emulator.in_flight == 0
        )

    def _stuck_report(self, update_id: int, what: str, limit: float) -> str:
        app = self.application
        emu = self.emulator
        if update_id in emu.pending_update_ids and update_id not in app.finished_update_ids:
            where = (
                "the update is still queued in the emulator (not confirmed by the bot: not "
                "fetched yet, or PTB could not parse it - see the log)"
            )
        elif update_id not in app.finished_update_ids:
            where = "the bot fetched the update but its handlers have not returned"
        else:
            where = "handlers returned but background work is still running"
        tasks = ", ".join(task.get_name() for task in app.pending_tasks) or "none"
        requests = ", ".join(call.method for call in emu.in_flight_calls) or "none"
        recent = ", ".join(f"{call.method}->{call.status or 'pending'}" for call in emu.calls[-8:])
        return (
            f"the bot did not finish {what} (update {update_id}) within {limit} s: {where}. "
            f"Pending tasks: {tasks}. Requests in flight: {requests}. Recent calls: {recent}."
        )

    def _check_errors(self, errors_before: int, what: str) -> None:
        new_errors = self.application.errors[errors_before:]
        if not new_errors:
            return
        should_raise = self.raise_bot_errors
        if should_raise is None:
            should_raise = not self.application.error_handlers
        if should_raise:
            first = new_errors[0].error
            raise AssertionError(
                f"the bot raised while handling {what}: {first!r}"
                + (f" (and {len(new_errors) - 1} more)" if len(new_errors) > 1 else "")
            ) from first


class ChatUser:
    """One user in one chat with the bot. Actions return the texts the bot sent or edited in
    answer (see :meth:`texts_since_last_send`)."""

    def __init__(self, harness: BotHarness, user: TgUser, chat: TgChat) -> None:
        self.harness = harness
        self.user = user
        self.chat = chat
        self._mark = harness.emulator.mark()
        self._used_one_time_keyboards: set[int] = set()

    @property
    def id(self) -> int:
        """The user's id."""
        return self.user.id

    @property
    def chat_id(self) -> int:
        """The chat's id (the user's id in a private chat)."""
        return self.chat.id

    @property
    def emulator(self) -> BotApiEmulator:
        """The emulator behind the harness."""
        return self.harness.emulator

    # ---- actions ---------------------------------------------------------------------------

    async def send(self, text: str) -> list[str]:
        """Send a text message (commands are just text: ``send("/start")``)."""
        return await self._act(
            lambda: self.emulator.push_message(self.user, text, chat=self.chat), f"{text!r}"
        )

    async def tap(self, label: str) -> list[str]:
        """Tap the button labelled ``label`` on the latest bot message that has a keyboard.

        An exact label wins; otherwise the one button whose label contains ``label`` (then
        case-insensitively). Inline callback buttons send a callback query; reply-keyboard
        buttons send their text.

        Raises:
            AssertionError: no keyboard, no or several matching buttons (the message lists the
                available ones), or a button that cannot be tapped in tests (url, web app...).
        """
        message = self._keyboard_message()
        if message is None:
            raise AssertionError(
                f"cannot tap {label!r}: no bot message with a keyboard in chat {self.chat_id}; "
                f"bot messages: {[m.readable for m in self.messages()][-3:]}"
            )
        buttons = message.button_objects()
        labels = [str(b.get("text", "")) for b in buttons]
        matches = [b for b in buttons if b.get("text") == label]
        if not matches:
            matches = [b for b in buttons if label in str(b.get("text", ""))]
        if not matches:
            matches = [b for b in buttons if label.casefold() in str(b.get("text", "")).casefold()]
        if len(matches) != 1:
            problem = "no button" if not matches else f"{len(matches)} buttons"
            raise AssertionError(
                f"{problem} matching {label!r} on message {message.message_id} "
                f"({message.readable!r}); available buttons: {labels}"
            )
        button = matches[0]
        if not message.has_inline_keyboard:
            if (message.reply_markup or {}).get("one_time_keyboard"):
                self._used_one_time_keyboards.add(message.message_id)
            return await self.send(str(button["text"]))
        if "callback_data" not in button:
            kind = next((k for k in button if k != "text"), "unknown")
            raise AssertionError(
                f"button {button['text']!r} is a {kind} button; only callback buttons can be "
                "tapped in tests"
            )
        return await self.tap_data(str(button["callback_data"]), message_id=message.message_id)

    async def tap_data(self, data: str, message_id: int | None = None) -> list[str]:
        """Send a callback query with ``data`` from bot message ``message_id`` (default: the
        latest bot message with an inline keyboard, else the latest bot message)."""
        if message_id is None:
            message = self._keyboard_message(inline_only=True) or self.last_message()
            message_id = message.message_id
        target = message_id
        return await self._act(
            lambda: self.emulator.push_callback(self.user, target, data, chat=self.chat),
            f"callback {data!r} on message {target}",
        )

    async def send_photo(self, data: bytes = PNG_1X1, caption: str | None = None) -> list[str]:
        """Send a photo (a 1x1 PNG by default)."""
        return await self._act(
            lambda: self.emulator.push_photo(self.user, data, caption=caption, chat=self.chat),
            "a photo",
        )

    async def send_document(
        self,
        filename: str,
        data: bytes,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> list[str]:
        """Send a document; the bot can download it through getFile."""
        return await self._act(
            lambda: self.emulator.push_document(
                self.user, filename, data, caption=caption, mime_type=mime_type, chat=self.chat
            ),
            f"document {filename!r}",
        )

    async def send_sticker(self, emoji: str = "👍") -> list[str]:
        """Send a sticker."""
        return await self._act(
            lambda: self.emulator.push_sticker(self.user, emoji, chat=self.chat), "a sticker"
        )

    async def edit(self, message_id: int, text: str) -> list[str]:
        """Edit one of this user's earlier text messages (an ``edited_message`` update)."""
        return await self._act(
            lambda: self.emulator.push_edited_message(self.user, message_id, text, self.chat),
            f"edit of message {message_id}",
        )

    async def _act(self, push: Callable[[], object], what: str) -> list[str]:
        self._mark = self.emulator.mark()
        await self.harness.run_action(push, f"{what} from user {self.id}")
        return self.texts_since_last_send()

    # ---- reading what the user sees --------------------------------------------------------

    def messages(self) -> list[StoredMessage]:
        """The bot's messages in this chat, in their current state, oldest first."""
        return self.emulator.messages(self.chat_id, from_bot=True)

    def last_message(self) -> StoredMessage:
        """The bot's latest message in this chat.

        Raises:
            AssertionError: the bot has sent nothing here.
        """
        messages = self.messages()
        if not messages:
            raise AssertionError(f"the bot has sent nothing in chat {self.chat_id}")
        return messages[-1]

    def last_text(self) -> str:
        """The current text (or caption, or placeholder) of the bot's latest message."""
        return self.last_message().readable

    def texts_since_last_send(self) -> list[str]:
        """What the bot sent or edited in this chat since this user's last action, in order:
        texts, captions, or placeholders such as ``[document report.pdf]`` (markup-only edits
        are left out)."""
        return [
            readable_text(call.result)
            for call in self.emulator.calls_since(self._mark)
            if call.ok
            and call.method in _MESSAGE_METHODS
            and isinstance(call.result, dict)
            and call.result.get("chat", {}).get("id") == self.chat_id
        ]

    def keyboard(self, message: StoredMessage | None = None) -> list[list[str]]:
        """Button labels row by row of ``message`` or else of the latest keyboard."""
        target = message if message is not None else self._keyboard_message()
        return target.keyboard() if target is not None else []

    def buttons(self, message: StoredMessage | None = None) -> list[str]:
        """Button labels (flattened) of ``message`` or else of the latest keyboard."""
        return [label for row in self.keyboard(message) for label in row]

    def documents(self) -> list[StoredFile]:
        """Documents the bot sent in this chat, oldest first."""
        return [m.document for m in self.messages() if m.document is not None]

    def last_document(self) -> StoredFile:
        """The latest document the bot sent here (``.filename``, ``.data``...).

        Raises:
            AssertionError: none was sent.
        """
        documents = self.documents()
        if not documents:
            raise AssertionError(f"the bot has sent no document in chat {self.chat_id}")
        return documents[-1]

    def last_callback(self) -> CallbackQueryRecord | None:
        """This user's latest callback query and how the bot answered it."""
        records = [
            r
            for r in self.emulator.callback_queries.values()
            if r.user_id == self.id and r.chat_id == self.chat_id
        ]
        return records[-1] if records else None

    def chat_actions(self) -> list[str]:
        """Chat actions (typing...) the bot sent here."""
        return self.emulator.chat_actions(self.chat_id)

    def _keyboard_message(self, *, inline_only: bool = False) -> StoredMessage | None:
        """The latest bot message whose keyboard the user still sees.

        Inline keyboards stay on their message. A reply keyboard is hidden by a later
        ``remove_keyboard`` markup, or once tapped if it is ``one_time_keyboard``.
        """
        reply_keyboard_visible = not inline_only
        for message in reversed(self.messages()):
            markup = message.reply_markup or {}
            if message.has_inline_keyboard:
                return message
            if markup.get("remove_keyboard"):
                reply_keyboard_visible = False
            elif reply_keyboard_visible and message.has_keyboard:
                if message.message_id in self._used_one_time_keyboards:
                    reply_keyboard_visible = False
                else:
                    return message
        return None
