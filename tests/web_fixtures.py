"""The advisors' web view in process: managers walked through the real checklist, advisors,
shares, and an aiohttp test client on the app (imported by the web tests)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.advisors.service import Advisors
from bot.dialogue.engine import Engine, Pick, Text
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import DONE
from bot.export.pool import RenderPool
from bot.storage.base import AnswerWrite, Conversation, User
from bot.storage.database import Storage, sqlite_storage
from bot.web.app import create_app
from bot.web.security import LoginLimiter

ENGINE = Engine(load_dialogue(DEFAULT_DIR))
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TYPED = {"text": "Réponse", "choice": "1", "multi": "1", "scale": "4", "yesno": "oui"}
TYPED |= {"date": "15/03/2027", "number": "4"}


def walk(
    answers: dict[str, Any], *, stop_at: int | None = None, not_yet: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The real checklist answered through the engine, to the end or for `stop_at` questions;
    "not yet" where `not_yet` names a question that allows it. Returns (state, answers)."""
    state, given = ENGINE.new_state(), dict[str, Any]()
    count = 0
    while state.at != DONE and (stop_at is None or count < stop_at):
        question = ENGINE.dialogue.questions[state.at]
        if question.id in not_yet and question.notyet:
            event: Any = Pick(question.id, "notyet")
        else:
            event = Text(str(answers.get(question.id, TYPED[question.type])))
        step = ENGINE.handle(state, given, event, "fr", NOW.date())
        assert step.writes, (question.id, event)
        given.update(dict(step.writes))
        state = step.state
        count += 1
    return state.dump(), given


async def manager(
    storage: Storage,
    key: str,
    *,
    company: str,
    partner: str = "Martin & Fils",
    lang: str = "fr",
    stop_at: int | None = None,
    not_yet: frozenset[str] = frozenset(),
) -> tuple[User, Conversation]:
    """A manager with one project, walked to the end (or `stop_at` questions in)."""
    user = await storage.get_or_create_user(key, lang=lang, tz="Europe/Paris")
    answers = {"company": company, "partner": partner, "partner_kind": "supplier"}
    state, given = walk(answers, stop_at=stop_at, not_yet=not_yet)
    conversation = await storage.start_conversation(user.id, ENGINE.dialogue.id, state)
    await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state=state,
        answers=[AnswerWrite(q, v) for q, v in given.items()],
        finished=state["at"] == DONE,
    )
    return user, conversation


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Web:
    """The app, its client, its clock, and what a test needs to set the scene."""

    storage: Storage
    advisors: Advisors
    client: TestClient[Any, Any]
    clock: Clock
    renders: RenderPool
    tokens: list[str] = field(default_factory=list)  # every login token made: never shown

    async def advisor(self, name: str, *, admin: bool = False, lang: str = "fr") -> Any:
        advisor, token = await self.advisors.add(name, admin=admin, lang=lang)
        self.tokens.append(token)
        return advisor, token

    async def sign_in(self, name: str, *, admin: bool = False, lang: str = "fr") -> Any:
        """A new advisor, signed in on this client."""
        advisor, token = await self.advisor(name, admin=admin, lang=lang)
        response = await self.client.get(f"/login/{token}", allow_redirects=False)
        assert response.status == 303, await response.text()
        return advisor

    async def share(self, user: User, conversation: Conversation, advisor: Any) -> None:
        assert conversation.project_id is not None
        result = await self.advisors.share(
            user_id=user.id, project_id=conversation.project_id, typed_code=advisor.code
        )
        assert result is not None

    async def page(self, path: str, status: int = 200) -> str:
        response = await self.client.get(path)
        text = await response.text()
        assert response.status == status, text
        for token in self.tokens:
            assert token not in text
        return text

    async def csrf(self, path: str) -> str:
        """The form token of a page's forms."""
        found = re.search(r'name="csrf" value="([^"]+)"', await self.page(path))
        assert found is not None
        return found.group(1)


@pytest.fixture
async def web(tmp_path) -> AsyncIterator[Web]:
    storage = sqlite_storage(tmp_path / "web.sqlite3")
    await storage.migrate()
    clock = Clock()
    advisors = Advisors(storage, clock=clock)
    renders = RenderPool(workers=1)
    app = create_app(
        advisors, ENGINE, renders=renders, default_lang="fr", limiter=LoginLimiter(attempts=50)
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Web(storage, advisors, client, clock, renders)
    finally:
        await client.close()
        renders.close()
        await storage.close()


def visible_text(html: str) -> str:
    """The page's text as read: tags out, entities kept (a test of escaping reads them)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
