"""The committed JSON Schemas are the ones the code generates, and they accept what the code
accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import msgspec

from streams.events import TrafficCount
from streams.schemas import schema_files, schemas
from streams.topics import TRAFFIC_COUNTS

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def test_committed_schemas_are_up_to_date() -> None:
    for name, text in schema_files().items():
        assert (SCHEMAS / name).read_text() == text, (
            f"schemas/{name} is stale: run `aiguilleur schemas export`"
        )


def test_schema_and_decoder_agree() -> None:
    schema = schemas()[TRAFFIC_COUNTS]
    validator = jsonschema.Draft202012Validator(schema)
    good = {
        "detector_id": "D1",
        "interval_end": "2026-03-10T08:00:00Z",
        "interval_s": 60,
        "count": 3,
    }
    assert not list(validator.iter_errors(good))
    msgspec.json.decode(json.dumps(good), type=TrafficCount)
    for bad in ({**good, "count": -1}, {**good, "interval_s": 0}, {"detector_id": "D1"}):
        assert list(validator.iter_errors(bad))


def _descriptions(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [v for k, v in node.items() if k == "description" and isinstance(v, str)]
        return own + [d for v in node.values() for d in _descriptions(v)]
    if isinstance(node, list):
        return [d for v in node for d in _descriptions(v)]
    return []


def test_descriptions_do_not_depend_on_docstring_wrapping() -> None:
    # msgspec 0.22 and 0.23 wrap Struct docstrings differently; the schemas keep words only.
    found = [d for s in schemas().values() for d in _descriptions(s)]
    assert found
    assert all(d == " ".join(d.split()) for d in found)
