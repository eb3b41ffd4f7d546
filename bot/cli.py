"""The `alliance-bot` command: run the bot, chat in a terminal, check dialogues, and more."""

from __future__ import annotations

import asyncio
import datetime
import gc
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.errors import AllianceBotError, DialogueError

if TYPE_CHECKING:
    import argparse

    from bot.config import Settings
    from bot.storage.database import Storage


def build_parser() -> argparse.ArgumentParser:
    import argparse  # not for the bot's own start (see main)

    parser = argparse.ArgumentParser(
        prog="alliance-bot",
        description="A Telegram bot that coaches a manager through a business alliance.",
    )
    parser.add_argument("--version", action="version", version=f"alliance-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the Telegram bot (polling by default)")
    run.add_argument("--webhook", action="store_true", help="webhook mode (WEBHOOK_URL/SECRET)")

    chat = commands.add_parser("chat", help="the whole checklist in this terminal")
    chat.add_argument("--lang", choices=("fr", "en"), help="language (default: the user's)")
    chat.add_argument("--user", help="whose conversation (default: your login name)")
    chat.add_argument("--database", help="database URL (default: DATABASE_URL or the SQLite file)")

    export = commands.add_parser("export", help="a user's report, calendar or data as a file")
    export.add_argument("--user", required=True, help="Telegram user id, or a chat --user name")
    export.add_argument("--format", required=True, choices=("pdf", "md", "json", "ics"))
    export.add_argument("--out", required=True, help="the file to write")
    export.add_argument("--database", help="database URL (default: DATABASE_URL)")

    reminders = commands.add_parser("reminders", help="pending reminders, for operators")
    reminders.add_argument("--json", action="store_true", help="JSON instead of a table")
    reminders.add_argument("--database", help="database URL (default: DATABASE_URL)")

    web = commands.add_parser("web", help="the advisors' web view alone (WEB_LISTEN, WEB_PORT)")
    web.add_argument("--database", help="database URL (default: DATABASE_URL)")

    advisor = commands.add_parser("advisor", help="advisors of the web view: add, link, remove")
    actions = advisor.add_subparsers(dest="action", metavar="ACTION", required=True)
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--database", help="database URL (default: DATABASE_URL)")
    add = actions.add_parser(
        "add", parents=[database], help="create an advisor and print their login link"
    )
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="also sees analytics over everyone")
    add.add_argument("--lang", choices=("fr", "en"), help="their pages' language")
    link = actions.add_parser(
        "link", parents=[database], help="print a new one-time login link for an advisor"
    )
    link.add_argument("name")
    remove = actions.add_parser(
        "remove", parents=[database], help="remove an advisor, their shares and notes"
    )
    remove.add_argument("name")
    actions.add_parser("list", parents=[database], help="the advisors, their codes and roles")

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database", help="database URL (default: DATABASE_URL)")

    validate = commands.add_parser("validate", help="check the dialogue files")
    validate.add_argument("path", nargs="?", help="the dialogues folder (default: DIALOGUES_DIR)")

    graph = commands.add_parser("graph", help="the dialogue's flow as a Mermaid diagram")
    graph.add_argument("--out", help="write docs/dialogue.md-style Markdown to this file")
    graph.add_argument("--path", help="the dialogues folder (default: DIALOGUES_DIR)")
    return parser


#: `alliance-bot run` as a service starts it: handled without argparse (see main).
_PLAIN_RUNS = {("run",): False, ("run", "--webhook"): True}


def main(argv: Sequence[str] | None = None) -> int:
    words = tuple(sys.argv[1:] if argv is None else argv)
    if words in _PLAIN_RUNS:
        # The bot's own start: argparse and the parsers of every command would stay in the
        # running bot's memory (its idle RSS 0.44 MiB higher, bench.update_cost's runs).
        webhook = _PLAIN_RUNS[words]
        return _handled(lambda: _start(webhook=webhook))
    parser = build_parser()
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return 0
    handler = {
        "run": _run,
        "chat": _chat,
        "export": _export,
        "reminders": _reminders,
        "migrate": _migrate,
        "web": _web,
        "advisor": _advisor,
        "validate": _validate,
        "graph": _graph,
    }[args.command]
    return _handled(lambda: handler(args))


def _handled(command: Callable[[], int]) -> int:
    try:
        return command()
    except AllianceBotError as exc:
        print(f"alliance-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _settings() -> Settings:
    from bot.config import load_settings

    return load_settings(require_token=False)


def _run(args: argparse.Namespace) -> int:
    return _start(webhook=args.webhook)


def _start(*, webhook: bool) -> int:
    # Start-up makes what lives as long as the process (modules, the dialogue, the handlers):
    # the collector's passes go through it again and again while it is made, about a seventh
    # of start-up's CPU. Paused, it resumes once the bot is started, with one full collection
    # (bot/telegram/runner.py, settle_memory), or here if the bot stops before.
    gc.disable()
    try:
        from bot.config import load_settings
        from bot.telegram.runner import run

        settings = load_settings()
        if webhook:
            settings = settings.enable_webhook()
        return run(settings)
    finally:
        gc.enable()


def _export(args: argparse.Namespace) -> int:
    return asyncio.run(_export_async(args))


async def _export_async(args: argparse.Namespace) -> int:
    from bot.conversations import Conversations
    from bot.dialogue.engine import Engine
    from bot.dialogue.loader import load_dialogue
    from bot.export import export
    from bot.reminders.service import Reminders
    from bot.storage.factory import open_storage

    settings = _settings()
    engine = Engine(load_dialogue(settings.dialogues_dir))
    storage = open_storage(args.database or settings.database_url)
    try:
        await storage.migrate()
        keys = [f"tg:{args.user}", f"cli:{args.user}"] if args.user.isdigit() else []
        keys.append(args.user if ":" in args.user else f"cli:{args.user}")
        user = None
        for key in keys:
            user = await storage.get_user(key)
            if user is not None:
                break
        if user is None:
            print(f"alliance-bot: no user '{args.user}' in this database", file=sys.stderr)
            return 1
        conversations = Conversations(storage, engine, default_lang=user.lang, default_tz=user.tz)
        reminders = Reminders(storage, engine, hour=settings.reminder_hour)
        session = await conversations.find(user.key)
        pending = await reminders.for_export(session) if session is not None else []
        _, data = await export(
            args.format,
            storage=storage,
            engine=engine,
            user=user,
            today=reminders.today(user),
            reminders=pending,
        )
        await asyncio.to_thread(Path(args.out).write_bytes, data)
        print(f"{args.out}: {len(data)} bytes")
        return 0
    finally:
        await storage.close()


def _reminders(args: argparse.Namespace) -> int:
    from bot.reminders.operators import main as report

    async def run() -> int:
        storage = await _migrated(args.database or _settings().database_url)
        try:
            return await report(args.json, storage)
        finally:
            await storage.close()

    return asyncio.run(run())


def _web(args: argparse.Namespace) -> int:
    import dataclasses

    from bot.web.server import run

    settings = _settings()
    if args.database:
        settings = dataclasses.replace(settings, database_url=args.database)
    return run(settings)


def _advisor(args: argparse.Namespace) -> int:
    from bot.advisors.service import AdvisorError, Advisors

    settings = _settings()

    async def run() -> int:
        storage = await _migrated(args.database or settings.database_url)
        advisors = Advisors(storage)
        try:
            if args.action == "add":
                lang = args.lang or settings.default_language
                advisor, token = await advisors.add(args.name, lang=lang, admin=args.admin)
                role = " (admin)" if advisor.admin else ""
                print(f"Advisor {advisor.name}{role} added; their code is {advisor.code}.")
                _print_link(settings.web_base_url, token, advisors.login_ttl)
            elif args.action == "link":
                advisor, token = await advisors.link(args.name)
                _print_link(settings.web_base_url, token, advisors.login_ttl)
            elif args.action == "remove":
                await advisors.remove(args.name)
                print(f"Advisor {args.name} removed, with their sessions, shares and notes.")
            else:
                for advisor in await storage.list_advisors():
                    role = "admin" if advisor.admin else "advisor"
                    print(f"{advisor.name}\t{advisor.code}\t{role}\t{advisor.lang}")
        except AdvisorError as exc:
            print(f"alliance-bot: {exc}", file=sys.stderr)
            return 1
        finally:
            await storage.close()
        return 0

    return asyncio.run(run())


def _print_link(base_url: str, token: str, valid: datetime.timedelta) -> None:
    """The one-time login link, on standard output only (never logged)."""
    hours = int(valid.total_seconds() // 3600)
    print(f"One-time login link (valid {hours} hours, until it is used):")
    print(f"{base_url}/login/{token}")


def _migrate(args: argparse.Namespace) -> int:
    async def run() -> int:
        storage = await _migrated(args.database or _settings().database_url)
        try:
            revision = await storage.schema_revision()
            print(f"alliance-bot: the database schema is at revision {revision}")
        finally:
            await storage.close()
        return 0

    return asyncio.run(run())


async def _migrated(database_url: str) -> Storage:
    """The storage database_url names, its schema brought up to date."""
    from bot.storage.factory import open_storage

    storage = open_storage(database_url)
    try:
        await storage.migrate()
    except BaseException:
        await storage.close()
        raise
    return storage


def _validate(args: argparse.Namespace) -> int:
    from bot.dialogue.loader import load_dialogue

    folder = Path(args.path) if args.path else _settings().dialogues_dir
    try:
        dialogue = load_dialogue(folder)
    except DialogueError as exc:
        print(f"Invalid dialogue: {exc}", file=sys.stderr)
        return 1
    count = len(dialogue.questions)
    print(f"OK: {folder} — {len(dialogue.stages)} stages, {count} questions, languages fr and en.")
    return 0


def _graph(args: argparse.Namespace) -> int:
    from bot.dialogue.graph import dialogue_doc, mermaid
    from bot.dialogue.loader import load_dialogue

    dialogue = load_dialogue(Path(args.path) if args.path else _settings().dialogues_dir)
    if args.out:
        Path(args.out).write_text(dialogue_doc(dialogue), encoding="utf-8")
    else:
        sys.stdout.write(mermaid(dialogue))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.conversations import Conversations
    from bot.dialogue.engine import Engine
    from bot.dialogue.loader import load_dialogue
    from bot.reminders.service import Reminders
    from bot.terminal import TerminalChat

    settings = _settings()
    engine = Engine(load_dialogue(settings.dialogues_dir))

    async def run() -> int:
        storage = await _migrated(args.database or settings.database_url)
        try:
            conversations = Conversations(
                storage,
                engine,
                default_lang=args.lang or settings.default_language,
                default_tz=settings.default_timezone,
            )
            user = args.user or os.environ.get("USER") or getpass.getuser() or "local"
            chat = TerminalChat(
                conversations,
                f"cli:{user}",
                lang=args.lang,
                read_line=_read_stdin_line,
                out=sys.stdout,
                reminders=Reminders(storage, engine, hour=settings.reminder_hour),
            )
            # A terminal marks pasted text (bracketed paste), so a pasted block is one answer.
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
            if interactive:
                sys.stdout.write("\x1b[?2004h")
            try:
                return await chat.run()
            finally:
                if interactive:
                    sys.stdout.write("\x1b[?2004l")
        finally:
            await storage.close()

    return asyncio.run(run())


def _read_stdin_line() -> str | None:
    line = sys.stdin.readline()
    return line if line else None


if __name__ == "__main__":
    sys.exit(main())
