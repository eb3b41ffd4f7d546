"""What every handler needs, reached through a typed context instead of bot_data casts."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import CallbackContext, ExtBot

from bot.config import Settings
from bot.conversations import Conversations, Session
from bot.dialogue.model import Texts
from bot.export.pool import RenderPool
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.service import Reminders


@dataclass
class Services:
    settings: Settings
    conversations: Conversations
    reminders: Reminders
    dispatcher: Dispatcher
    renders: RenderPool  # charts and PDFs, drawn in worker processes

    def lang_for(self, update: Update) -> str:
        """A new user's language: French for fr*, English otherwise (Telegram's language_code)."""
        user = update.effective_user
        code = (user.language_code or "") if user else ""
        if not code:
            return self.settings.default_language
        return "fr" if code.lower().startswith("fr") else "en"

    def session(self, update: Update) -> Session:
        """The user's session, created on first contact."""
        assert update.effective_user is not None  # handlers only run for updates with a user
        key = f"tg:{update.effective_user.id}"
        return self.conversations.open(key, lang=self.lang_for(update))

    def texts(self, lang: str) -> Texts:
        return self.conversations.engine.texts(lang)


#: chat_data key: the chat's task still sending (charts and what follows them, a PDF).
BACKGROUND = "background"


def send_later(update: Update, context: BotContext, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run coroutine in a task of its own (other users' updates go on meanwhile; its errors
    reach the error handler); the chat's next update waits for it (app.py): one user's
    messages stay in order."""
    task = context.application.create_task(coroutine, update=update)
    if context.chat_data is not None:
        context.chat_data[BACKGROUND] = task


async def background_done(context: BotContext) -> None:
    """Wait until the chat's task started by send_later, if any, is over."""
    task = context.chat_data.get(BACKGROUND) if context.chat_data is not None else None
    if task is not None and not task.done():
        await asyncio.wait([task])


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context, with our services."""

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services
