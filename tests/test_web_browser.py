"""The web view in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) against `alliance-bot web` in a process of its own, signed in by the link
`alliance-bot advisor add` prints. Login, the list, one project, its PDF, a note, analytics,
signing out; a screenshot of each page in the test's folder. Any message the browser's console
reports as an error (a script, a resource that failed, a Content-Security-Policy violation)
fails the test.

Without Chromium the test is skipped on a workstation; with ALLIANCE_REQUIRE_BROWSER=1 (CI) a
missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest

from bot.advisors.service import Advisors
from bot.storage.database import sqlite_storage
from tests.web_fixtures import manager

pytestmark = pytest.mark.browser

WAIT = 60.0  # seconds: a safety net for a loaded machine, never a measure


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "headless Chromium needs Debian's chromium and chromium-driver packages"
    if os.environ.get("ALLIANCE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ALLIANCE_REQUIRE_BROWSER=1 requires them)", pytrace=False)
    pytest.skip(f"{reason}: apt-get install -y chromium chromium-driver")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


async def _scene(database_url: str, code: str) -> None:
    """Two managers who shared their projects with the advisor, one who did not."""
    storage = sqlite_storage(database_url.removeprefix("sqlite:///"))
    await storage.migrate()
    try:
        advisors = Advisors(storage)
        shared = [
            await manager(storage, "tg:1", company="Dupont SA"),
            await manager(storage, "tg:2", company="Lumière & Fils", stop_at=9, lang="en"),
        ]
        await manager(storage, "tg:3", company="Not shared")
        for user, project in shared:
            assert project.project_id is not None
            assert await advisors.share(
                user_id=user.id, project_id=project.project_id, typed_code=code
            )
    finally:
        await storage.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`alliance-bot web` on a fresh database, an advisor and their login link."""
    port = _free_port()
    database_url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEB_LISTEN": "127.0.0.1",
        "WEB_PORT": str(port),
        "LOG_LEVEL": "DEBUG",
    }
    env.pop("WEB_PUBLIC_URL", None)
    added = subprocess.run(
        [sys.executable, "-m", "bot.cli", "advisor", "add", "Claire Martin", "--admin"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    link = re.search(rf"http://127\.0\.0\.1:{port}/login/\S+", added.stdout)
    code = re.search(r"their code is ([A-Z0-9]{8})", added.stdout)
    assert link is not None, added.stdout
    assert code is not None, added.stdout
    asyncio.run(_scene(database_url, code.group(1)))
    log = tmp_path / "web.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "web"],
            env=env,
            stdout=stderr,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:

        def listening() -> bool:
            assert process.poll() is None, log.read_text()
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        _wait_until(listening, "alliance-bot web to listen")
        yield {"link": link.group(0), "base": f"http://127.0.0.1:{port}", "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


class Pages:
    """What the advisor sees, a screenshot per page, and the console checked after each."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        folder.mkdir()
        self.shots: list[Path] = []

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        text: str = self.driver.find_element(By.TAG_NAME, "body").text
        return text

    def snap(self, name: str, expected: str = "") -> None:
        """A screenshot, once the console shows no error (but the one `expected`, if given,
        which must be there)."""
        errors = [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE"
        ]
        if expected:
            assert any(expected in error for error in errors), errors
            errors = [error for error in errors if expected not in error]
        assert errors == [], f"console errors on {self.driver.current_url}: {errors}"
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path))
        assert path.read_bytes().startswith(b"\x89PNG")
        self.shots.append(path)

    def click(self, css: str = "", *, link: str = "", navigates: bool = True) -> None:
        """Click an element; when it leads to a new page, wait until the old one is gone."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        def press(driver: Any) -> Any:
            # Right after a download the browser may still be leaving the navigation it began
            # for it: an element found then can be "not in the document" for a moment.
            try:
                old = driver.find_element(By.TAG_NAME, "html")
                found = (
                    driver.find_element(By.LINK_TEXT, link)
                    if link
                    else driver.find_element(By.CSS_SELECTOR, css)
                )
                found.click()
            except StaleElementReferenceException:
                return None
            except WebDriverException as exc:
                if "does not belong to the document" not in str(exc):
                    raise
                return None
            return old

        old = WebDriverWait(self.driver, WAIT).until(press)
        if navigates:
            WebDriverWait(self.driver, WAIT).until(expected_conditions.staleness_of(old))
            WebDriverWait(self.driver, WAIT).until(
                lambda driver: driver.execute_script("return document.readyState") == "complete"
            )


def test_an_advisor_goes_through_the_web_view(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    pages = Pages(browser, tmp_path / "screenshots")
    browser.get(served["link"])
    # Signed in, the token gone from the address bar: the shared projects.
    assert browser.current_url == served["base"] + "/projects"
    text = pages.text()
    assert "Projets partagés avec vous" in text
    assert "Dupont SA" in text
    assert "Lumière & Fils" in text
    assert "Not shared" not in text
    assert "/advisor " in text  # the code to give managers
    pages.snap("projects")

    # Sorted by company, then filtered.
    pages.click('th a[href*="sort=company"]')
    rows = browser.find_elements(By.CSS_SELECTOR, "#projects tbody tr td:first-child")
    assert [row.text for row in rows] == ["Dupont SA", "Lumière & Fils"]
    search = browser.find_element(By.NAME, "q")
    search.send_keys("lumi")
    pages.click(".filters button[type=submit]")
    rows = browser.find_elements(By.CSS_SELECTOR, "#projects tbody tr td:first-child")
    assert [row.text for row in rows] == ["Lumière & Fils"]
    pages.snap("projects-filtered")

    # One project.
    browser.get(served["base"] + "/projects")
    pages.click(link="Dupont SA")
    text = pages.text()
    assert "Dupont SA" in browser.find_element(By.ID, "project-title").text
    for heading in ("Diagnostic", "Prochaines étapes", "Réponses par étape", "Votre note"):
        assert heading in text
    pages.snap("project")

    # Its PDF, downloaded by the browser.
    pages.click("#download-pdf", navigates=False)

    def downloaded() -> Path | None:
        done = [p for p in (tmp_path / "downloads").iterdir() if p.suffix == ".pdf"]
        return done[0] if done else None

    pdf = _wait_until(downloaded, "the PDF download")
    assert pdf.name.startswith("alliance-dupont-sa-")
    reader = pypdf.PdfReader(io.BytesIO(pdf.read_bytes()))
    assert "Dupont SA" in "".join(page.extract_text() for page in reader.pages)

    # A private note, kept.
    note = browser.find_element(By.NAME, "note")
    note.send_keys("Point d’étape mardi <à confirmer>")
    pages.click("#note button[type=submit]")
    assert "Note enregistrée." in pages.text()
    assert browser.find_element(By.NAME, "note").get_attribute("value") == (
        "Point d’étape mardi <à confirmer>"
    )
    pages.snap("project-note")

    # Analytics: the advisor's managers, then everyone (an admin).
    pages.click('header nav a[href="/analytics"]')
    text = pages.text()
    assert "Projets commencés" in text
    assert browser.find_element(By.CSS_SELECTOR, "svg.funnel").is_displayed()
    pages.snap("analytics")
    pages.click('.tabs a[href="/analytics?scope=all"]')
    assert "n’est pas affiché" in pages.text()
    pages.snap("analytics-everyone")

    # Signing out ends the session.
    pages.click("header form button")
    browser.get(served["base"] + "/projects")
    assert "Session terminée" in pages.text()
    pages.snap(
        "signed-out",
        expected="/projects - Failed to load resource: the server responded with a status of 401",
    )

    assert len(pages.shots) == 7
    log = served["log"].read_text()
    assert "signed in" in log
    assert served["link"].rsplit("/", 1)[1] not in log
