"""End to end on the demo city: a real worker plans from the demo counts, the operator API records
every plan and its inputs, an operator works in headless Chromium (list, inspect, approve, reject,
see the active plan change), every recorded plan replays byte for byte, the trail verifies."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from aiguilleur.replay import floor_now, read_counts, rebase, replay
from aiguilleur.settings import DEMO_DIR, Settings
from audit import signing
from audit.errors import RecordNotFound
from streams.events import ActivePlan
from streams.topics import TopicNames
from tests.fixtures import identity
from tests.integration.conftest import WorkerProcess, collect

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("AIGUILLEUR_SCREENSHOTS_DIR", REPO / ".cache" / "screenshots"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def city(
    kafka_bootstrap: str, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    import psycopg

    tmp = tmp_path_factory.mktemp("city")
    schema = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # generated name
    key = signing.generate()
    (tmp / "audit.pem").write_bytes(signing.private_pem(key))
    (tmp / "jwks.json").write_text(msgspec.json.encode(identity.jwks()).decode())
    tag = "t" + uuid.uuid4().hex[:10]
    port = _free_port()
    env = {
        **os.environ,
        "AIGUILLEUR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AIGUILLEUR_APP_ID": tag,
        "AIGUILLEUR_TOPIC_NAMESPACE": tag,
        "AIGUILLEUR_COMMUNE": "villeurbanne",
        "AIGUILLEUR_METRICS_PORT": "0",
        "AIGUILLEUR_STATE_DIR": str(tmp / "state"),
        "AIGUILLEUR_SESSION_TIMEOUT_S": "6",
        "AIGUILLEUR_DATABASE_URL": f"{postgres_server}?options=-csearch_path%3D{schema}",
        "AIGUILLEUR_OIDC_ISSUER": identity.ISSUER,
        "AIGUILLEUR_OIDC_JWKS_FILE": str(tmp / "jwks.json"),
        "AIGUILLEUR_AUDIT_SIGNING_KEY_FILE": str(tmp / "audit.pem"),
        "AIGUILLEUR_AUDIT_CHECKPOINT_S": "5",
        "AIGUILLEUR_API_PORT": str(port),
        "AIGUILLEUR_URL": f"http://127.0.0.1:{port}",
    }
    worker = WorkerProcess(env, tmp / "worker")
    worker.start()
    api_log = (tmp / "api.log").open("wb")
    api = subprocess.Popen(
        [sys.executable, "-m", "aiguilleur", "api"],
        env=env,
        stdout=api_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        readings = read_counts(DEMO_DIR / "counts.csv.gz", [])
        readings = rebase(readings, floor_now(300))
        first = min(r.interval_end for r in readings)
        # 12 minutes of counts: the first period closes (its end + 60 s lateness), and the second
        readings = [r for r in readings if r.interval_end <= first + timedelta(minutes=11)]
        asyncio.run(replay(readings, kafka_bootstrap, TopicNames(tag).counts, 0))
        yield env
    finally:
        for p in (api,):
            p.terminate()
            p.wait(30)
        worker.stop()
        api_log.close()
        sys.stderr.write((tmp / "api.log").read_text(errors="replace")[-3000:])


def _get(env: dict[str, str], path: str, role: str = "operator") -> httpx.Response:
    h = {"Authorization": "Bearer " + identity.token(f"{role}@v", [f"villeurbanne:{role}"])}
    return httpx.get(env["AIGUILLEUR_URL"] + path, headers=h, timeout=30)


def _wait_pending(env: dict[str, str], n: int, timeout_s: float = 240) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    got: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        try:
            got = _get(env, "/api/communes/villeurbanne/recommendations").json()
        except httpx.HTTPError:
            got = []
        if isinstance(got, list) and len(got) >= n:
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
        rows[0].click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map polyline"))
        title = driver.find_element(By.ID, "d-title").text
        chosen = rows[0].get_attribute("data-id")
        assert title
        assert "osm-" not in title
        assert driver.find_element(By.ID, "d-text").text
        assert "plan actif" in driver.find_element(By.TAG_NAME, "main").text
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
