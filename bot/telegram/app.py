"""Build the python-telegram-bot Application: handlers in order, one comment per block."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.advisors.service import Advisors
from bot.config import Settings
from bot.conversations import Conversations
from bot.dialogue.engine import Engine
from bot.export.pool import RenderPool
from bot.projects import Projects
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.service import Clock, Reminders, utc_now
from bot.storage.database import Storage
from bot.telegram import (
    advisor_handlers,
    export_handlers,
    handlers,
    once,
    partner_handlers,
    project_handlers,
    reminder_handlers,
)
from bot.telegram.lanes import PollingRequest, UpdateQueue, UserLanes
from bot.telegram.leanbot import LeanBot
from bot.telegram.limiter import SendLimiter, not_replying, replying
from bot.telegram.priority import Turns
from bot.telegram.reminder_views import make_renderer
from bot.telegram.retry import RetryingRequest
from bot.telegram.services import BotContext, Services, background_done

logger = logging.getLogger(__name__)

ENGINE_COMMANDS = ("help", "back", "skip", "summary", "edit", "restart")
MENU_COMMANDS = (
    "start",
    "help",
    "back",
    "skip",
    "summary",
    "edit",
    "restart",
    "language",
    "reminders",
    "timezone",
    "export",
    "projects",
    "new",
    "invite",
    "advisor",
    "mydata",
    "delete",
)


def build_application(
    settings: Settings,
    storage: Storage,
    engine: Engine,
    *,
    application_class: type[Application[Any, Any, Any, Any, Any, Any]] = Application,
    rate_limiter: bool | SendLimiter = True,
    clock: Clock = utc_now,
    dispatch_every: float | None = 5.0,
    renders: RenderPool | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The application, built but not started: tests drive it, `run` runs it.

    Its render pool (`bot_data["services"].renders`) starts worker processes on the first
    chart or PDF: whoever runs the application closes it (`close_renders`) once stopped.
    With `dispatch_every`, the reminder dispatcher's ticks (`bot_data["services"].ticks`) are
    started and stopped by whoever runs the application, with it (bot/telegram/runner.py).
    """
    queue = UpdateQueue(settings.updates_in_hand)
    # Sends paced under Telegram's limits, edits and button answers at once; 429s retried
    # (limiter.py). The reminder dispatcher paces through it too: one pacing layer.
    limiter = rate_limiter if isinstance(rate_limiter, SendLimiter) else SendLimiter()
    bot = LeanBot(
        settings.telegram_bot_token,
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_base_file_url,
        # Requests Telegram did not act on (502, 503, no connection) are sent again
        # (retry.py). getUpdates once the updates in hand are handled (or soon after,
        # lanes.py).
        request=RetryingRequest(),
        get_updates_request=PollingRequest(queue, connection_pool_size=1),
        rate_limiter=limiter if rate_limiter else None,  # type: ignore[arg-type]
    )
    builder = (
        ApplicationBuilder()
        .bot(bot)
        .context_types(ContextTypes(context=BotContext))
        .application_class(application_class)
        # Different users' updates side by side, each user's one at a time in order; the
        # poller waits while `updates_in_hand` are fetched and not handled, all that a crash
        # can lose (lanes.py, docs/reliability.md).
        .concurrent_updates(UserLanes())
        .update_queue(queue)
        .post_init(_post_init)
        # The reminder dispatcher ticks on a task of its own (Ticks), not on PTB's JobQueue.
        .job_queue(None)
    )
    app = builder.build()
    conversations = Conversations(
        storage,
        engine,
        default_lang=settings.default_language,
        default_tz=settings.default_timezone,
    )
    reminders = Reminders(storage, engine, hour=settings.reminder_hour, clock=clock)
    dispatcher = Dispatcher(
        storage,
        app.bot,
        make_renderer(storage, engine.dialogue),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        clock=clock,
        lease=timedelta(seconds=settings.reminder_lease_seconds),
        paced_by=limiter.chat_delay if rate_limiter else None,
    )
    app.bot_data["services"] = Services(
        settings=settings,
        conversations=conversations,
        reminders=reminders,
        dispatcher=dispatcher,
        renders=renders or RenderPool(workers=settings.render_workers or None),
        projects=Projects(
            conversations,
            conversations.partner_walks.engine,
            invitation_days=settings.invitation_days,
            clock=clock,
        ),
        advisors=Advisors(storage, clock=clock),
        # Due reminders: claimed from the database and sent every few seconds (bot/reminders/).
        ticks=None if dispatch_every is None else dispatcher.every(dispatch_every, first=1.0),
        turns=Turns(queue),
    )

    # What handlers send replies to the update: not held to the chat's pace (limiter.py);
    # first, the chat's earlier messages still on their way from a task (services.send_later).
    app.add_handler(TypeHandler(Update, _replying), group=once.BEFORE - 1)
    app.add_handler(TypeHandler(Update, _replied), group=once.AFTER + 1)
    # An update delivered again after a crash goes no further; the others are recorded once
    # handled (bot/telegram/once.py).
    app.add_handler(TypeHandler(Update, once.skip_handled), group=once.BEFORE)
    app.add_handler(TypeHandler(Update, once.record_handled), group=once.AFTER)
    # A private chat with a sender: Telegram always gives one, an update without is ignored.
    private = filters.ChatType.PRIVATE & filters.USER
    # Groups: a pointer to the private chat, nothing recorded.
    app.add_handler(MessageHandler(filters.ChatType.GROUPS, handlers.group))
    # Commands.
    app.add_handler(CommandHandler("start", handlers.start, filters=private))
    app.add_handler(CommandHandler("language", handlers.language, filters=private))
    app.add_handler(CommandHandler("mydata", handlers.mydata, filters=private))
    app.add_handler(CommandHandler("delete", handlers.delete, filters=private))
    app.add_handler(CommandHandler("reminders", reminder_handlers.list_reminders, filters=private))
    app.add_handler(CommandHandler("timezone", reminder_handlers.timezone, filters=private))
    app.add_handler(CommandHandler("export", export_handlers.export_menu, filters=private))
    app.add_handler(CommandHandler("projects", project_handlers.projects, filters=private))
    app.add_handler(CommandHandler("new", project_handlers.new, filters=private))
    app.add_handler(CommandHandler("invite", partner_handlers.invite, filters=private))
    app.add_handler(CommandHandler("advisor", advisor_handlers.advisor, filters=private))
    app.add_handler(CommandHandler(list(ENGINE_COMMANDS), handlers.command, filters=private))
    # Edited messages change nothing recorded.
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, handlers.edited))
    # Typed answers, then unknown commands, then anything else (photos, stickers, ...).
    typed = private & filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(typed & filters.TEXT & ~filters.COMMAND, handlers.text))
    app.add_handler(MessageHandler(typed & filters.TEXT & filters.COMMAND, handlers.command))
    app.add_handler(MessageHandler(typed, handlers.not_text))
    # Buttons.
    app.add_handler(CallbackQueryHandler(handlers.callback))
    # Everything that went wrong: logged, then an apology and the current question.
    app.add_error_handler(handlers.on_error)
    return app


async def _post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the command menu and the bot's descriptions in both languages."""
    services: Services = app.bot_data["services"]
    for lang in ("fr", "en"):
        texts = services.texts(lang)
        commands = [
            BotCommand(name, texts.ui(f"telegram.commands.{name}")) for name in MENU_COMMANDS
        ]
        code = None if lang == services.settings.default_language else lang
        for language_code in {code, lang}:
            await app.bot.set_my_commands(commands, language_code=language_code)
            await app.bot.set_my_description(
                texts.ui("telegram.description"), language_code=language_code
            )
            await app.bot.set_my_short_description(
                texts.ui("telegram.short_description"), language_code=language_code
            )
    logger.info("commands and descriptions registered")


async def _replying(update: Update, context: BotContext) -> None:
    await background_done(context)
    replying()


async def _replied(update: Update, context: BotContext) -> None:
    not_replying()


def close_renders(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop the application's chart and PDF workers, if any were started."""
    services: Services = app.bot_data["services"]
    services.renders.close()
