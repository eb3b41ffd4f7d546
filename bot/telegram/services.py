"""What every handler needs, reached through a typed context instead of bot_data casts."""

from __future__ import annotations

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


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context, with our services."""

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services
