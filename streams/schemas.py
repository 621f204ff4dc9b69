"""JSON Schemas and the AsyncAPI document of the topics, generated from the event types."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from streams.events import (
    DLQ_HEADER_INDEX,
    DLQ_HEADERS,
    ActivePlan,
    Incident,
    JunctionStateReport,
    LateReadings,
    PlanInputs,
    RecommendationDecision,
    RerouteAdvice,
    SignalDecision,
    SignalEnvelope,
    SignalPlan,
    Suspension,
    TrafficCount,
    TrafficCountBatch,
    ZoneReadings,
)
from streams.topics import (
    ACTIVE_PLANS,
    INCIDENTS,
    INCIDENTS_DLQ,
    JUNCTION_STATES,
    JUNCTION_STATES_DLQ,
    LATE_READINGS,
    PLAN_INPUTS,
    RECOMMENDATION_DECISIONS,
    REROUTE_ADVICE,
    SIGNAL_DECISIONS,
    SIGNAL_ENVELOPES,
    SIGNAL_PLANS,
    SUSPENSIONS,
    TRAFFIC_COUNTS,
    TRAFFIC_COUNTS_BATCH,
    TRAFFIC_COUNTS_DLQ,
    ZONE_READINGS,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _normalise_descriptions(node: Any) -> Any:
    """Collapse every ``description``'s whitespace to single spaces.

    msgspec renders Struct docstrings into descriptions and its line wrapping changed between
    releases (0.22 -> 0.23); the committed schemas must depend on the words, not on how a library
    indents them.
    """
    if isinstance(node, dict):
        return {
            k: " ".join(v.split())
            if k == "description" and isinstance(v, str)
            else _normalise_descriptions(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_normalise_descriptions(v) for v in node]
    return node


def topic_schema(event: type[msgspec.Struct], topic: str, description: str) -> dict[str, Any]:
    """A self-contained JSON Schema (2020-12) for one topic's record value."""
    schema: dict[str, Any] = _normalise_descriptions(msgspec.json.schema(event))
    ref = schema.pop("$ref").split("/")[-1]
    defs = schema.pop("$defs")
    root = defs.pop(ref)
    out: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:aiguilleur:topic:{topic}",
        "title": topic,
        "description": description,
        **root,
    }
    if defs:
        out["$defs"] = defs
    return out


def dead_letter_schema(
    topic: str = TRAFFIC_COUNTS_DLQ, source: str = TRAFFIC_COUNTS
) -> dict[str, Any]:
    """A dead-letter topic keeps the original bytes; the schema documents the headers."""
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:aiguilleur:topic:{topic}",
        "title": topic,
        "description": (
            "Rejected records of " + source + ". Key and value are the original bytes, "
            "unchanged (the value may not be JSON). Why it was rejected travels in the headers."
        ),
        "type": "object",
        "properties": {
            "headers": {
                "type": "object",
                "required": list(DLQ_HEADERS),
                "properties": {
                    **{h: {"type": "string"} for h in DLQ_HEADERS},
                    DLQ_HEADER_INDEX: {
                        "type": "string",
                        "description": "only on a reading rejected from a batch: its index in "
                        "the batch's readings, from 0 (the value is then that reading's bytes)",
                    },
                },
            },
            "key": {"description": "original key bytes"},
            "value": {"description": "original value bytes"},
        },
    }


def schemas() -> dict[str, dict[str, Any]]:
    """Schema per topic name."""
    return {
        TRAFFIC_COUNTS: topic_schema(
            TrafficCount,
            TRAFFIC_COUNTS,
            "Input. One reading per detector per interval, JSON; key = detector id.",
        ),
        TRAFFIC_COUNTS_BATCH: topic_schema(
            TrafficCountBatch,
            TRAFFIC_COUNTS_BATCH,
            "Input. Many readings from one field gateway or controller, JSON; key = gateway id. "
            "Each reading is checked alone: a bad one goes to the dead letters with its index.",
        ),
        LATE_READINGS: topic_schema(
            LateReadings,
            LATE_READINGS,
            "Output. Readings that reached their zone after their control period was planned, "
            "kept rather than dropped, JSON; key = zone id.",
        ),
        SIGNAL_PLANS: topic_schema(
            SignalPlan,
            SIGNAL_PLANS,
            "Output. A recommended plan per junction and control period, JSON; "
            "key = junction id. Proposals only: an operator approves or rejects.",
        ),
        ZONE_READINGS: topic_schema(
            ZoneReadings,
            ZONE_READINGS,
            "Internal. Validated readings of one zone, msgpack; key = zone id.",
        ),
        TRAFFIC_COUNTS_DLQ: dead_letter_schema(),
        SIGNAL_ENVELOPES: topic_schema(
            SignalEnvelope,
            SIGNAL_ENVELOPES,
            "Input, compacted. The live-control envelope an operator approved for a junction "
            "(who, when, bounds), JSON; key = junction id; a tombstone withdraws it. Without "
            "one, a junction gets no live decision.",
        ),
        JUNCTION_STATES: topic_schema(
            JunctionStateReport,
            JUNCTION_STATES,
            "Input. Live detector state of a junction at one instant (queues and approaching "
            "vehicles per movement, current phase, elapsed green), JSON; key = zone id.",
        ),
        SIGNAL_DECISIONS: topic_schema(
            SignalDecision,
            SIGNAL_DECISIONS,
            "Output. A live controller's decision for one junction state (phase to show, when "
            "to ask again, why), checked against the approved envelope it names, JSON; "
            "key = junction id. The log of every live decision.",
        ),
        JUNCTION_STATES_DLQ: dead_letter_schema(JUNCTION_STATES_DLQ, JUNCTION_STATES),
        ACTIVE_PLANS: topic_schema(
            ActivePlan,
            ACTIVE_PLANS,
            "Output of the operator API, compacted. The plan each junction runs because a person "
            "(or an administrator's auto-approval policy) approved it, JSON; key = junction id. "
            "The guardrails bound every new recommendation from it.",
        ),
        RECOMMENDATION_DECISIONS: topic_schema(
            RecommendationDecision,
            RECOMMENDATION_DECISIONS,
            "Output of the operator API. What became of each recommendation (approved, "
            "rejected, expired, superseded), who decided, when and why, JSON; key = junction id.",
        ),
        SUSPENSIONS: topic_schema(
            Suspension,
            SUSPENSIONS,
            "Output of the operator API, compacted. Operators' stops of recommendations or "
            "live control for a junction, a zone or a commune, JSON; key = '<scope>:<target>'; "
            "a tombstone resumes.",
        ),
        PLAN_INPUTS: topic_schema(
            PlanInputs,
            PLAN_INPUTS,
            "Output. What one zone period's plans were computed from (readings, detector sites, "
            "active plans, configuration), JSON; key = zone id. The audit trail keeps it, and "
            "`aiguilleur audit replay` recomputes the plans from it.",
        ),
        INCIDENTS: topic_schema(
            Incident,
            INCIDENTS,
            "Input. A closure or congestion on one road link (or a stretch of one way), "
            "declared by an operator or detected from the counts, JSON; key = incident id. A "
            "record with status 'cleared' ends it.",
        ),
        INCIDENTS_DLQ: dead_letter_schema(INCIDENTS_DLQ, INCIDENTS),
        REROUTE_ADVICE: topic_schema(
            RerouteAdvice,
            REROUTE_ADVICE,
            "Output. A recommended diversion at one decision point around one incident "
            "(alternatives with their share of flow, expected saving, validity, explanation in "
            "English and French), or why none is possible, JSON; key = incident id. Proposals "
            "only: an operator approves or rejects.",
        ),
    }


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3.0 description of the public topics."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    roles = {
        TRAFFIC_COUNTS: "send",
        TRAFFIC_COUNTS_BATCH: "send",
        LATE_READINGS: "receive",
        SIGNAL_PLANS: "receive",
        TRAFFIC_COUNTS_DLQ: "receive",
        SIGNAL_ENVELOPES: "send",
        JUNCTION_STATES: "send",
        SIGNAL_DECISIONS: "receive",
        JUNCTION_STATES_DLQ: "receive",
        ACTIVE_PLANS: "receive",
        RECOMMENDATION_DECISIONS: "receive",
        SUSPENSIONS: "receive",
        PLAN_INPUTS: "receive",
        INCIDENTS: "send",
        INCIDENTS_DLQ: "receive",
        REROUTE_ADVICE: "receive",
    }
    for topic, schema in schemas().items():
        if topic not in roles:
            continue
        cid = topic.replace(".", "_").replace("-", "_")
        channels[cid] = {
            "address": topic,
            "description": schema["description"],
            "messages": {"record": {"payload": {"$ref": f"schemas/{topic}.json"}}},
        }
        operations[f"{roles[topic]}_{cid}"] = {
            "action": roles[topic],
            "channel": {"$ref": f"#/channels/{cid}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "aiguilleur topics",
            "version": "1",
            "description": "Topic names may carry a namespace prefix: '<namespace>.<topic>'.",
        },
        "channels": channels,
        "operations": operations,
    }


def schema_files() -> dict[str, str]:
    """File name -> content, as committed under ``schemas/``."""
    files = {
        f"{t}.json": json.dumps(s, indent=2, sort_keys=True) + "\n" for t, s in schemas().items()
    }
    files["asyncapi.json"] = json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"
    return files
