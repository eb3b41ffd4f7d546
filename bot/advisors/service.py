"""Advisors, their login links and sessions, and the shares managers consent to.

The one place the CLI (`alliance-bot advisor ...`), the bot (`/advisor`) and the web view
(bot/web/) go through: it makes the secrets (bot/advisors/tokens.py), keeps only their hashes in
storage, and reads the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bot.advisors import tokens
from bot.storage.base import Advisor, AdvisorSession, Share
from bot.storage.database import Storage

Clock = Callable[[], dt.datetime]
LOGIN_LINK_TTL = dt.timedelta(days=3)  # an unused login link stops working after this
SESSION_TTL = dt.timedelta(hours=12)  # a signed-in advisor signs in again after this
LANGUAGES = ("fr", "en")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AdvisorError(ValueError):
    """An advisor command that cannot be done: the message says why, to the operator."""


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: the cookie's value (a secret: never logged) and the session."""

    cookie: str
    session: AdvisorSession


class Advisors:
    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock = utc_now,
        login_ttl: dt.timedelta = LOGIN_LINK_TTL,
        session_ttl: dt.timedelta = SESSION_TTL,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.login_ttl = login_ttl
        self.session_ttl = session_ttl

    # Operators (alliance-bot advisor ...)

    async def add(
        self, name: str, *, lang: str = "fr", admin: bool = False
    ) -> tuple[Advisor, str]:
        """Create an advisor; (the advisor, a login token for their first link).

        Raises:
            AdvisorError: the name is empty or taken, or the language unknown.
        """
        name = name.strip()
        if not name:
            raise AdvisorError("an advisor needs a name")
        if lang not in LANGUAGES:
            raise AdvisorError(f"unknown language {lang!r}: use fr or en")
        for _ in range(5):  # a new code colliding with another advisor's: draw again
            advisor = await self.storage.add_advisor(
                name, code=tokens.new_code(), lang=lang, admin=admin, now=self.clock()
            )
            if advisor is not None:
                return advisor, await self._new_link(advisor)
            if await self.storage.advisor_named(name) is not None:
                raise AdvisorError(f"an advisor named {name!r} exists already")
        raise AdvisorError("could not draw a free advisor code; try again")

    async def link(self, name: str) -> tuple[Advisor, str]:
        """A new login token for an advisor; their earlier unused links stop working.

        Raises:
            AdvisorError: no advisor has this name.
        """
        advisor = await self.storage.advisor_named(name.strip())
        if advisor is None:
            raise AdvisorError(f"no advisor named {name!r}")
        return advisor, await self._new_link(advisor)

    async def remove(self, name: str) -> None:
        """Remove an advisor, with their sessions, the shares made with them and their notes.

        Raises:
            AdvisorError: no advisor has this name.
        """
        if not await self.storage.remove_advisor(name.strip()):
            raise AdvisorError(f"no advisor named {name!r}")

    async def _new_link(self, advisor: Advisor) -> str:
        token = tokens.new_token()
        now = self.clock()
        await self.storage.add_login(
            advisor.id, tokens.digest(token), now=now, expires_at=now + self.login_ttl
        )
        return token

    # The web view

    async def sign_in(self, token: str) -> SignedIn | None:
        """Spend a login link's token; the new session, or None when the link is unknown,
        used already or expired."""
        cookie = tokens.new_token()
        now = self.clock()
        session = await self.storage.use_login(
            tokens.digest(token),
            now=now,
            session_hash=tokens.digest(cookie),
            csrf=tokens.new_token(),
            session_expires_at=now + self.session_ttl,
        )
        return None if session is None else SignedIn(cookie, session)

    async def session(self, cookie: str) -> AdvisorSession | None:
        """The session a cookie opens, while it lasts."""
        if not cookie:
            return None
        return await self.storage.session(tokens.digest(cookie), now=self.clock())

    async def sign_out(self, cookie: str) -> None:
        await self.storage.end_session(tokens.digest(cookie))

    # Managers (/advisor)

    async def share(
        self, *, user_id: int, project_id: int, typed_code: str
    ) -> tuple[Advisor, bool] | None:
        """Share one of the manager's own projects with the advisor whose code was typed:
        (the advisor, True when newly shared, False when it was shared with them already);
        None for an unknown code.

        Raises:
            AdvisorError: the project is not the manager's own (a partner cannot share it).
        """
        code = tokens.read_code(typed_code)
        advisor = await self.storage.advisor_with_code(code) if code else None
        if advisor is None:
            return None
        shared = await self.storage.share(
            user_id=user_id, project_id=project_id, advisor_id=advisor.id, now=self.clock()
        )
        if shared is None:
            raise AdvisorError("only a project's owner can share it")
        return advisor, shared[1]

    async def shares(self, user_id: int) -> list[tuple[Share, Advisor]]:
        return await self.storage.user_shares(user_id)

    async def withdraw(self, *, user_id: int, share_id: int) -> tuple[Share, Advisor] | None:
        """End one of the manager's shares: (the share, its advisor); None when it is not
        theirs or already over."""
        share = await self.storage.withdraw_share(share_id, user_id=user_id, now=self.clock())
        if share is None:
            return None
        advisor = await self.storage.advisor_with_id(share.advisor_id)
        return (share, advisor) if advisor is not None else None
