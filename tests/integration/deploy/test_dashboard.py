"""Every PromQL expression of the Grafana dashboard parses and uses only the app's metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import DASHBOARD, METRICS

pytestmark = pytest.mark.integration

promql_parser = pytest.importorskip(
    "promql_parser", reason="promql-parser missing: run scripts/install_ops_tools.sh"
)

# Grafana variables and what they stand for at query time (a multi-value variable is a regex).
GRAFANA_VARIABLES = {
    "$__rate_interval": "2m",
    "$__interval": "30s",
    "$__range": "6h",
    "$namespace": "lyon|villeurbanne",
    "$job": ".*",
}
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def targets() -> list[tuple[str, str]]:
    return [
        (f"{panel['title']}/{target['refId']}", target["expr"])
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def substitute(expr: str) -> str:
    # Longest names first: $__rate_interval before $__range.
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()
    promql_parser.walk(
        promql_parser.parse(expr),
        lambda node: (
            names.add(node.name) if isinstance(node, promql_parser.VectorSelector) else None
        ),
    )
    return names


def test_dashboard_has_queries() -> None:
    assert len(targets()) >= 8


@pytest.mark.parametrize(("where", "expr"), targets(), ids=[t[0] for t in targets()])
def test_panel_expression_parses_and_uses_only_app_metrics(where: str, expr: str) -> None:
    try:
        names = metric_names(substitute(expr))
    except ValueError as e:
        pytest.fail(f"{where}: {expr!r} does not parse: {e}")
    assert names, where
    assert names <= METRICS, f"{where}: unknown metrics {names - METRICS}"


def test_every_app_metric_is_on_the_dashboard() -> None:
    used = set().union(*(metric_names(substitute(expr)) for _, expr in targets()))
    # The histogram counts as shown if any of its series is.
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}
    expected = {re.sub(r"_(bucket|sum|count)$", "", name) for name in METRICS}
    assert shown == expected


def test_template_variable_queries_parse() -> None:
    variables = [v for v in dashboard()["templating"]["list"] if v["type"] == "query"]
    assert {v["name"] for v in variables} == {"namespace", "job"}
    for variable in variables:
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match, variable["query"]
        assert metric_names(substitute(match["selector"])) <= METRICS


def test_panels_use_the_datasource_variable_and_have_unique_ids() -> None:
    all_panels = list(panels(dashboard()["panels"]))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids))
    for panel in all_panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard()["panels"]):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
