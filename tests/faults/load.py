"""The load: simulated managers walking the real checklist against a bot in another process.

Each manager is a coroutine in the test's event loop. It reads the question the bot last asked
in its chat (from the emulator), answers it the way a person would (typing, or tapping the
button the bot sent), and waits for the bot's reply. An answer is *acknowledged* when the bot
replied to it by asking the next question (or by the end-of-checklist message): that is what a
manager sees as "the bot got it", and what must then be in the database.

When the bot is killed, a manager waiting for a reply gets none: its last answer is *in doubt*
(it may have been committed before the kill, or lost with the process). It then does what a
person does: waits for the bot to come back, sends /start, and carries on from the question the
bot shows. That question is checked against the database: the answers recorded decide where
the walk stands, every acknowledged answer must be among them, and the question shown must be
the first one of the walk without an answer.

The emulator subclass below keeps, per chat, the messages the bot sent and edited, and wakes
that chat's manager only: a hundred managers polling the whole call log would cost more than
the bot under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.engine import CONFIRM, Engine
from bot.dialogue.model import DONE, Dialogue, Question
from bot.telegram.callbacks import CallbackKind, encode
from tests.support.blocking_storage import BlockingStorage
from tests.support.emulator import BotApiEmulator, JSONDict, TgUser, readable_text
from tests.telegram_chat import real_dialogue

#: Seconds a manager waits for a reply while the bot runs before the test calls it silence.
SILENCE = 45.0
_MESSAGE_METHODS = ("sendMessage", "editMessageText")


@dataclass
class BotMessage:
    """One message the bot sent (or edited) in a chat, as it read when it was sent."""

    method: str
    message_id: int
    text: str
    buttons: list[JSONDict]


@dataclass
class ChatLog:
    """The bot's messages in one chat, in order, and an event set when one is added."""

    entries: list[BotMessage] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)


class RecordingEmulator(BotApiEmulator):
    """The Bot API emulator, keeping a per-chat log of what the bot sent and edited."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chat_logs: dict[int, ChatLog] = {}
        #: (method, status) refusals the test expects (see tests/faults/conftest.py).
        self.expected_refusals: set[tuple[str, int]] = set()

    def chat_log(self, chat_id: int) -> ChatLog:
        return self.chat_logs.setdefault(chat_id, ChatLog())

    def wake_all(self) -> None:
        """Wake every waiting manager (the bot was killed: nobody will get a reply)."""
        for log in self.chat_logs.values():
            log.event.set()

    async def _dispatch(self, call: Any) -> Any:
        result = await super()._dispatch(call)
        if call.method in _MESSAGE_METHODS and isinstance(result, dict):
            log = self.chat_log(int(result["chat"]["id"]))
            markup = result.get("reply_markup") or {}
            buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
            log.entries.append(
                BotMessage(call.method, int(result["message_id"]), readable_text(result), buttons)
            )
            log.event.set()
        return result


@dataclass
class Figures:
    """What a load run did and found (summed over managers)."""

    managers: int = 0
    answers_sent: int = 0
    acknowledged: int = 0  # answers the bot replied to with the next question
    in_doubt: int = 0  # answers without a reply (the bot died), or "cannot record it now"
    in_doubt_recorded: int = 0  # ... found in the database at the restart
    in_doubt_lost: int = 0  # ... not recorded: the manager answered again
    resumes: int = 0  # /start after a silence, each checked against the database
    apologies: int = 0  # the bot's "sorry, something went wrong" messages received
    silences: int = 0  # waits ended by a kill with no reply
    finished: int = 0  # managers who reached the end of the checklist
    repeated: int = 0  # replies to a /start handled a second time after a restart
    checked: int = 0  # acknowledged answers found in the database at the end
    updates: int = 0  # updates the managers sent (answers, taps, /start)
    unhandled: int = 0  # ... never handled: taken by a bot that was killed before handling it

    def add(self, other: Figures) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Outcome:
    ACK = "ack"  # the next question (or the end) was shown
    REASK = "reask"  # the same question again, without an apology (input refused)
    APOLOGY = "apology"  # the bot apologised
    SILENT = "silent"  # the bot died before replying
    TICKED = "ticked"  # a multiple-choice tick was shown


@dataclass
class _Reply:
    outcome: str
    question: str | None = None  # the question now on screen
    message_id: int | None = None


class Fleet:
    """Managers answering the real checklist, and the bookkeeping of the bot's life.

    The test starts and kills the bot; it tells the fleet with `bot_up()` and `bot_down()`
    (call `bot_down()` *before* killing, so that no reply arriving afterwards counts).
    """

    def __init__(
        self,
        emulator: RecordingEmulator,
        database_url: str,
        *,
        managers: int,
        seed: int,
        first_user_id: int = 700_000,
        dialogue: Dialogue | None = None,
        think: tuple[float, float] = (0.0, 0.0),
        eager: float = 1.0,
        silence: float = SILENCE,
    ) -> None:
        """`think`: the seconds a manager takes to read a question and answer it (random in
        that range); `eager`: the share of managers who answer at once instead, so that some
        answers are always waiting for the bot when it is killed. `silence`: the seconds a
        manager waits for a reply from a running bot before the test fails."""
        self.emulator = emulator
        self.dialogue = dialogue or real_dialogue()
        self.engine = Engine(self.dialogue)
        self.database_url = database_url
        self.rng = random.Random(seed)
        self.seed = seed
        self.think = think
        self.silence = silence
        self.kills = 0
        self.stopping = False
        self.up = asyncio.Event()
        self.managers = [
            Manager(self, first_user_id + n, "fr" if n % 3 else "en", seed * 1000 + n)
            for n in range(managers)
        ]
        for n, manager in enumerate(self.managers):
            if n < round(eager * managers):
                manager.think = (0.0, 0.0)
        self.pushed: list[int] = []  # every update the managers sent, in order
        self._tasks: list[asyncio.Task[None]] = []
        self._storage: BlockingStorage | None = None

    # ---- the bot's life --------------------------------------------------------------------

    def bot_up(self) -> None:
        self.up.set()

    def bot_down(self) -> None:
        """The bot is about to die: waits for replies end as silences."""
        self.up.clear()
        self.kills += 1
        self.emulator.wake_all()
        # A tap the dead bot acknowledged but did not record is handled again after the
        # restart: its second acknowledgement is refused (the bot logs it and goes on).
        self.emulator.expected_refusals.add(("answerCallbackQuery", 400))

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.create_task(m.run(), name=f"manager {m.id}") for m in self.managers]

    async def stop(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Let each manager finish the step it is in, then stop them all."""
        self.stopping = True
        done, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a manager's AssertionError fails the test here
        if pending:
            raise AssertionError(f"{len(pending)} managers still busy {timeout} s after stop")

    def failures(self) -> list[BaseException]:
        """Exceptions of managers that already ended (checked while the run goes on)."""
        errors = [t.exception() for t in self._tasks if t.done() and not t.cancelled()]
        return [error for error in errors if error is not None]

    def check_running(self) -> None:
        errors = self.failures()
        if errors:
            raise errors[0]

    # ---- the database, as the test sees it -------------------------------------------------

    @property
    def storage(self) -> BlockingStorage:
        if self._storage is None:
            self._storage = BlockingStorage(self.database_url)
        return self._storage

    def close(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def recorded(self, user_id: int) -> tuple[str | None, dict[str, Any]]:
        """Where the user's walk stands in the database, and their current answers."""
        user = self.storage.get_user(f"tg:{user_id}")
        if user is None:
            return None, {}
        conversation = self.storage.active_conversation(user.id)
        if conversation is None:
            return None, {}
        return conversation.state.get("at"), self.storage.current_answers(conversation.id)

    def handled(self, update_id: int) -> bool:
        """Whether the bot recorded the update as handled."""
        return bool(self.storage.load("", update_id).processed)

    def expected_question(self, answers: dict[str, Any]) -> str:
        """The first question of the walk these answers lead to that has no answer."""
        for qid in self.engine.walker.path(answers):
            if qid not in answers:
                return qid
        return DONE

    def verify(self) -> Figures:
        """Every acknowledged answer of every manager is in the database (call with the bot
        stopped or idle); the figures of the whole run."""
        total = Figures()
        for manager in self.managers:
            _, answers = self.recorded(manager.id)
            for qid, value in manager.acked.items():
                manager.check_value(qid, value, answers, "at the end of the run")
                manager.figures.checked += 1
            total.add(manager.figures)
        total.managers = len(self.managers)
        total.updates = len(self.pushed)
        total.unhandled = sum(not self.handled(update_id) for update_id in self.pushed)
        return total


class Manager:
    """One simulated manager in a private chat with the bot."""

    def __init__(self, fleet: Fleet, user_id: int, lang: str, seed: int) -> None:
        self.fleet = fleet
        self.id = user_id
        self.lang = lang
        self.rng = random.Random(seed)
        self.user = TgUser(id=user_id, first_name=f"Manager{user_id}", language_code=lang)
        self.texts = fleet.dialogue.texts[lang]
        self.log = fleet.emulator.chat_log(user_id)
        self.figures = Figures()
        self.think = fleet.think
        self.acked: dict[str, Any] = {}  # question -> the value the bot acknowledged
        self.question: str | None = None  # the question on screen
        self.message_id: int | None = None  # ... and the message asking it
        self.finished = False
        self._in_doubt: tuple[str, Any] | None = None  # answered, the bot died before replying
        self._welcome = (self.texts.ui("welcome"), self.texts.ui("welcome_back"))
        self._apology = self.texts.ui("telegram.error")  # then the question again
        self._unavailable = self.texts.ui("telegram.unavailable")  # the database is away
        self._done = (self.texts.ui("done"), self.texts.ui("done_already"))

    # ---- the walk --------------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.think[1]))  # not all at once
        await self.resume(check=False)
        while not self.finished and not self.fleet.stopping:
            await asyncio.sleep(self.rng.uniform(*self.think))
            if self.fleet.stopping:
                break
            reply = await self.answer()
            if reply.outcome == Outcome.SILENT:
                await self.resume()
            elif reply.outcome == Outcome.APOLOGY and reply.question is None:
                # The bot could not even say where we were: come back a little later.
                await asyncio.sleep(0.5)
                await self.resume()

    async def resume(self, *, check: bool = True) -> None:
        """/start until the bot answers with the question where we stand; check it.

        A bot killed after handling updates it had not confirmed yet gets them again after its
        restart; it skips those it recorded as handled, but a kill between a reply and that
        record repeats the reply. So the answer to *this* /start is the last welcome and
        question the chat shows once the database records this /start as handled.
        """
        retries = 0
        while True:
            await self.fleet.up.wait()
            reply = await self._start()
            if reply.outcome == Outcome.SILENT:
                self.figures.silences += 1
                continue
            if reply.outcome == Outcome.APOLOGY:
                self.figures.apologies += 1
                await asyncio.sleep(min(2.0, 0.5 * 2**retries))  # the database is still away
                retries += 1
                continue
            break
        self.show(reply)
        if check:
            self.check_resume()

    async def _start(self) -> _Reply:
        """Send /start once; the question it shows (or an apology, or silence)."""
        start, kills = len(self.log.entries), self.fleet.kills
        update_id = self.fleet.emulator.push_message(self.user, "/start")
        self.fleet.pushed.append(update_id)
        seen_welcome = False
        latest: _Reply | None = None

        def decide(message: BotMessage) -> _Reply | None:
            nonlocal seen_welcome, latest
            if message.method != "sendMessage":
                return None
            if any(text in message.text for text in self._welcome):
                seen_welcome = True  # the question is in the same message, or comes next
            elif self._apology in message.text or self._unavailable in message.text:
                return _Reply(Outcome.APOLOGY)
            if not seen_welcome:
                return None
            if any(text in message.text for text in self._done):
                latest = _Reply(Outcome.ACK, DONE, message.message_id)
            else:
                qid = self.asked(message.text)
                if qid is None:
                    return None
                latest = _Reply(Outcome.ACK, qid, message.message_id)
            seen_welcome = False
            return None

        def handled() -> _Reply | None:
            if latest is None:
                return None
            # Without a kill, nothing is handled twice: the first answer is the one. (While the
            # database is away, the bot may fail to record a /start it answered.)
            if self.fleet.kills and not self.fleet.handled(update_id):
                return None
            return latest

        return await self.wait(start, kills, decide, "/start", poll=handled)

    def check_resume(self) -> None:
        """The question shown after a restart is where the database says the walk stands."""
        at, answers = self.fleet.recorded(self.id)
        self.figures.resumes += 1
        for qid, value in self.acked.items():
            self.check_value(qid, value, answers, "after a restart")
        assert self.question == at, (
            f"manager {self.id}: the bot shows {self.question} after a restart but the "
            f"database says {at}"
        )
        expected = self.fleet.expected_question(answers)
        assert self.question == expected, (
            f"manager {self.id}: resumed at {self.question}, but with the answers recorded "
            f"the walk stands at {expected}"
        )
        pending = self._in_doubt
        if pending is not None:
            qid, value = pending
            if qid in answers and _same(self.fleet.dialogue.questions[qid], answers[qid], value):
                self.figures.in_doubt_recorded += 1
                self.acked[qid] = value  # recorded: it now counts as acknowledged
            else:
                self.figures.in_doubt_lost += 1
            self._in_doubt = None

    def check_value(self, qid: str, value: Any, answers: dict[str, Any], when: str) -> None:
        assert qid in answers, (
            f"manager {self.id}: acknowledged answer to {qid} ({value!r}) missing {when}; "
            f"recorded: {sorted(answers)}"
        )
        question = self.fleet.dialogue.questions[qid]
        assert _same(question, answers[qid], value), (
            f"manager {self.id}: {qid} recorded as {answers[qid]!r}, acknowledged {value!r}"
        )

    async def answer(self) -> _Reply:
        """Answer the question on screen; the reply (next question, apology, silence...)."""
        assert self.question is not None
        assert self.question != DONE
        qid = self.question
        question = self.fleet.dialogue.questions[qid]
        value = self.choose(question)
        if question.type == "multi":
            # Ticks recorded before a restart are shown again; a person keeps them.
            value = [o for o in question.options if o in value or self._ticked(o)]
            for option in value:
                if self._ticked(option):
                    continue
                reply = await self.send(
                    qid, tap=encode(CallbackKind.ANSWER, qid, option), tick=True
                )
                if reply.outcome != Outcome.TICKED:
                    return self.after(reply, qid, value, tick=True)
            reply = await self.send(qid, tap=encode(CallbackKind.ANSWER, qid, CONFIRM))
        elif question.type in ("text", "date", "number"):
            reply = await self.send(qid, text=self._typed(question, value))
        else:
            reply = await self.send(qid, tap=encode(CallbackKind.ANSWER, qid, str(value)))
        return self.after(reply, qid, value)

    def after(self, reply: _Reply, qid: str, value: Any, *, tick: bool = False) -> _Reply:
        """Count the reply to an answer (or to a tick, which is no answer yet)."""
        self.figures.answers_sent += not tick
        if reply.outcome == Outcome.ACK:
            self.figures.acknowledged += 1
            self.acked[qid] = value
        elif reply.outcome == Outcome.SILENT:
            self.figures.silences += 1
            if not tick:
                self.figures.in_doubt += 1
                self._in_doubt = (qid, value)
        elif reply.outcome == Outcome.APOLOGY:
            self.figures.apologies += 1
            if reply.question is None and not tick:
                self.figures.in_doubt += 1
                self._in_doubt = (qid, value)  # most likely not recorded; the restart tells
        elif reply.outcome == Outcome.REASK:
            raise AssertionError(
                f"manager {self.id}: the bot refused {value!r} for {qid}: "
                f"{self.log.entries[-1].text[:300]}"
            )
        self.show(reply)
        return reply

    def show(self, reply: _Reply) -> None:
        """Remember what is on screen now."""
        if reply.question is None:
            return
        if reply.question == DONE:
            self.finished = True
            self.figures.finished += 1
            self.question, self.message_id = DONE, reply.message_id
            return
        self.question, self.message_id = reply.question, reply.message_id

    async def send(
        self, qid: str, *, text: str | None = None, tap: str | None = None, tick: bool = False
    ) -> _Reply:
        """Type text or tap a button of the question's message, and wait for the reply."""
        emulator = self.fleet.emulator
        start, kills = len(self.log.entries), self.fleet.kills
        if tap is not None:
            assert self.message_id is not None
            data = [b.get("callback_data") for b in self._buttons()]
            assert tap in data, f"manager {self.id}: no button {tap!r} on {qid}: {data}"
            emulator.push_callback(self.user, self.message_id, tap)
            self.fleet.pushed.append(emulator.last_update_id)
        else:
            assert text is not None
            self.fleet.pushed.append(emulator.push_message(self.user, text))
        apologised = repeated = False

        def decide(message: BotMessage) -> _Reply | None:
            nonlocal apologised, repeated
            if tick and message.method == "editMessageText":
                if message.message_id == self.message_id:
                    return _Reply(Outcome.TICKED, qid, self.message_id)
                return None
            if message.method != "sendMessage":
                return None
            if any(text in message.text for text in self._welcome):
                repeated = True  # a /start handled again after a restart: not our reply
                return None
            if self._unavailable in message.text:
                return _Reply(Outcome.APOLOGY)  # no question follows: send it again later
            if self._apology in message.text:
                apologised = True
                return None  # the question follows
            if any(done in message.text for done in self._done):
                return _Reply(Outcome.ACK, DONE, message.message_id)
            asked = self.asked(message.text)
            if asked is None:
                return None
            if repeated:
                repeated = False
                self.figures.repeated += 1
                return None
            if apologised:
                return _Reply(Outcome.APOLOGY, asked, message.message_id)
            outcome = Outcome.REASK if asked == qid else Outcome.ACK
            return _Reply(outcome, asked, message.message_id)

        reply = await self.wait(start, kills, decide, f"the answer to {qid}")
        if reply.outcome == Outcome.SILENT and apologised:
            return _Reply(Outcome.APOLOGY)
        return reply

    async def wait(
        self,
        start: int,
        kills: int,
        decide: Callable[[BotMessage], _Reply | None],
        what: str,
        *,
        poll: Callable[[], _Reply | None] | None = None,
    ) -> _Reply:
        """Read the chat from `start` until decide() (or, between messages, poll()) says what
        happened, or the bot died."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.fleet.silence
        index = start
        while True:
            while index < len(self.log.entries):
                reply = decide(self.log.entries[index])
                index += 1
                if reply is not None:
                    return reply
            if self.fleet.kills != kills:
                return _Reply(Outcome.SILENT)
            reply = poll() if poll is not None else None
            if reply is not None:
                return reply
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"manager {self.id}: no reply to {what} within {self.fleet.silence} s while "
                    "the bot "
                    f"runs (kills {kills}, now {self.fleet.kills}; messages {start} -> "
                    f"{len(self.log.entries)}); last messages: "
                    f"{[(m.method, m.text[:60]) for m in self.log.entries[-4:]]}"
                )
            self.log.event.clear()
            with contextlib.suppress(TimeoutError):
                # poll() reads the database: look again now and then, even without a message.
                await asyncio.wait_for(
                    self.log.event.wait(), remaining if poll is None else min(remaining, 0.1)
                )

    # ---- reading and answering like a person -----------------------------------------------

    def asked(self, text: str) -> str | None:
        """The question a message asks, if any (the longest question text it contains)."""
        found = [qid for qid in self.fleet.dialogue.questions if self.texts.question(qid) in text]
        return max(found, key=lambda qid: len(self.texts.question(qid))) if found else None

    def _buttons(self) -> list[JSONDict]:
        assert self.message_id is not None
        message = self.fleet.emulator.message(self.id, self.message_id)
        return message.button_objects()

    def _ticked(self, option: str) -> bool:
        """Whether the question's message shows this option ticked (a tick that was recorded
        before a restart is shown again)."""
        data = encode(CallbackKind.ANSWER, self.question or "", option)
        return any(
            b.get("callback_data") == data and str(b.get("text", "")).startswith("☑")
            for b in self._buttons()
        )

    def choose(self, question: Question) -> Any:
        """The value this manager gives (what the database must hold once acknowledged)."""
        if question.type == "text":
            text = f"M{self.id} {question.id} <ok> & co ✅"
            return text[: question.max_length]
        if question.type == "date":  # in the order of the manager's language
            return "15/03/2027" if self.lang == "fr" else "03/15/2027"
        if question.type == "number":
            low = question.minimum if question.minimum is not None else 0
            high = question.maximum if question.maximum is not None else 10
            return max(low, min(4, high))
        if question.type == "multi":
            allowed = [o for o in question.options if o not in question.exclusive]
            count = 1 if len(allowed) < 2 else self.rng.choice((1, 2))
            picked = set(self.rng.sample(allowed, count))
            return [o for o in question.options if o in picked]
        if question.type == "scale":
            return int(self.rng.choice(question.choices))
        if question.type == "yesno":
            return self.rng.choice(("yes", "no"))
        return self.rng.choice(question.options)

    @staticmethod
    def _typed(question: Question, value: Any) -> str:
        return str(value)


def _same(question: Question, recorded: Any, given: Any) -> bool:
    """Whether the recorded value is the one given (dates are stored in ISO form)."""
    if question.type == "date":
        return str(recorded) == dt.date(2027, 3, 15).isoformat()
    if question.type == "multi":
        return isinstance(recorded, list) and set(recorded) == set(given)
    if question.type in ("scale", "number"):
        return recorded == given
    return bool(recorded == given)
