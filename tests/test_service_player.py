"""The web player in headless Chromium (Debian's ``chromium``, driven by Playwright).

Playwright's own browser download is not used: the system browser is launched
by path. The page must play (the audio element's clock advances), show what
plays and update on a track change, skip, and load nothing from elsewhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segue.models import Listener, Track
from service_harness import engine_service
from synthetic import band_shelf

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]  # fmt: skip


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Track]:
    folder = tmp_path_factory.mktemp("player-shelf")
    return band_shelf(folder, 4, name="Tune", seed=40)


def test_the_player_plays_shows_now_playing_and_skips(tracks: list[Track]) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make test installs it)")
    with engine_service(tracks, listener=Listener(talk_level="off")) as (url, _), \
            playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(url + "/")
        page.wait_for_function("window.seguePlayer && window.seguePlayer.session !== null",
                               timeout=20_000)
        page.click("#play")
        page.wait_for_function("document.getElementById('audio').currentTime > 1.5",
                               timeout=30_000)
        titles = {t.tags.title for t in tracks}
        page.wait_for_function("document.getElementById('title').textContent.startsWith('Tune')",
                               timeout=20_000)
        first = page.text_content("#title")
        assert first in titles
        assert page.text_content("#why")
        assert page.locator("#upcoming li").count() >= 1
        page.click("#skip")
        page.wait_for_function(
            f"document.getElementById('title').textContent !== {first!r}", timeout=20_000)
        second = page.text_content("#title")
        assert second in titles and second != first
        assert page.text_content("#answer")  # the interpretation is shown
        page.fill("#request", "play Tune 3")
        page.click("#request-form button")
        page.wait_for_function("document.getElementById('answer').textContent.includes('Tune 3')",
                               timeout=20_000)
        played = page.evaluate("document.getElementById('audio').currentTime")
        assert played > 3
        browser.close()
    assert requested and all(u.startswith(url) for u in requested), requested
