"""The usual way: a checklist built as PTB's examples build one.

ConversationHandler with one state per question, PicklePersistence (flushed every 60 s, PTB's
default), inline keyboards for choices, the tapped question edited in place to show the answer,
typed answers checked with a couple of lines. It keeps the answers in ``user_data`` and writes
nothing else: this is what "committing nothing for up to 60 s" costs.

The questions come from ``BENCH_CHECKLIST``, one code per question, comma-separated, so the
baseline asks the same number of questions of the same kinds as our checklist (the benchmark
driver writes it from the real dialogue, see bench/checklist.py): ``t`` text, ``d`` date,
``n`` number, ``c<N>`` choice among N, ``y<N>`` yes/no(/not yet), ``s<N>`` scale, ``m<N>``
multiple choice (ticks edited in place, then "Valider").

``BENCH_RATE_LIMITER=1`` ships it as the usual way ships a bot that must respect Telegram's
limits: with PTB's own ``AIORateLimiter``, its defaults (30 requests a second overall, 20 a
minute per group; every request that names a chat counts, edits included) but for
``max_retries``: 3, as the bot's own limiter, where the default 0 loses the reply a 429 refuses
(against the benchmark's emulator, which refuses beyond exactly 30 messages a second, a run
stopped so on a manager who never got its first question).
"""

import datetime as dt
import logging
import os
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

QUESTIONS = [(code[0], int(code[1:] or 0)) for code in os.environ["BENCH_CHECKLIST"].split(",")]
TEXT = (
    "Quel est aujourd'hui le principal objectif de cette alliance pour votre entreprise, et "
    "comment saurez-vous dans un an qu'il est atteint ?"
)
YES_NO = ["Oui", "Non", "Pas encore"]


def label(kind: str, option: int) -> str:
    if kind == "y":
        return YES_NO[option]
    if kind == "s":
        return str(option + 1)
    return f"Option {option + 1}"


def keyboard(index: int, ticked: frozenset[int] = frozenset()) -> InlineKeyboardMarkup | None:
    kind, count = QUESTIONS[index]
    if kind in "tdn":
        return None
    buttons = [
        InlineKeyboardButton(
            ("☑️ " if i in ticked else "▫️ ") + label(kind, i) if kind == "m" else label(kind, i),
            callback_data=f"{index}:{i}",
        )
        for i in range(count)
    ]
    if kind == "m":
        rows = [[button] for button in buttons]
        rows.append([InlineKeyboardButton("Valider", callback_data=f"{index}:ok")])
    elif kind in "ys":
        rows = [buttons]
    else:
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(rows)


def question(index: int) -> str:
    return f"Question {index + 1}/{len(QUESTIONS)}\n\n{TEXT}"


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, index: int) -> int:
    """Send question `index` (or the summary after the last one); return the next state."""
    assert update.effective_chat is not None
    if index == len(QUESTIONS):
        answers = context.user_data["answers"]  # type: ignore[index]
        lines = [f"{i + 1}. {answers[i]}" for i in sorted(answers)]
        await context.bot.send_message(update.effective_chat.id, "Merci !\n" + "\n".join(lines))
        return ConversationHandler.END
    await context.bot.send_message(
        update.effective_chat.id, question(index), reply_markup=keyboard(index)
    )
    return index


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert context.user_data is not None
    context.user_data["answers"] = {}
    context.user_data["ticked"] = frozenset()
    return await ask(update, context, 0)


def typed(index: int):
    """The handler of typed question `index` (one per state, as the examples write them)."""

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        assert update.message.text is not None
        assert context.user_data is not None
        kind, _ = QUESTIONS[index]
        text = update.message.text.strip()
        try:
            if kind == "d":
                text = dt.datetime.strptime(text, "%d/%m/%Y").date().isoformat()
            elif kind == "n":
                text = str(int(text))
        except ValueError:
            await update.message.reply_text("Je n'ai pas compris, pouvez-vous reformuler ?")
            return index
        context.user_data["answers"][index] = text
        return await ask(update, context, index + 1)

    return answer


async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None
    assert query.data is not None
    assert context.user_data is not None
    await query.answer()
    index_text, value = query.data.split(":")
    index = int(index_text)
    kind, _ = QUESTIONS[index]
    if kind == "m" and value != "ok":
        ticked = context.user_data["ticked"] ^ {int(value)}
        context.user_data["ticked"] = ticked
        await query.edit_message_reply_markup(keyboard(index, ticked))
        return index
    if kind == "m":
        shown = ", ".join(label(kind, i) for i in sorted(context.user_data["ticked"]))
        context.user_data["ticked"] = frozenset()
    else:
        shown = label(kind, int(value))
    context.user_data["answers"][index] = shown
    await query.edit_message_text(f"{question(index)}\n\n✅ {shown}")
    return await ask(update, context, index + 1)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    await update.message.reply_text("Au revoir.")
    return ConversationHandler.END


def main() -> None:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    persistence = PicklePersistence(filepath=os.environ["BENCH_PICKLE"])
    builder = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .persistence(persistence)
    )
    if os.environ.get("BENCH_RATE_LIMITER") == "1":
        # PTB types the builder's limiter by its rate_limit_args; AIORateLimiter's are an int.
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    application = builder.build()
    states: dict[object, list[BaseHandler[Update, Any, Any]]] = {
        index: [
            MessageHandler(filters.TEXT & ~filters.COMMAND, typed(index))
            if kind in "tdn"
            else CallbackQueryHandler(tapped, pattern=f"^{index}:")
        ]
        for index, (kind, _) in enumerate(QUESTIONS)
    }
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states=states,
            fallbacks=[CommandHandler("cancel", cancel)],
            name="checklist",
            persistent=True,
        )
    )
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
