"""The Containerfile, scripts/build_image.sh and the Helm chart agree, without building anything.

Building the image takes minutes (`make image` builds and smoke-tests it); these checks catch a
package left out of the image, a chart pointing at another name or tag, or a uid the pod
cannot run, in milliseconds.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = (REPO / "Containerfile").read_text()
BUILD_SCRIPT = (REPO / "scripts" / "build_image.sh").read_text()
CHART = REPO / "deploy" / "helm" / "aiguilleur"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _values() -> dict[str, object]:
    values: dict[str, object] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _copied() -> set[str]:
    return set(re.findall(r"^COPY (\S+) /app/\1$", CONTAINERFILE, flags=re.MULTILINE))


def test_every_package_of_the_project_and_the_demo_data_are_copied_into_the_image() -> None:
    packages = {
        p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= _copied(), f"not in the image: {sorted(packages - _copied())}"
    assert "data" in _copied()  # `aiguilleur settings` and the demo find data/demo next to the code


def test_the_image_installs_from_the_lock_without_dev_packages() -> None:
    syncs = re.findall(r"uv sync ([^\n\\]+)", CONTAINERFILE)
    assert syncs
    assert all("--frozen" in s and "--no-dev" in s for s in syncs)
    assert "--require-hashes -r /tmp/uv-requirements.txt" in CONTAINERFILE


def test_the_chart_runs_the_image_the_script_builds_with_its_user_and_command() -> None:
    values = _values()
    image = values["image"]
    assert isinstance(image, dict)
    default_image = re.search(r"image=\$\{IMAGE:-([^}]+)\}", BUILD_SCRIPT)
    assert default_image is not None
    assert image["repository"] == default_image.group(1)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == PYPROJECT["project"]["version"]  # the tag the script gives it
    uid = re.search(r"^USER (\d+):(\d+)$", CONTAINERFILE, flags=re.MULTILINE)
    assert uid is not None
    pod = values["podSecurityContext"]
    assert isinstance(pod, dict)
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid.group(1)), int(uid.group(2)))
    assert values["command"] == list(PYPROJECT["project"]["scripts"])  # ["aiguilleur"]
    assert "ENV PATH=/app/.venv/bin:" in CONTAINERFILE
