"""End to end on the demo city: a real worker plans from the demo counts, the operator API records
every plan and its inputs, an operator works in headless Chromium (list, inspect, approve, reject,
see the active plan change), every recorded plan replays byte for byte, the trail verifies."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from aiguilleur.replay import floor_now, read_counts, rebase, replay
from aiguilleur.settings import DEMO_DIR, Settings
from audit.errors import RecordNotFound
from streams.events import ActivePlan
from streams.topics import TopicNames
from tests.fixtures import identity
from tests.integration.api.conftest import running_stack
from tests.integration.conftest import collect, connection

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = (
    REPO / "docs" / "img"
    if os.environ.get("AIGUILLEUR_UPDATE_SCREENSHOTS") == "1"
    else Path(os.environ.get("AIGUILLEUR_SCREENSHOTS_DIR", REPO / ".cache" / "screenshots"))
)
"""Where the browser test saves its screenshots: docs/img with AIGUILLEUR_UPDATE_SCREENSHOTS=1
(`make screenshots`), so the operator's guides show the page as it is."""


@pytest.fixture(scope="module")
def city(
    kafka_bootstrap: str, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    with running_stack(
        kafka_bootstrap,
        postgres_server,
        tmp_path_factory.mktemp("city"),
        network=None,  # the demo city
        commune="villeurbanne",
        AIGUILLEUR_LOG_LEVEL="info",
    ) as stack:
        readings = read_counts(DEMO_DIR / "counts.csv.gz", [])
        readings = rebase(readings, floor_now(300))
        first = min(r.interval_end for r in readings)
        # 12 minutes of counts: the first period closes (its end + 60 s lateness), and the second
        readings = [r for r in readings if r.interval_end <= first + timedelta(minutes=11)]
        asyncio.run(replay(readings, connection(kafka_bootstrap), stack.topics.counts, 0))
        yield {**stack.env, "AIGUILLEUR_URL": stack.url}


def _get(env: dict[str, str], path: str, role: str = "operator") -> httpx.Response:
    h = {"Authorization": "Bearer " + identity.token(f"{role}@v", [f"villeurbanne:{role}"])}
    return httpx.get(env["AIGUILLEUR_URL"] + path, headers=h, timeout=30)


def _wait_pending(env: dict[str, str], n: int, timeout_s: float = 240) -> list[dict[str, object]]:
    """At least ``n`` pending recommendations, once the recorder has caught up (the same ids in
    three polls in a row: both periods' plans recorded, the first ones superseded)."""
    deadline = time.monotonic() + timeout_s
    got: list[dict[str, object]] = []
    seen: list[set[str]] = []
    while time.monotonic() < deadline:
        try:
            got = _get(env, "/api/communes/villeurbanne/recommendations").json()
        except httpx.HTTPError:
            got = []
        ids = {str(r["id"]) for r in got} if isinstance(got, list) else set()
        seen = [*seen[-2:], ids]
        if len(ids) >= n and len(seen) == 3 and seen[0] == seen[1] == seen[2]:
            return got
        time.sleep(2)
    raise AssertionError(f"only {len(got)} pending recommendations after {timeout_s} s")


def test_every_recorded_plan_replays_byte_for_byte(city: dict[str, str]) -> None:
    from aiguilleur.operator import replay as replay_plan

    pending = _wait_pending(city, 40)
    os.environ.update({k: v for k, v in city.items() if k.startswith("AIGUILLEUR_")})
    settings = Settings()
    identical = 0
    for rec in pending:
        deadline = time.monotonic() + 60
        while True:  # the inputs record travels on its own topic: it may be recorded later
            try:
                r = replay_plan(settings, str(rec["id"]))
                break
            except RecordNotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert r.identical, (rec["id"], r.published[:200], (r.recomputed or b"")[:200])
        identical += 1
    assert identical == len(pending) >= 40
    out = subprocess.run(
        [sys.executable, "-m", "aiguilleur", "audit", "replay", str(pending[0]["id"])],
        env=city,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("identical")


def test_an_operator_approves_and_rejects_in_a_real_browser(city: dict[str, str]) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        pytest.fail("chromium and chromium-driver are not installed: run scripts/test.sh (apt)")
    pending = _wait_pending(city, 40)
    opts = Options()
    opts.binary_location = CHROMIUM
    profile = Path(city["AIGUILLEUR_STATE_DIR"]).parent / "chromium-profile"
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1100",
        "--lang=fr-FR",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        tok = identity.token("ada@villeurbanne", ["villeurbanne:operator"])
        driver.get(f"{city['AIGUILLEUR_URL']}/?lang=fr#token={tok}")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
        rows = driver.find_elements(By.CSS_SELECTOR, "#pending tbody tr")
        assert len(rows) == len(pending)
        # streets are named by their OSM name tags, not by OSM ids
        assert any(" × " in r.text for r in rows)  # e.g. "Cours Émile Zola × Rue Dedieu"
        assert "osm-" not in driver.find_element(By.ID, "pending").text
        driver.save_screenshot(str(SHOTS / "operator-pending.png"))
        # one with warnings, to see them in French
        warned = {
            str(r["id"])
            for r in _get(city, "/api/communes/villeurbanne/recommendations").json()
            if r["explanation"]["warnings"]
        }
        row = next((r for r in rows if r.get_attribute("data-id") in warned), rows[0])
        row.click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map polyline")) > 1)
        title = driver.find_element(By.ID, "d-title").text
        chosen = row.get_attribute("data-id")
        assert title
        assert "osm-" not in title
        assert driver.find_element(By.ID, "d-text").text
        assert "plan actif" in driver.find_element(By.TAG_NAME, "main").text
        # the junction among its neighbours' streets, not a lone line
        assert len(driver.find_elements(By.CSS_SELECTOR, "#map polyline")) > 2
        warnings = driver.find_element(By.ID, "d-warnings").text
        if chosen in warned:
            assert warnings
            assert "pedestrian" not in warnings
            assert "detector" not in warnings
        assert "en venant d" in driver.find_element(By.ID, "d-approaches").text
        driver.save_screenshot(str(SHOTS / "operator-detail.png"))
        driver.find_element(By.ID, "reason").send_keys("conforme aux comptages")
        driver.find_element(By.ID, "approve").click()
        wait.until(lambda d: "Approuvé" in d.find_element(By.ID, "message").text)
        wait.until(lambda d: title in d.find_element(By.ID, "active").text)
        driver.save_screenshot(str(SHOTS / "operator-approved.png"))
        ids = [
            r.get_attribute("data-id")
            for r in driver.find_elements(By.CSS_SELECTOR, "#pending tbody tr")
        ]
        assert chosen not in ids
        # reject another, with a reason; the page asks for one first
        driver.find_elements(By.CSS_SELECTOR, "#pending tbody tr")[0].click()
        wait.until(lambda d: d.find_element(By.ID, "d-title").text)
        driver.find_element(By.ID, "reject").click()
        assert "motif" in driver.find_element(By.ID, "message").text
        driver.find_element(By.ID, "reason").send_keys("manifestation en centre-ville")
        driver.find_element(By.ID, "reject").click()
        wait.until(lambda d: "Rejeté" in d.find_element(By.ID, "message").text)
        wait.until(lambda d: "manifestation" in d.find_element(By.ID, "history").text)
        driver.find_element(By.ID, "lang").click()
        wait.until(
            lambda d: (
                d.find_element(By.CSS_SELECTOR, "#pending-section h2").text
                == "Pending recommendations"
            )
        )
        driver.save_screenshot(str(SHOTS / "operator-history-en.png"))
        driver.find_elements(By.CSS_SELECTOR, "#pending tbody tr")[0].click()
        wait.until(lambda d: "from the" in d.find_element(By.ID, "d-approaches").text)
        assert "piétons" not in driver.find_element(By.ID, "d-warnings").text
        driver.save_screenshot(str(SHOTS / "operator-detail-en.png"))
    finally:
        driver.quit()
    # the approval is on record: the API's active plan, and the active-plans topic
    active = _get(city, "/api/communes/villeurbanne/active").json()
    assert [a["plan_id"] for a in active] == [chosen]
    recs = asyncio.run(
        collect(
            city["AIGUILLEUR_KAFKA_BOOTSTRAP"],
            TopicNames(city["AIGUILLEUR_TOPIC_NAMESPACE"]).active_plans,
            1,
            timeout_s=60,
        )
    )
    published = msgspec.json.decode(recs[0].value or b"", type=ActivePlan)
    assert (published.plan.plan_id, published.approved_by) == (chosen, "ada@villeurbanne")
    # and the trail verifies with the deployment's key
    out = subprocess.run(
        [sys.executable, "-m", "aiguilleur", "audit", "verify"],
        env=city,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK" in out.stdout
