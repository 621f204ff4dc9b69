"""Shared helpers of the deployment checks: where the tools are, and how to render the chart."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "aiguilleur"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "rules_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "aiguilleur.json"
RUNBOOKS = ROOT / "docs" / "runbooks"
INSTALL_HINT = "run scripts/install_ops_tools.sh"

# The one Kubernetes version the chart is rendered for and validated against: recent, and bundled by
# kubernetes-validate. The chart's floor (Chart.yaml kubeVersion) is checked separately.
KUBE_VERSION = "1.34.0"
KUBE_FLOOR = "1.27.0"

# Names the app exports (the histogram's series carry _bucket, _sum and _count suffixes).
METRICS = frozenset(
    {
        "aiguilleur_readings_total",
        "aiguilleur_plans_published_total",
        "aiguilleur_plan_compute_seconds_bucket",
        "aiguilleur_plan_compute_seconds_sum",
        "aiguilleur_plan_compute_seconds_count",
        "aiguilleur_zone_watermark_lag_seconds",
        "aiguilleur_dead_letters_total",
    }
)

# Values every render needs: the Kafka bootstrap (no default) and an image as a registry names it.
REQUIRED: dict[str, Any] = {
    "image": {"repository": "registry.example.org/aiguilleur"},
    "config": {"kafkaBootstrap": "kafka:9092"},
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` over `base`, as Helm merges values files."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def find_tool(name: str) -> str | None:
    """The tool's path: .cache/bin (where the install script puts helm) first, then PATH."""
    local = Path(os.environ.get("AIGUILLEUR_TOOLS_BIN", ROOT / ".cache" / "bin")) / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def required_tool(name: str) -> str:
    """The tool's path, or skip the test, saying how to install it."""
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} not found in .cache/bin or on PATH: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def helm() -> str:
    return required_tool("helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    return required_tool("promtool")


@dataclass(frozen=True)
class Rendered:
    """Result of one `helm template`: exit code, stderr and the parsed manifests."""

    returncode: int
    stderr: str
    manifests: list[dict[str, Any]]

    def kinds(self) -> list[str]:
        return sorted(m["kind"] for m in self.manifests)

    def one(self, kind: str, name_suffix: str = "") -> dict[str, Any]:
        found = [
            m
            for m in self.manifests
            if m["kind"] == kind and m["metadata"]["name"].endswith(name_suffix)
        ]
        assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
        return found[0]


@pytest.fixture(scope="session")
def render(helm: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Rendered]:
    """Render the chart with `values` merged over REQUIRED (written to a values file, so no --set
    escaping); `set_files` are --set-file pairs; `required=False` leaves the required values out."""
    counter = iter(range(1_000_000))

    def _render(
        values: dict[str, Any] | None = None,
        *,
        set_files: dict[str, Path] | None = None,
        required: bool = True,
        release: str = "aiguilleur",
        namespace: str = "traffic",
        kube_version: str = KUBE_VERSION,
    ) -> Rendered:
        merged = merge(REQUIRED if required else {}, values or {})
        values_file = tmp_path_factory.getbasetemp() / f"values-{next(counter)}.yaml"
        values_file.write_text(yaml.safe_dump(merged))
        cmd = [helm, "template", release, str(CHART), "--namespace", namespace]
        cmd += ["--kube-version", kube_version, "--values", str(values_file)]
        for key, path in (set_files or {}).items():
            cmd += ["--set-file", f"{key}={path}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        manifests = (
            [d for d in yaml.safe_load_all(proc.stdout) if d] if proc.returncode == 0 else []
        )
        return Rendered(proc.returncode, proc.stderr, manifests)

    return _render


def assert_restricted(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """A pod that fits the restricted Pod Security Standard: non-root, no API token, a read-only
    root filesystem, no privilege escalation, no capability."""
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sec = container["securityContext"]
    assert sec["readOnlyRootFilesystem"] is True
    assert sec["allowPrivilegeEscalation"] is False
    assert sec["capabilities"]["drop"] == ["ALL"]
