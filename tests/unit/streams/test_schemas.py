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
