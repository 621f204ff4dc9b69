"""The Faust edge: topics, validation, zone state, planning and publishing."""

from streams.events import SignalPlan, TrafficCount
from streams.topics import TopicNames

__all__ = ["SignalPlan", "TopicNames", "TrafficCount"]
