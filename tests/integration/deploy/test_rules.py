"""The alert rules pass promtool's checks and unit tests, and each alert has its runbook."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from .conftest import METRICS, ROOT, RULE_TESTS, RULES, RUNBOOKS

pytestmark = pytest.mark.integration

RUNBOOK_URL = re.compile(r"^https://.+/docs/runbooks/(?P<alert>[A-Za-z]+)\.md$")
# Series that Prometheus itself produces, which alerts may use besides the app's metrics.
PROMETHEUS_SERIES = {"up"}


def alerts() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_promtool_check_rules(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in proc.stdout


def test_promtool_unit_tests(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    tested = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tested
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert firing == {a["alert"] for a in alerts()}


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_has_severity_summary_and_runbook(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"critical", "warning"}
    assert alert["annotations"]["summary"]
    match = RUNBOOK_URL.match(alert["annotations"]["runbook_url"])
    assert match, alert["annotations"]["runbook_url"]
    assert match["alert"] == alert["alert"]
    runbook = RUNBOOKS / f"{alert['alert']}.md"
    assert runbook.is_file(), f"{runbook} is missing"
    assert runbook.read_text().startswith(f"# {alert['alert']}\n")


def test_every_runbook_belongs_to_an_alert() -> None:
    names = {a["alert"] for a in alerts()}
    orphans = {p.stem for p in RUNBOOKS.glob("*.md")} - names
    assert not orphans


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_uses_only_known_series_with_the_chart_selector(alert: dict[str, Any]) -> None:
    promql_parser = pytest.importorskip(
        "promql_parser", reason="promql-parser missing: run scripts/install_ops_tools.sh"
    )
    selectors: list[Any] = []
    promql_parser.walk(
        promql_parser.parse(alert["expr"]),
        lambda node: (
            selectors.append(node) if isinstance(node, promql_parser.VectorSelector) else None
        ),
    )
    assert selectors
    for selector in selectors:
        assert selector.name in METRICS | PROMETHEUS_SERIES, selector.name
        # The chart rewrites exactly this matcher to scope the rule to one release.
        assert 'job="aiguilleur"' in str(selector.matchers), (alert["alert"], selector)
