"""What every handler needs, reached through a typed context instead of bot_data casts."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import CallbackContext, ExtBot

from bot.advisors.service import Advisors
from bot.config import Settings
from bot.conversations import Conversations, Session
from bot.dialogue.model import Texts
from bot.export.pool import RenderPool
from bot.projects import Comparison, Projects
from bot.reminders.dispatcher import Dispatcher, Ticks
from bot.reminders.service import Reminders
from bot.telegram.lanes import waiting_aside
from bot.telegram.priority import Turns
from bot.telegram.records import Records

# Updates in hand whose load is kept for their handlers; beyond this, the oldest are forgotten.
_LOADED_AT_MOST = 1024


@dataclass
class Loaded:
    """What the one read at the start of an update found (see bot/telegram/once.py)."""

    user_id: int | None
    session: Session | None
    processed: bool
    # The session's project compared, by (project, language, day): read once per update
    # (bot/telegram/partner_handlers.py, compared_for).
    compared: tuple[tuple[int, str, dt.date], Comparison | None] | None = None


@dataclass
class Services:
    settings: Settings
    conversations: Conversations
    reminders: Reminders
    dispatcher: Dispatcher
    renders: RenderPool  # charts and PDFs, drawn in worker processes
    projects: Projects
    advisors: Advisors  # what managers share with advisors (/advisor)
    # The dispatcher's ticks, started and stopped with the bot (None: ticked by the caller).
    ticks: Ticks | None = None
    # Heavy work (the end of a checklist, a PDF) after other users' updates (priority.py).
    turns: Turns = field(default_factory=Turns)
    # Handled updates recorded together, one transaction per turn of the loop (records.py).
    records: Records = field(init=False)
    _loaded: OrderedDict[int, Loaded] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.records = Records(self.conversations.storage)

    def lang_for(self, update: Update) -> str:
        """A new user's language: French for fr*, English otherwise (Telegram's language_code)."""
        user = update.effective_user
        code = (user.language_code or "") if user else ""
        if not code:
            return self.settings.default_language
        return "fr" if code.lower().startswith("fr") else "en"

    async def load(self, update: Update) -> Loaded:
        """Read, in one transaction, the sender, their conversation and answers, and whether the
        update was processed before; kept for the handlers until `forget`."""
        user = update.effective_user
        key = f"tg:{user.id}" if user is not None else ""
        snapshot = await self.conversations.storage.load(key, update.update_id)
        loaded = Loaded(
            snapshot.user.id if snapshot.user is not None else None,
            self.conversations.from_snapshot(snapshot),
            snapshot.processed,
        )
        self._loaded[update.update_id] = loaded
        while len(self._loaded) > _LOADED_AT_MOST:
            self._loaded.popitem(last=False)
        return loaded

    def loaded(self, update: Update) -> Loaded | None:
        return self._loaded.get(update.update_id)

    def forget(self, update: Update) -> None:
        self._loaded.pop(update.update_id, None)

    async def session(self, update: Update) -> Session:
        """The user's session (the one read at the start of the update, kept current by the
        handlers), created on first contact."""
        assert update.effective_user is not None  # handlers only run for updates with a user
        loaded = self._loaded.get(update.update_id)
        if loaded is not None and loaded.session is not None:
            return loaded.session
        key = f"tg:{update.effective_user.id}"
        # The update's read found no session: create it at once (open_user still finds a
        # user or conversation created meanwhile).
        session = await self.conversations.open(
            key, lang=self.lang_for(update), look=loaded is None
        )
        if loaded is not None:
            loaded.session, loaded.user_id = session, session.user.id
        return session

    def replace_session(self, update: Update, session: Session) -> None:
        """The handlers now work on another session (another project, a new walk): the rest
        of the update, and its record (once.record_handled), use it."""
        loaded = self._loaded.get(update.update_id)
        if loaded is None:
            loaded = Loaded(session.user.id, session, False)
            self._loaded[update.update_id] = loaded
        loaded.session, loaded.user_id = session, session.user.id

    def forget_session(self, update: Update) -> None:
        """The user has no session left (their last project deleted); the update is still
        recorded with them."""
        loaded = self._loaded.get(update.update_id)
        if loaded is not None:
            loaded.session = None

    def texts(self, lang: str) -> Texts:
        return self.conversations.engine.texts(lang)


#: chat_data key: the chat's task still sending (charts and what follows them, a PDF).
BACKGROUND = "background"


def send_later(update: Update, context: BotContext, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run coroutine in a task of its own (other users' updates go on meanwhile; its errors
    reach the error handler); the chat's next update waits for it (app.py): one user's
    messages stay in order."""
    task = context.application.create_task(coroutine, update=update)
    chat_data = context.chat_data
    if chat_data is not None:
        chat_data[BACKGROUND] = task
        # Once done, the chat no longer keeps it (nor the error it may hold, its traceback
        # and the locals of its frames): a chat keeps its task only while it runs.
        task.add_done_callback(functools.partial(_forget_background, chat_data))


def _forget_background(chat_data: dict[Any, Any], task: asyncio.Task[Any]) -> None:
    if chat_data.get(BACKGROUND) is task:
        del chat_data[BACKGROUND]


async def background_done(context: BotContext) -> None:
    """Wait until the chat's task started by send_later, if any, is over."""
    task = context.chat_data.get(BACKGROUND) if context.chat_data is not None else None
    if task is not None and not task.done():
        with waiting_aside(context.application):  # its PDF, say, in a render worker
            await asyncio.wait([task])


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context, with our services."""

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services
