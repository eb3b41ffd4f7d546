"""Simulated managers: they read what the bot asks and answer it, through the emulator.

A manager pushes one update, then waits for the bot's *prompt*: the message that tells it what
to do next (the next question, or the same question refreshed after a tick). Each bot has its
own protocol (how to recognise a prompt, how to answer it): ours reads the question id from
the "Pourquoi ?" button and answers with the policy of bench/checklist.py, tapping a button
the prompt carries or typing; the ConversationHandler baseline reads "Question i/N"; the echo
bot's prompt is any reply.

Three ways to drive them: ``walk`` (closed loop: each manager answers as soon as its prompt
arrives; throughput), ``finish`` (every manager answers its last question; the completion's
cost), and ``open_loop`` (updates pushed at a fixed rate; latency).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.checklist import PlannedQuestion, button_value, is_typed, plan, real_dialogue
from bench.checklist import typed_answer as policy_text
from bench.emulator import BenchEmulator, quiet
from bench.procs import BenchError
from tests.support.emulator import TgUser

#: Seconds a manager waits for its prompt before the run is declared broken.
PROMPT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Prompt:
    """A message the bot sent or edited that asks something."""

    message_id: int
    text: str
    buttons: tuple[tuple[str, str], ...]  # (label, callback data)
    key: str  # what is asked: a question id, an index, a counter


@dataclass(frozen=True)
class Action:
    """What a manager sends: typed text, or a tap on a button of message ``message_id``."""

    text: str | None = None
    message_id: int = 0
    data: str | None = None


def _buttons(result: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(result, dict):
        return ()
    rows = (result.get("reply_markup") or {}).get("inline_keyboard") or []
    return tuple(
        (str(b.get("text", "")), str(b["callback_data"]))
        for row in rows
        for b in row
        if "callback_data" in b
    )


class Protocol:
    """How a manager talks to one kind of bot (one instance per manager)."""

    def start(self) -> Action:
        raise NotImplementedError

    def prompt(self, method: str, result: Any) -> Prompt | None:
        """The prompt this call carries, if it is one."""
        raise NotImplementedError

    def is_last(self, prompt: Prompt) -> bool:
        """Whether the prompt asks the last question (its answer finishes the checklist)."""
        raise NotImplementedError

    def answer(self, prompt: Prompt) -> Action:
        raise NotImplementedError

    def finished(self, method: str, result: Any) -> bool:
        """Whether this call is the last message the bot sends once the checklist is done."""
        raise NotImplementedError


def _tap(prompt: Prompt, data: str) -> Action:
    if data not in {d for _, d in prompt.buttons}:
        raise BenchError(f"no button {data!r} on the prompt: {prompt.buttons}")
    return Action(message_id=prompt.message_id, data=data)


class OursProtocol(Protocol):
    """alliance-bot: every question carries a "Pourquoi ?" button, callback data w|<question>."""

    def __init__(self) -> None:
        self.dialogue = real_dialogue()
        self.last = plan()[-1].id

    def start(self) -> Action:
        return Action(text="/start")

    def prompt(self, method: str, result: Any) -> Prompt | None:
        if method not in ("sendMessage", "editMessageText"):
            return None
        buttons = _buttons(result)
        qid = next((d[2:] for _, d in buttons if d.startswith("w|")), None)
        if qid is None:
            return None
        return Prompt(int(result["message_id"]), str(result.get("text", "")), buttons, qid)

    def is_last(self, prompt: Prompt) -> bool:
        return prompt.key == self.last

    def answer(self, prompt: Prompt) -> Action:
        question = self.dialogue.questions[prompt.key]
        if is_typed(question):
            return Action(text=policy_text(question))
        ticked = any(label.startswith("☑️") for label, _ in prompt.buttons)
        return _tap(prompt, f"a|{question.id}|{button_value(question, ticked)}")

    def finished(self, method: str, result: Any) -> bool:
        # The offer of reminders for the next steps closes the summary (reminder_handlers).
        return method == "sendMessage" and any(d == "p|all" for _, d in _buttons(result))


_QUESTION_RE = re.compile(r"Question (\d+)/(\d+)")


class ChecklistProtocol(Protocol):
    """The ConversationHandler baseline (bench/baselines/checklist.py)."""

    def __init__(self, questions: Sequence[PlannedQuestion]) -> None:
        self.codes = [q.code for q in questions]

    def start(self) -> Action:
        return Action(text="/start")

    def prompt(self, method: str, result: Any) -> Prompt | None:
        if method not in ("sendMessage", "editMessageReplyMarkup"):
            return None
        text = str(result.get("text", "")) if isinstance(result, dict) else ""
        match = _QUESTION_RE.match(text)
        if match is None:
            return None
        return Prompt(int(result["message_id"]), text, _buttons(result), match.group(1))

    def is_last(self, prompt: Prompt) -> bool:
        return int(prompt.key) == len(self.codes)

    def answer(self, prompt: Prompt) -> Action:
        index = int(prompt.key) - 1
        code = self.codes[index]
        kind = code[0]
        if kind == "t":
            return Action(text=f"Réponse « {index} » <ok> & co ✅")
        if kind == "d":
            return Action(text="15/03/2027")
        if kind == "n":
            return Action(text="4")
        if kind == "m":
            ticked = any(label.startswith("☑️") for label, _ in prompt.buttons)
            return _tap(prompt, f"{index}:ok" if ticked else f"{index}:0")
        if kind == "s":
            return _tap(prompt, f"{index}:3")
        return _tap(prompt, f"{index}:0")

    def finished(self, method: str, result: Any) -> bool:
        return (
            method == "sendMessage"
            and isinstance(result, dict)
            and str(result.get("text", "")).startswith("Merci")
        )


class EchoProtocol(Protocol):
    """The echo bot: as many plain messages as the checklist takes updates."""

    def __init__(self, updates: int) -> None:
        self.updates = updates  # prompts before the "last question"
        self.count = 0

    def start(self) -> Action:
        return Action(text="Bonjour")

    def prompt(self, method: str, result: Any) -> Prompt | None:
        if method != "sendMessage":
            return None
        self.count += 1
        return Prompt(int(result["message_id"]), str(result.get("text", "")), (), str(self.count))

    def is_last(self, prompt: Prompt) -> bool:
        return int(prompt.key) >= self.updates

    def answer(self, prompt: Prompt) -> Action:
        return Action(text=f"Réponse {prompt.key} <ok> & co ✅")

    def finished(self, method: str, result: Any) -> bool:
        return method == "sendMessage"


@dataclass
class Manager:
    """One simulated manager in a private chat with the bot."""

    emulator: BenchEmulator
    user: TgUser
    protocol: Protocol
    prompt: Prompt | None = None
    updates: int = 0
    latencies: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)  # when each of `latencies` was pushed
    done: bool = False  # the bot sent its last message (after the checklist was finished)
    _waiter: asyncio.Future[Prompt] | None = None
    _sent_at: float = 0.0
    _closing: bool = False

    def __post_init__(self) -> None:
        self.emulator.listeners[self.user.id] = self._on_call

    def _on_call(self, method: str, params: dict[str, Any], result: Any, arrived: float) -> None:
        if self._closing:
            if self.protocol.finished(method, result):
                self.done = True
            return
        prompt = self.protocol.prompt(method, result)
        if prompt is None:
            return
        self.prompt = prompt
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self.latencies.append(arrived - self._sent_at)
            self.sent.append(self._sent_at)
            waiter.set_result(prompt)

    def push(self, action: Action) -> asyncio.Future[Prompt]:
        """Send one update; the future resolves with the next prompt."""
        self._waiter = asyncio.get_running_loop().create_future()
        self.updates += 1
        self._sent_at = time.perf_counter()
        if action.data is not None:
            self.emulator.push_callback(self.user, action.message_id, action.data)
        else:
            assert action.text is not None
            self.emulator.push_message(self.user, action.text)
        return self._waiter

    async def act(self, action: Action) -> Prompt:
        try:
            return await asyncio.wait_for(self.push(action), PROMPT_TIMEOUT)
        except TimeoutError:
            raise BenchError(
                f"manager {self.user.id}: no prompt {PROMPT_TIMEOUT} s after update "
                f"{self.updates} ({action}); last prompt: {self.prompt}"
            ) from None

    async def walk(self, until: float | None = None) -> None:
        """From /start to the last question, answering each prompt as soon as it arrives;
        stop early once ``time.perf_counter()`` passes ``until``."""
        prompt = await self.act(self.protocol.start())
        while not self.protocol.is_last(prompt):
            if until is not None and time.perf_counter() > until:
                return
            prompt = await self.act(self.protocol.answer(prompt))

    def finish(self) -> None:
        """Answer the last question; ``done`` turns true with the bot's last message."""
        assert self.prompt is not None
        assert self.protocol.is_last(self.prompt)
        self._closing = True
        self.push(self.protocol.answer(self.prompt))


def managers(
    emulator: BenchEmulator, count: int, first_id: int, make: Any, lang: str = "fr"
) -> list[Manager]:
    return [
        Manager(emulator, TgUser(id=first_id + i, first_name=f"M{i}", language_code=lang), make())
        for i in range(count)
    ]


async def walk_all(group: Sequence[Manager], until: float | None = None) -> None:
    await asyncio.gather(*(m.walk(until) for m in group))


async def finish_all(
    group: Sequence[Manager],
    emulator: BenchEmulator,
    timeout: float,  # noqa: ASYNC109 (a run that hangs must fail, with what is missing)
    *,
    settle: bool = True,
) -> None:
    """Every manager answers its last question; return once the bot sent each its last message
    and then (`settle`) stayed quiet a moment: not under other users' load, which never lets
    it be quiet."""
    for manager in group:
        manager.finish()
    deadline = time.monotonic() + timeout
    while not all(m.done for m in group):
        if time.monotonic() > deadline:
            left = sum(not m.done for m in group)
            raise BenchError(f"{left} managers never got the end of their checklist")
        await asyncio.sleep(0.02)
    if settle:
        await quiet(emulator, 0.3)


async def export_pdfs(
    group: Sequence[Manager],
    emulator: BenchEmulator,
    timeout: float,  # noqa: ASYNC109 (a run that hangs must fail, with what is missing)
) -> None:
    """Each manager sends /export and taps the PDF button; return once every PDF arrived."""
    documents: set[int] = set()

    def listener(user: TgUser, method: str, params: Any, result: Any, arrived: float) -> None:
        if method == "sendMessage" and any(d == "e|pdf" for _, d in _buttons(result)):
            emulator.push_callback(user, int(result["message_id"]), "e|pdf")
        elif method == "sendDocument":
            documents.add(user.id)

    for manager in group:
        manager._closing = True  # its walk is over: the listener below takes its messages
        emulator.listeners[manager.user.id] = functools.partial(listener, manager.user)
        emulator.push_message(manager.user, "/export")
    deadline = time.monotonic() + timeout
    while len(documents) < len(group):
        if time.monotonic() > deadline:
            raise BenchError(f"{len(group) - len(documents)} PDFs never arrived")
        await asyncio.sleep(0.02)


async def open_loop(
    group: list[Manager],
    rate: float,
    duration: float,
    *,
    drain: float = 10.0,
    until: asyncio.Future[Any] | None = None,
    newcomer: Callable[[], Manager] | None = None,
) -> tuple[list[float], int]:
    """Push updates at ``rate`` per second for ``duration`` seconds (and, given ``until``, as
    long as it is not done), each from a manager whose previous reply has arrived (managers
    start at /start and stop before their last question). Given ``newcomer``, a manager who
    stops is replaced by a new one (appended to ``group``), so that the group never runs out,
    however long ``until`` takes.

    Returns the latencies (seconds, push to prompt) and how many pushes had to be skipped
    because no manager was ready (the bot fell behind, or the group ran out).

    The driver's garbage collector is paused meanwhile: a full collection of this process
    (the emulator, every manager) stopped it for 90 to 125 ms, during which no update was
    pushed and no reply recorded; the updates in flight were counted that much slower, and
    those due were then pushed all at once. That was the driver's pause, not the bot's.
    """
    collecting = gc.isenabled()
    gc.collect()  # what the runs before left, collected before the clock starts
    gc.disable()
    try:
        return await _open_loop(group, rate, duration, drain=drain, until=until, newcomer=newcomer)
    finally:
        if collecting:
            gc.enable()


async def _open_loop(
    group: list[Manager],
    rate: float,
    duration: float,
    *,
    drain: float,
    until: asyncio.Future[Any] | None,
    newcomer: Callable[[], Manager] | None,
) -> tuple[list[float], int]:
    ready: deque[Manager] = deque(group)
    pending: set[asyncio.Future[Prompt]] = set()
    skipped = 0
    failed: list[BaseException] = []  # raised in a callback: raised again by the loop below
    loop = asyncio.get_running_loop()

    def ready_again(manager: Manager, future: asyncio.Future[Prompt]) -> None:
        pending.discard(future)
        if future.cancelled():
            return
        if not manager.protocol.is_last(future.result()):
            ready.append(manager)
        elif newcomer is not None:
            try:
                fresh = newcomer()
            except BenchError as exc:
                failed.append(exc)
                return
            group.append(fresh)
            ready.append(fresh)

    start = loop.time()
    sent = 0
    while (now := loop.time()) - start < duration or (until is not None and not until.done()):
        if failed:
            raise failed[0]
        due = int((now - start) * rate) + 1
        while sent < due:
            sent += 1
            if not ready:
                skipped += 1
                continue
            manager = ready.popleft()
            action = (
                manager.protocol.answer(manager.prompt)
                if manager.prompt is not None
                else manager.protocol.start()
            )
            future = manager.push(action)
            pending.add(future)
            future.add_done_callback(functools.partial(ready_again, manager))
        await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
    if pending:
        _, late = await asyncio.wait(set(pending), timeout=drain)
        for future in late:
            future.cancel()
        if late:
            raise BenchError(f"{len(late)} replies still missing {drain} s after the load")
    latencies = [x for m in group for x in m.latencies]
    return latencies, skipped
