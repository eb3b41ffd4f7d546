"""The web view's guards: the session cookie, form tokens, the login rate limit, the headers.

* The session lives in a cookie (HttpOnly, SameSite=Lax, Secure when the page came over HTTPS,
  directly or through a proxy that says so with X-Forwarded-Proto) whose value only the browser
  and, hashed, the database know; it expires with the session.
* Every form that changes something carries the session's form token (`csrf`), compared in
  constant time: a form posted from another site, or from an old session, is refused (403).
* Login links are limited per client address (`LoginLimiter`): a link guessed by brute force
  is out of reach anyway (256 bits), this keeps the database out of the guessing.
* Every answer carries a Content-Security-Policy that allows this site's own stylesheet and
  nothing else (no script at all), and says not to cache, frame or refer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.advisors import tokens

COOKIE = "alliance_advisor"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The headers above on every answer, errors included; pages are never cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    for name, value in HEADERS.items():
        response.headers[name] = value
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException):
        raise response
    return response


def over_https(request: web.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def set_session_cookie(
    response: web.StreamResponse, request: web.Request, value: str, max_age: int
) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=over_https(request),
    )


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE, path="/", secure=over_https(request), samesite="Lax")


def session_cookie(request: web.Request) -> str:
    return request.cookies.get(COOKIE, "")


def form_token_matches(given: str, expected: str) -> bool:
    return bool(given) and tokens.same(given, expected)


class LoginLimiter:
    """At most `attempts` login links tried per client address within `window` seconds."""

    def __init__(
        self,
        attempts: int = 10,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._tries: dict[str, deque[float]] = {}

    def allow(self, client: str) -> bool:
        """Count one attempt from client; False when it is over the limit."""
        now = self.clock()
        tries = self._tries.setdefault(client, deque())
        while tries and tries[0] <= now - self.window:
            tries.popleft()
        if len(tries) >= self.attempts:
            return False
        tries.append(now)
        if len(self._tries) > 10_000:  # forget the quiet addresses, not the busy one
            for key in [k for k, v in self._tries.items() if not v or v[-1] <= now - self.window]:
                del self._tries[key]
        return True
