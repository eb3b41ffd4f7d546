"""The advisors' web view: an aiohttp application, Jinja2 templates, one stylesheet, no script.

`create_app` builds it without running it (tests drive it in process; bot/web/server.py serves
it). Routes:

    GET  /                          the sign-in explanation, or the projects when signed in
    GET  /login/{token}             spend a one-time login link, open a session, go to /projects
    POST /logout                    end the session
    GET  /projects                  the projects shared with the advisor (?sort, order, q, verdict,
                                    state)
    GET  /projects/{id}             one project: answers, diagnosis, next steps, reminders, note
    POST /projects/{id}/note        keep the advisor's private note
    GET  /projects/{id}/report.pdf  (and .md, .ics) the report, as the bot's /export makes it
    GET  /analytics                 the advisor's managers; ?scope=all for an admin: everyone
    GET  /static/style.css

Every page but the first two needs a session (401 without); a project not shared with the
advisor, or withdrawn, is 404 like one that does not exist. Everything shown is escaped by the
templates (autoescape); the pages never carry a login token or the session cookie's value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from bot.advisors.analytics import ADMIN_THRESHOLD, analyse
from bot.advisors.service import Advisors
from bot.dialogue.engine import Engine
from bot.dialogue.model import Texts
from bot.dialogue.summary import format_date
from bot.export import MIME_TYPES, filename, render
from bot.export.pool import RenderFailed, RenderPool
from bot.storage.base import AdvisorSession, SharedProject
from bot.storage.database import Storage
from bot.web import projects as views
from bot.web.charts import funnel_chart
from bot.web.security import (
    LoginLimiter,
    clear_session_cookie,
    form_token_matches,
    security_headers,
    session_cookie,
    set_session_cookie,
)

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
NOTE_MAX = 5000  # characters of an advisor's note
REPORT_FORMATS = ("pdf", "md", "ics")


@dataclass
class WebContext:
    advisors: Advisors
    engine: Engine
    renders: RenderPool
    default_lang: str
    templates: jinja2.Environment
    limiter: LoginLimiter
    stylesheet: bytes

    @property
    def storage(self) -> Storage:
        return self.advisors.storage

    def now(self) -> dt.datetime:
        return self.advisors.clock()


CONTEXT = web.AppKey("context", WebContext)
Page = Callable[[web.Request, WebContext, AdvisorSession], Awaitable[web.StreamResponse]]


def create_app(
    advisors: Advisors,
    engine: Engine,
    *,
    renders: RenderPool,
    default_lang: str = "fr",
    limiter: LoginLimiter | None = None,
) -> web.Application:
    """The web view on these services; whoever runs it closes `renders`."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    context = WebContext(
        advisors=advisors,
        engine=engine,
        renders=renders,
        default_lang=default_lang,
        templates=templates,
        limiter=limiter or LoginLimiter(),
        stylesheet=(HERE / "static" / "style.css").read_bytes(),
    )
    # A note of NOTE_MAX characters, percent-encoded, fits with room to spare.
    app = web.Application(middlewares=[security_headers], client_max_size=256 * 1024)
    app[CONTEXT] = context
    app.router.add_get("/", home)
    # GET only: a HEAD (a link preview, a mail scanner) must not spend the link.
    app.router.add_get("/login/{token}", login, allow_head=False)
    app.router.add_post("/logout", signed_in(logout))
    app.router.add_get("/projects", signed_in(project_list))
    app.router.add_get(r"/projects/{id:\d+}", signed_in(project_page))
    app.router.add_post(r"/projects/{id:\d+}/note", signed_in(save_note))
    app.router.add_get(r"/projects/{id:\d+}/report.{fmt:pdf|md|ics}", signed_in(download))
    app.router.add_get("/analytics", signed_in(analytics))
    app.router.add_get("/static/style.css", stylesheet)
    return app


# Rendering


def render_page(
    context: WebContext,
    template: str,
    texts: Texts,
    *,
    session: AdvisorSession | None = None,
    status: int = 200,
    **values: Any,
) -> web.Response:
    page = context.templates.get_template(template).render(
        t=texts.ui,
        lang=texts.lang,
        session=session,
        advisor=session.advisor if session is not None else None,
        **values,
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def message(
    context: WebContext,
    key: str,
    *,
    status: int,
    session: AdvisorSession | None = None,
    lang: str | None = None,
) -> web.Response:
    """A page that says one thing: web.<key>.title and web.<key>.text."""
    texts = context.engine.texts(lang or context.default_lang)
    return render_page(context, "message.html", texts, session=session, status=status, key=key)


def signed_in(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The page for a signed-in advisor; 401 without a session (nothing else is read)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        context = request.app[CONTEXT]
        session = await context.advisors.session(session_cookie(request))
        if session is None:
            response = message(context, "session_over", status=401)
            if session_cookie(request):
                clear_session_cookie(response, request)
            return response
        if request.method == "POST":
            form = await request.post()
            given = form.get("csrf")
            if not isinstance(given, str) or not form_token_matches(given, session.csrf):
                logger.warning("web: a form without its session's token was refused")
                return message(
                    context, "forbidden", status=403, session=session, lang=session.advisor.lang
                )
        return await page(request, context, session)

    return handler


# Signing in and out


async def home(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    if await context.advisors.session(session_cookie(request)) is not None:
        raise web.HTTPSeeOther("/projects")
    return message(context, "signed_out", status=200)


async def login(request: web.Request) -> web.StreamResponse:
    """Spend a login link: a session cookie and on to /projects (the token leaves the address
    bar at once), or a page saying the link is not valid."""
    context = request.app[CONTEXT]
    if not context.limiter.allow(request.remote or "unknown"):
        logger.warning("web: too many login links tried from one address")
        return message(context, "too_many", status=429)
    signed = await context.advisors.sign_in(request.match_info["token"])
    if signed is None:
        logger.info("web: a login link that is not valid (used, expired or unknown)")
        return message(context, "link_invalid", status=403)
    logger.info("web: advisor %s signed in", signed.session.advisor.id)
    earlier = session_cookie(request)
    if earlier:  # this browser's earlier session (perhaps another advisor's) ends here
        await context.advisors.sign_out(earlier)
    response = web.HTTPSeeOther("/projects")
    max_age = int((signed.session.expires_at - context.now()).total_seconds())
    set_session_cookie(response, request, signed.cookie, max_age)
    return response


async def logout(
    request: web.Request, context: WebContext, session: AdvisorSession
) -> web.StreamResponse:
    await context.advisors.sign_out(session_cookie(request))
    response = message(context, "session_over", status=200, lang=session.advisor.lang)
    clear_session_cookie(response, request)
    return response


# Projects


async def project_list(
    request: web.Request, context: WebContext, session: AdvisorSession
) -> web.StreamResponse:
    lang = session.advisor.lang
    texts = context.engine.texts(lang)
    now = context.now()
    shared = await context.storage.shared_projects(session.advisor.id)
    # About half a millisecond of CPU a project: in a thread, so that beside the bot a long
    # list does not hold the event loop (the engine is safe across threads).
    rows = await asyncio.to_thread(
        lambda: [views.row(project, context.engine, lang=lang, now=now) for project in shared]
    )
    query = request.query
    sort = query.get("sort", "activity")
    sort = sort if sort in views.SORT_KEYS else "activity"
    default_desc = sort in ("activity", "flags")
    descending = query.get("order", "desc" if default_desc else "asc") == "desc"
    filters = {
        "q": query.get("q", "")[:100],
        "verdict": query.get("verdict", ""),
        "state": query.get("state", "") if query.get("state") in ("open", "finished") else "",
    }
    shown = views.sort_rows(
        views.filter_rows(
            rows, text=filters["q"], verdict=filters["verdict"], state=filters["state"]
        ),
        sort,
        descending,
    )

    def sort_link(column: str) -> str:
        order = "asc" if column == sort and descending else "desc"
        if column != sort:
            order = "desc" if column in ("activity", "flags") else "asc"
        kept = {k: v for k, v in filters.items() if v}
        return "/projects?" + urlencode({**kept, "sort": column, "order": order})

    verdicts = [
        (level.id, texts.get(f"verdicts.{level.id}.title"))
        for level in context.engine.dialogue.verdicts.levels
    ]
    return render_page(
        context,
        "projects.html",
        texts,
        session=session,
        rows=shown,
        total=len(rows),
        columns=views.SORT_KEYS,
        sort=sort,
        descending=descending,
        sort_link=sort_link,
        filters=filters,
        verdicts=verdicts,
    )


async def _shared(
    request: web.Request, context: WebContext, session: AdvisorSession
) -> SharedProject | None:
    """The project the address names, if it is shared with this advisor."""
    return await context.storage.shared_project(session.advisor.id, int(request.match_info["id"]))


def _not_found(context: WebContext, session: AdvisorSession) -> web.Response:
    return message(context, "not_found", status=404, session=session, lang=session.advisor.lang)


async def project_page(
    request: web.Request, context: WebContext, session: AdvisorSession, *, note_error: str = ""
) -> web.StreamResponse:
    lang = session.advisor.lang
    texts = context.engine.texts(lang)
    project = await _shared(request, context, session)
    if project is None:
        return _not_found(context, session)
    reminders = await context.storage.pending_reminders(project.owner.id)
    now = context.now()
    shown = views.page(project, context.engine, reminders, lang=lang, now=now)
    return render_page(
        context,
        "project.html",
        texts,
        session=session,
        status=400 if note_error else 200,
        page=shown,
        summary=shown.summary,
        content=shown.content,
        shared_since=format_date(
            project.share.consented_at.astimezone(shown.content.tz).date(), texts
        ),
        formats=REPORT_FORMATS,
        comparison=shown.comparison,
        note_saved=request.query.get("saved") == "1",
        note_error=note_error,
        note_max=NOTE_MAX,
    )


async def save_note(
    request: web.Request, context: WebContext, session: AdvisorSession
) -> web.StreamResponse:
    form = await request.post()
    text = form.get("note")
    text = text.replace("\r\n", "\n").strip() if isinstance(text, str) else ""
    project_id = int(request.match_info["id"])
    texts = context.engine.texts(session.advisor.lang)
    if len(text) > NOTE_MAX:
        error = texts.ui("web.project.note_too_long", max=NOTE_MAX)
        return await project_page(request, context, session, note_error=error)
    saved = await context.storage.set_note(session.advisor.id, project_id, text, now=context.now())
    if not saved:
        return _not_found(context, session)
    raise web.HTTPSeeOther(f"/projects/{project_id}?saved=1#note")


async def download(
    request: web.Request, context: WebContext, session: AdvisorSession
) -> web.StreamResponse:
    """The report as a file, made by the export code: a PDF in the render pool's worker
    processes, Markdown and the calendar in a thread."""
    fmt = request.match_info["fmt"]
    lang = session.advisor.lang
    project = await _shared(request, context, session)
    if project is None:
        return _not_found(context, session)
    reminders = await context.storage.pending_reminders(project.owner.id)
    now = context.now()
    content = views.page(project, context.engine, reminders, lang=lang, now=now).content
    try:
        if fmt == "pdf":
            data = await context.renders.report(fmt, content, now=now)
        else:
            data = await asyncio.to_thread(render, fmt, content, now=now)
    except RenderFailed:
        texts = context.engine.texts(lang)
        return web.Response(text=texts.ui("web.render_failed"), status=503)
    company = project.answers.get("company")
    name = filename(
        company if isinstance(company, str) else None,
        context.engine.texts(lang).ui("export.filename_fallback"),
        views.today_for(project.owner.tz, now),
        fmt,
    )
    content_type, _, charset = MIME_TYPES[fmt].partition("; charset=")
    return web.Response(
        body=data,
        content_type=content_type,
        charset=charset or None,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Analytics


async def analytics(
    request: web.Request, context: WebContext, session: AdvisorSession
) -> web.StreamResponse:
    lang = session.advisor.lang
    texts = context.engine.texts(lang)
    everyone = request.query.get("scope") == "all"
    if everyone and not session.advisor.admin:
        return message(context, "admin_only", status=403, session=session, lang=lang)
    facts = await context.storage.project_facts(None if everyone else session.advisor.id)
    now = context.now()
    figures = await asyncio.to_thread(
        analyse,
        facts,
        context.engine,
        lang=lang,
        today=now.date(),
        threshold=ADMIN_THRESHOLD if everyone else 0,
    )
    return render_page(
        context,
        "analytics.html",
        texts,
        session=session,
        figures=figures,
        everyone=everyone,
        threshold=ADMIN_THRESHOLD,
        chart=funnel_chart(
            figures.funnel, texts.ui("web.analytics.hidden", threshold=ADMIN_THRESHOLD)
        ),
    )


async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.Response(
        body=request.app[CONTEXT].stylesheet,
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )
