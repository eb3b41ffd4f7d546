"""The advisors' web view in process (aiohttp's test client on the real app, a real SQLite file):
signing in, every page, consent and its withdrawal, isolation between advisors, form tokens,
escaping, the security headers, and no token in any page or log line."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re

import icalendar
import pypdf

from bot.dialogue.engine import State
from bot.storage.base import AnswerWrite
from bot.web.security import COOKIE
from tests.web_fixtures import ENGINE, NOW, manager, visible_text

PAGES = ("/projects", "/projects/1", "/analytics", "/analytics?scope=all")


# Without a session, nothing


async def test_signed_out_sees_how_to_get_in_and_no_data(web):
    claire, _ = await web.advisor("Claire")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    home = await web.page("/")
    assert "ouvrez le lien de connexion" in home
    for path in (*PAGES, f"/projects/{project.project_id}/report.pdf"):
        text = await web.page(path, 401)
        assert "Session terminée" in text
        assert "Dupont" not in text
    response = await web.client.post(f"/projects/{project.project_id}/note", data={"note": "x"})
    assert response.status == 401
    assert (await web.storage.shared_project(claire.id, project.project_id)).note == ""


async def test_a_login_link_works_once_and_sets_a_guarded_cookie(web):
    _, token = await web.advisor("Claire")
    response = await web.client.get(f"/login/{token}", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/projects"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=43200" in cookie  # 12 hours, the session's life
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert "Projets partagés avec vous" in await web.page("/projects")

    again = await web.client.get(f"/login/{token}", allow_redirects=False)
    assert again.status == 403
    assert "Ce lien de connexion a déjà servi" in await again.text()


async def test_a_new_sign_in_ends_the_browsers_earlier_session(web):
    from bot.advisors import tokens

    await web.sign_in("Claire")
    first = web.client.session.cookie_jar.filter_cookies(web.client.make_url("/"))[COOKIE].value
    await web.sign_in("Marc")
    assert "Marc" in await web.page("/projects")
    assert await web.storage.session(tokens.digest(first), now=NOW) is None


async def test_a_head_request_does_not_spend_a_link(web):
    _, token = await web.advisor("Claire")
    assert (await web.client.head(f"/login/{token}")).status == 405
    assert (await web.client.get(f"/login/{token}", allow_redirects=False)).status == 303


async def test_the_cookie_is_secure_behind_an_https_proxy(web):
    _, token = await web.advisor("Claire")
    response = await web.client.get(
        f"/login/{token}", allow_redirects=False, headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status == 303
    assert "Secure" in response.headers["Set-Cookie"]


async def test_expired_links_and_sessions(web):
    _, token = await web.advisor("Claire")
    web.clock.now = NOW + dt.timedelta(days=3, seconds=1)
    response = await web.client.get(f"/login/{token}", allow_redirects=False)
    assert response.status == 403
    assert "a expiré" in await response.text()

    await web.sign_in("Marc")
    await web.page("/projects")
    web.clock.now += dt.timedelta(hours=12)
    assert "Votre session a expiré" in await web.page("/projects", 401)


async def test_a_new_link_replaces_the_old_one(web):
    _, first = await web.advisor("Claire")
    _, second = await web.advisors.link("Claire")
    web.tokens.append(second)
    assert (await web.client.get(f"/login/{first}", allow_redirects=False)).status == 403
    assert (await web.client.get(f"/login/{second}", allow_redirects=False)).status == 303


async def test_login_links_are_rate_limited(web):
    for _ in range(50):
        response = await web.client.get("/login/not-a-valid-token-at-all", allow_redirects=False)
        assert response.status == 403
    _, token = await web.advisor("Claire")
    response = await web.client.get(f"/login/{token}", allow_redirects=False)
    assert response.status == 429
    assert "Trop de liens de connexion" in await response.text()


async def test_signing_out_needs_the_form_token_and_ends_the_session(web):
    await web.sign_in("Claire")
    refused = await web.client.post("/logout", data={"csrf": "forged"})
    assert refused.status == 403
    await web.page("/projects")
    token = await web.csrf("/projects")
    response = await web.client.post("/logout", data={"csrf": token})
    assert response.status == 200
    await web.page("/projects", 401)


# Pages


async def test_the_list_shows_only_what_was_shared_with_the_advisor(web):
    claire = await web.sign_in("Claire")
    marc, _ = await web.advisor("Marc")
    ana, acme = await manager(web.storage, "tg:1", company="Acme Industrie")
    ben, bolt = await manager(web.storage, "tg:2", company="Bolt & Co", stop_at=12)
    cleo, cargo = await manager(web.storage, "tg:3", company="Cargo Nord")
    await web.share(ana, acme, claire)
    await web.share(ben, bolt, claire)
    await web.share(cleo, cargo, marc)
    page = await web.page("/projects")
    text = visible_text(page)
    assert "Acme Industrie" in text
    assert "Bolt &amp; Co" in page  # escaped
    assert "Cargo Nord" not in text
    assert claire.code in text  # the code managers type to share with her
    assert "2 projets" in text
    # Stage reached, verdict, red flags, last activity, next due step.
    row = _row(page, "Acme Industrie")
    answers = await web.storage.current_answers(acme.id)
    summary = ENGINE.summary(State.load(acme.state), answers, "fr", NOW.date())
    assert "Terminé" in row
    assert summary.diagnosis.verdict is not None
    assert summary.diagnosis.verdict.title.replace("&", "&amp;") in row
    assert f'<td class="number{" flagged" if summary.diagnosis.red_flags else ""}">' in row
    assert f">{len(summary.diagnosis.red_flags)}</td>" in row
    bolt_row = _row(page, "Bolt")
    assert re.search(r"\d/7 · ", bolt_row)
    assert "Martin &amp; Fils" in bolt_row
    assert "/projects/" + str(acme.project_id) in row


async def test_the_list_sorts_and_filters(web):
    claire = await web.sign_in("Claire")
    for n, company in enumerate(("Zèbre SARL", "Alpha SA", "Mistral"), 1):
        user, project = await manager(
            web.storage, f"tg:{n}", company=company, stop_at=None if n != 3 else 10
        )
        await web.share(user, project, claire)

    def companies(page: str) -> list[str]:
        return re.findall(r'<td><a href="/projects/\d+">([^<]+)</a>', page)

    assert companies(await web.page("/projects?sort=company&order=asc")) == [
        "Alpha SA",
        "Mistral",
        "Zèbre SARL",
    ]
    assert companies(await web.page("/projects?sort=company&order=desc")) == [
        "Zèbre SARL",
        "Mistral",
        "Alpha SA",
    ]
    assert companies(await web.page("/projects?q=alpha")) == ["Alpha SA"]
    assert companies(await web.page("/projects?state=open")) == ["Mistral"]
    assert sorted(companies(await web.page("/projects?state=finished"))) == [
        "Alpha SA",
        "Zèbre SARL",
    ]
    assert "Aucun projet ne correspond" in await web.page("/projects?q=nothing-like-it")
    # Sorting by stage puts the unfinished one first; every column header is a sort link.
    assert companies(await web.page("/projects?sort=stage&order=asc"))[0] == "Mistral"
    page = await web.page("/projects")
    for column in ("company", "partner", "stage", "verdict", "flags", "activity", "due"):
        assert f"sort={column}" in page


async def test_one_project_shows_answers_diagnosis_steps_and_reminders(web):
    claire = await web.sign_in("Claire")
    ana, project = await manager(
        web.storage, "tg:1", company="Dupont SA", not_yet=frozenset({"confidentiality_letter"})
    )
    await web.storage.add_reminder(
        ana.id,
        kind="todo",
        ref="confidentiality_letter",
        due_at=NOW + dt.timedelta(days=7),
        conversation_id=project.id,
    )
    await web.share(ana, project, claire)
    page = await web.page(f"/projects/{project.project_id}")
    text = visible_text(page)
    assert "Dupont SA" in text
    assert "Martin &amp; Fils" in text
    assert "Réponses par étape" in text
    assert "Diagnostic" in text
    assert "Maturité par étape" in text
    assert "Prochaines étapes" in text
    assert "Rappels programmés" in text
    assert "Aucun rappel en attente" not in text
    assert "Réponse" in text  # the typed answers
    for fmt in ("pdf", "md", "ics"):
        assert f"/projects/{project.project_id}/report.{fmt}" in page
    answers = await web.storage.current_answers(project.id)
    summary = ENGINE.summary(State.load(project.state), answers, "fr", NOW.date())
    verdict = summary.diagnosis.verdict
    assert verdict is not None
    assert verdict.title.replace("&", "&amp;") in text
    for flag in summary.diagnosis.red_flags:
        assert flag.text.replace("&", "&amp;") in page


async def test_downloads_are_the_reports(web):
    claire = await web.sign_in("Claire")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    markdown = await web.client.get(f"/projects/{project.project_id}/report.md")
    assert markdown.status == 200
    assert markdown.headers["Content-Type"].startswith("text/markdown")
    assert "alliance-dupont-sa-2026-12-01.md" in markdown.headers["Content-Disposition"]
    assert "Dupont SA" in await markdown.text()
    calendar = await web.client.get(f"/projects/{project.project_id}/report.ics")
    assert calendar.status == 200
    assert icalendar.Calendar.from_ical(await calendar.read()).walk("VEVENT")
    pdf = await web.client.get(f"/projects/{project.project_id}/report.pdf")
    assert pdf.status == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(await pdf.read()))
    assert "Dupont SA" in "".join(page.extract_text() for page in reader.pages)


async def test_advisors_are_isolated(web):
    claire, _ = await web.advisor("Claire")
    marc = await web.sign_in("Marc")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    await web.storage.set_note(claire.id, project.project_id, "Rendez-vous mardi", now=NOW)
    # Marc, signed in, reaches none of it: not the page, not the files, not the note.
    for path in (
        f"/projects/{project.project_id}",
        f"/projects/{project.project_id}/report.pdf",
        f"/projects/{project.project_id}/report.md",
        "/projects/999999",
    ):
        text = await web.page(path, 404)
        assert "Dupont" not in text
        assert "mardi" not in text
    assert "Dupont" not in await web.page("/projects")
    token = await web.csrf("/projects")
    response = await web.client.post(
        f"/projects/{project.project_id}/note", data={"csrf": token, "note": "mine now"}
    )
    assert response.status == 404
    assert (
        await web.storage.shared_project(claire.id, project.project_id)
    ).note == "Rendez-vous mardi"
    assert "Dupont" not in await web.page("/analytics")
    assert marc.id != claire.id


async def test_the_note_is_private_kept_escaped_and_needs_the_form_token(web):
    claire = await web.sign_in("Claire")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    path = f"/projects/{project.project_id}"
    refused = await web.client.post(f"{path}/note", data={"note": "forged"})
    assert refused.status == 403
    assert "Ce formulaire a expiré" in await refused.text()
    refused = await web.client.post(f"{path}/note", data={"note": "forged", "csrf": "x" * 43})
    assert refused.status == 403
    assert (await web.storage.shared_project(claire.id, project.project_id)).note == ""

    token = await web.csrf(path)
    note = '<script>alert("x")</script> Appeler & relancer'
    response = await web.client.post(
        f"{path}/note", data={"csrf": token, "note": note}, allow_redirects=False
    )
    assert response.status == 303
    page = await web.page(f"{path}?saved=1")
    assert "Note enregistrée." in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Appeler &amp; relancer" in page
    longest = "🤝" * 5000  # the longest note, in 4-byte characters, percent-encoded
    response = await web.client.post(
        f"{path}/note", data={"csrf": token, "note": longest}, allow_redirects=False
    )
    assert response.status == 303
    assert (await web.storage.shared_project(claire.id, project.project_id)).note == longest
    response = await web.client.post(
        f"{path}/note", data={"csrf": token, "note": note}, allow_redirects=False
    )
    assert response.status == 303
    too_long = await web.client.post(f"{path}/note", data={"csrf": token, "note": "x" * 5001})
    assert too_long.status == 400
    assert "La note dépasse 5000 caractères" in await too_long.text()
    assert (await web.storage.shared_project(claire.id, project.project_id)).note == note


async def test_withdrawn_consent_closes_the_project_at_once(web):
    claire = await web.sign_in("Claire")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    assert "Dupont SA" in await web.page("/projects")
    [(share, _)] = await web.advisors.shares(ana.id)
    await web.advisors.withdraw(user_id=ana.id, share_id=share.id)
    assert "Dupont" not in await web.page("/projects")
    await web.page(f"/projects/{project.project_id}", 404)
    await web.page(f"/projects/{project.project_id}/report.md", 404)


async def test_analytics_of_the_advisors_managers(web):
    claire = await web.sign_in("Claire")
    ana, acme = await manager(web.storage, "tg:1", company="Acme")
    ben, bolt = await manager(web.storage, "tg:2", company="Bolt", stop_at=5, lang="en")
    cleo, cargo = await manager(
        web.storage, "tg:3", company="Cargo", not_yet=frozenset({"confidentiality_letter"})
    )
    await manager(web.storage, "tg:4", company="Not shared")
    for user, project in ((ana, acme), (ben, bolt), (cleo, cargo)):
        await web.share(user, project, claire)
    page = await web.page("/analytics")
    text = visible_text(page)
    assert re.search(r"Projets commencés 3 ", text)
    assert re.search(r"Projets terminés 2 ", text)
    assert re.search(r"Taux d’achèvement 67 %", text)
    assert '<svg class="funnel"' in page
    assert "Français 2" in text
    assert "Anglais 1" in text
    assert "Réponses « pas encore » par question" in text
    assert "Not shared" not in text
    # Not an admin: no view over everyone.
    assert "réservées aux conseillers administrateurs" in await web.page(
        "/analytics?scope=all", 403
    )


async def test_the_admin_view_hides_figures_under_five_managers(web):
    await web.sign_in("Admin", admin=True)
    for n in range(1, 4):
        await manager(web.storage, f"tg:{n}", company=f"Firm {n}")
    page = await web.page("/analytics?scope=all")
    text = visible_text(page)
    assert "moins de 5 dirigeants n’est pas affiché" in text
    assert "Projets commencés &lt; 5 " in text
    assert "Firm" not in text
    for n in range(4, 8):
        await manager(web.storage, f"tg:{n}", company=f"Firm {n}")
    text = visible_text(await web.page("/analytics?scope=all"))
    assert re.search(r"Projets commencés 7 ", text)
    assert re.search(r"Projets terminés 7 ", text)
    assert re.search(r"Taux d’achèvement 100 %", text)
    assert "Firm" not in text
    # Their own view covers only what was shared with them: nothing.
    assert "Pas encore de données" in await web.page("/analytics")


# Headers, escaping, secrets


async def test_every_answer_carries_the_security_headers(web):
    await web.sign_in("Claire")
    for path in ("/", "/projects", "/analytics", "/projects/42", "/login/unknown"):
        response = await web.client.get(path, allow_redirects=False)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy  # no script at all
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    css = await web.client.get("/static/style.css")
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")


async def test_what_managers_typed_is_escaped_everywhere(web):
    claire = await web.sign_in("Claire")
    ana, project = await manager(
        web.storage, "tg:1", company='<img src=x onerror="alert(1)">', partner="<b>P</b>"
    )
    await web.share(ana, project, claire)
    for path in ("/projects", f"/projects/{project.project_id}"):
        page = await web.page(path)
        assert "<img src=x" not in page
        assert "<b>P</b>" not in page
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


async def test_no_token_or_cookie_in_any_page_or_log_line(web, caplog):
    caplog.set_level(logging.DEBUG)
    claire, token = await web.advisor("Claire")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    response = await web.client.get(f"/login/{token}")
    assert response.status == 200
    cookie = web.client.session.cookie_jar.filter_cookies(web.client.make_url("/"))[COOKIE].value
    seen = []
    for path in ("/", "/projects", f"/projects/{project.project_id}", "/analytics"):
        seen.append(await web.page(path))
    await web.client.get(f"/login/{token}")  # spent: logged as refused
    for text in seen:
        assert token not in text
        assert cookie not in text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "signed in" in logged  # the login was logged...
    assert token not in logged  # ...without its token
    assert cookie not in logged


def _row(page: str, company: str) -> str:
    for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S):
        if company in row:
            return row
    raise AssertionError(f"no row for {company}")


def test_the_log_redactor_hides_a_login_links_token():
    from bot.logging_setup import redact

    line = "GET http://127.0.0.1:8090/login/vDJxnZ9TN6KGBvQNcjNWAg4KuUWUofP6axHqyRrRLaU HTTP/1.1"
    assert redact(line, []) == "GET http://127.0.0.1:8090/login/<redacted> HTTP/1.1"


async def test_the_partners_side_shows_as_the_partner_safe_comparison(web):
    from tests.web_fixtures import walk

    claire = await web.sign_in("Claire")
    ana, project = await manager(web.storage, "tg:1", company="Dupont SA")
    await web.share(ana, project, claire)
    path = f"/projects/{project.project_id}"
    assert "Regards croisés" not in await web.page(path)  # no partner invited

    later = NOW + dt.timedelta(days=30)
    await web.storage.create_invitation(
        project.project_id, user_id=ana.id, token_hash="h-1", expires_at=later
    )
    bob = await web.storage.get_or_create_user("tg:2", lang="fr", tz="Europe/Paris")
    joined = await web.storage.accept_invitation(
        "h-1", user_id=bob.id, now=NOW, dialogue_id=ENGINE.dialogue.id, state={"at": "company"}
    )
    assert joined.status == "ok"
    text = visible_text(await web.page(path))
    assert "Regards croisés" in text
    assert "pas encore répondu" in text

    # The partner answers: on the project's vision, far from the manager. Halfway through,
    # nothing of the gaps yet: the report comes out when both sides are done.
    theirs = {"company": "Martin & Fils", "shares_vision": "1"}
    version = joined.conversation.version
    for stop_at in (30, None):
        state, answers = walk(theirs, stop_at=stop_at)
        version = await web.storage.save_step(
            joined.conversation.id,
            expected_version=version,
            state=state,
            answers=[AnswerWrite(q, v) for q, v in answers.items()],
        )
        if stop_at is not None:
            text = visible_text(await web.page(path))
            assert "pas encore répondu" in text
            assert "Écarts à discuter" not in text
            assert "Écart important avec votre partenaire" not in text
    page = await web.page(path)
    text = visible_text(page)
    assert "À partager : version sans jugements privés" in text
    assert "Écarts à discuter" in text
    assert re.search(r"<tr class=\"flagged\"><td>Vision du projet</td>", page)
    assert "privé" in text  # trust and values: no side's own rating shown
    # The gap weighs in the manager's diagnosis, as the manager reads it: a red flag here and
    # one more in the list's count.
    assert "Écart important avec votre partenaire sur « Vision du projet »" in text
    row = _row(await web.page("/projects"), "Dupont SA")
    answers = await web.storage.current_answers(project.id)
    alone = ENGINE.summary(State.load(project.state), answers, "fr", NOW.date()).diagnosis
    assert f">{len(alone.red_flags) + 1}</td>" in row
    # The report files carry the partner-safe comparison too.
    markdown = await (await web.client.get(f"{path}/report.md")).text()
    assert "Regards croisés" in markdown
    assert "À partager : version sans jugements privés" in markdown
