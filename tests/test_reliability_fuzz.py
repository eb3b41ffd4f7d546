"""Property-based fuzzing of what users send.

Two levels. The dialogue engine directly (fast: many examples, long walks), on the mini
dialogue and on the real checklist. Then the whole Telegram application, through its webhook
server and the Bot API emulator (fewer examples): Bot API update dicts, sound or odd, posted as
Telegram would. Invariants after every input: no exception (no error reaches PTB's error
handler, no 5xx from the webhook), the conversation state is a question or done, and every
stored answer is valid for its question (type, options, bounds); every Bot API call the bot
makes is accepted by the emulator (tests/limits_fixtures.py checks it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue.engine import Engine, State
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.views import Answered, Ask, Menu, Say, ShowSummary
from tests.dialogue_fixtures import mini_dir
from tests.fuzz_strategies import (
    check_answers,
    check_state,
    engine_input,
    update_dict,
)
from tests.limits_fixtures import ApiErrorGuard, describe
from tests.reliability_support import webhook_bot
from tests.support.emulator import BotApiEmulator
from tests.telegram_chat import real_dialogue
from tests.telegram_fixtures import TOKEN

TODAY = dt.date(2026, 11, 26)
FIGURES: dict[str, int] = {}


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples on every run: a failure is reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return Engine(load_dialogue(mini_dir(tmp_path_factory.mktemp("fuzz") / "mini")))


@pytest.fixture(scope="module")
def real():
    return Engine(real_dialogue())


# The engine ---------------------------------------------------------------------------------
def walk(engine: Engine, data, steps: int) -> int:
    """Feed `steps` drawn inputs to the engine as Conversations would; check every step."""
    dialogue = engine.dialogue
    lang = data.draw(st.sampled_from(["fr", "en"]))
    state, answers = engine.new_state(), dict[str, object]()
    engine.resume(state, answers, lang, TODAY, fresh=True)
    for _ in range(steps):
        event = data.draw(engine_input(dialogue, state))
        step = engine.handle(state, answers, event, lang, TODAY)
        check_answers(dialogue, dict(step.writes))
        for view in step.views:
            assert isinstance(view, Ask | Say | Answered | Menu | ShowSummary), view
            if isinstance(view, Ask):
                assert view.question_id == step.state.at or view.question_id in dialogue.questions
        if step.restart:
            answers = {}
        answers.update(dict(step.writes))
        state = step.state
        check_state(dialogue, state)
        check_answers(dialogue, answers)
        assert step.changed or not step.writes
    engine.current(state, answers, lang, TODAY)  # the screen can always be drawn again
    engine.summary(state, answers, lang, TODAY)
    return len(answers)


def engine_fuzz(engine: Engine, examples: int, steps: int) -> None:
    answered = []

    @fuzz_settings(examples)
    @given(st.data())
    def run(data):
        answered.append(walk(engine, data, steps))

    run()
    FIGURES[f"engine {engine.dialogue.id}: examples"] = len(answered)
    FIGURES[f"engine {engine.dialogue.id}: inputs"] = len(answered) * steps
    FIGURES[f"engine {engine.dialogue.id}: most answers"] = max(answered)
    print(f"\nfigures: {FIGURES}")
    assert max(answered) >= 3  # the walks went beyond the first question


def test_fuzz_the_engine_on_the_mini_dialogue(mini):
    engine_fuzz(mini, examples=150, steps=30)


def test_fuzz_the_engine_on_the_real_checklist(real):
    engine_fuzz(real, examples=60, steps=40)


@pytest.mark.slow
def test_fuzz_the_engine_long(mini, real):
    engine_fuzz(mini, examples=3000, steps=40)
    engine_fuzz(real, examples=1500, steps=80)


# The Telegram application -------------------------------------------------------------------
class FuzzedBot:
    """The application behind its webhook, on a plain emulator, for a sync hypothesis test."""

    def __init__(self, tmp_path, dialogues) -> None:
        self.tmp_path = tmp_path
        self.dialogues = dialogues
        self.dialogue = load_dialogue(dialogues)
        self.statuses: dict[int, int] = {}
        self.updates = 0
        self.users = itertools.count(9100)

    async def start(self) -> None:
        self.emulator = BotApiEmulator(token=TOKEN)
        await self.emulator.start()
        self.guard = ApiErrorGuard(self.emulator)
        self.guard.install()
        self.guard.patterns += [
            # A fuzzed tap on a message already edited to the same text and keyboard.
            r"^edit\w+ 400 Bad Request: message is not modified",
        ]
        url = f"sqlite:///{self.tmp_path / 'fuzz.sqlite3'}"
        self._bot = webhook_bot(self.emulator, url, self.dialogues)
        self.bot = await self._bot.__aenter__()

    async def stop(self) -> None:
        await self._bot.__aexit__(None, None, None)
        await self.emulator.close()

    async def feed(self, data) -> None:
        user_id = next(self.users)  # a new manager: an example does not depend on others
        errors = len(self.bot.app.errors)
        for _ in range(data.draw(st.integers(1, 12))):
            texts = [
                m.message_id for m in self.emulator.messages(user_id, from_bot=True) if m.text
            ]
            update = data.draw(update_dict(self.dialogue, user_id, texts))
            if "edited_message" in update:  # the message edited was sent before
                original = dict(update["edited_message"])
                original.pop("edit_date")
                self.emulator.push_update({"message": original})
            self.emulator.push_update(update)  # registers its callback query, if any
            status = await self.bot.post(self.emulator.updates[-1])
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.updates += 1
            assert status in (200, 400), f"webhook answered {status}: Telegram would retry forever"
            new = self.bot.app.errors[errors:]
            assert not new, [f"{e.error!r} in {_where(e.error)}" for e in new]
        await self.check(user_id)

    async def check(self, user_id: int) -> None:
        storage = self.bot.storage
        user = await storage.get_user(f"tg:{user_id}")
        if user is None:
            return
        for conversation in await storage.conversations(user.id):
            check_state(self.dialogue, State.load(conversation.state))
            check_answers(self.dialogue, await storage.current_answers(conversation.id))
            for answer in await storage.answer_history(conversation.id):
                check_answers(self.dialogue, {answer.question_id: answer.value})


def _where(error: BaseException) -> str:
    """The innermost frame of our code an error came from."""
    frame = None
    tb = error.__traceback__
    while tb is not None:
        if "/bot/" in tb.tb_frame.f_code.co_filename:
            frame = tb
        tb = tb.tb_next
    if frame is None:
        return "?"
    return f"{frame.tb_frame.f_code.co_filename.split('/bot/')[-1]}:{frame.tb_lineno}"


def telegram_fuzz(tmp_path, dialogues, examples: int) -> FuzzedBot:
    fuzzed = FuzzedBot(tmp_path, dialogues)
    with asyncio.Runner() as runner:
        runner.run(fuzzed.start())
        try:

            @fuzz_settings(examples)
            @given(st.data())
            def run(data):
                runner.run(fuzzed.feed(data))

            run()
        finally:
            runner.run(fuzzed.stop())
    unexpected = fuzzed.guard.unexpected()
    assert not unexpected, [describe(c) for c in unexpected]
    FIGURES["telegram: examples"] = examples
    FIGURES["telegram: updates"] = fuzzed.updates
    FIGURES["telegram: bot calls"] = len(fuzzed.emulator.calls)
    print(f"\nfigures: {FIGURES}, webhook statuses {fuzzed.statuses}")
    return fuzzed


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
UPDATE_KEYS = ("message", "edited_message", "callback_query", "channel_post", "my_chat_member")


def test_fuzz_the_webhook_with_any_json(tmp_path, mini_dialogues):
    """Whatever JSON arrives with the right secret: 200 or 400, never a 5xx (Telegram would
    deliver it again and again), and nothing reaches the error handler."""
    fuzzed = FuzzedBot(tmp_path, mini_dialogues)
    bodies = st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"update_id": st.integers(1, 10**9) | JSON},
            optional={key: JSON for key in UPDATE_KEYS},
        ),
    )
    with asyncio.Runner() as runner:
        runner.run(fuzzed.start())
        try:

            @fuzz_settings(150)
            @given(bodies)
            def run(body):
                status = runner.run(fuzzed.bot.post(body))
                assert status in (200, 400), (status, body)
                assert not fuzzed.bot.app.errors, fuzzed.bot.app.errors

            run()
        finally:
            runner.run(fuzzed.stop())
    assert fuzzed.guard.unexpected() == []


def test_fuzz_the_telegram_application(tmp_path, mini_dialogues):
    fuzzed = telegram_fuzz(tmp_path, mini_dialogues, examples=40)
    assert fuzzed.statuses.get(200, 0) > 50


@pytest.mark.slow
def test_fuzz_the_telegram_application_long(tmp_path):
    telegram_fuzz(tmp_path, DEFAULT_DIR, examples=600)
