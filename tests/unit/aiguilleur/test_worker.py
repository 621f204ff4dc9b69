"""The worker's Faust wrapper: logging set up without Faust's terminal spinner."""

from __future__ import annotations

import logging

import faust

from aiguilleur.worker import BoundedWorker
from streams.progress import OffsetProgress


def test_logging_at_warn_leaves_debug_calls_disabled() -> None:
    # Faust's spinner sets the root logger to DEBUG at warn and above: every debug call of
    # aiokafka and Faust (one per record sent) then built a LogRecord for nothing.
    app = faust.App("test-worker-logging", autodiscover=False)
    worker = BoundedWorker(app, shutdown_timeout_s=1.0, progress=OffsetProgress(), quiet=True)
    root = logging.Logger("root-under-test", logging.WARNING)
    root.addHandler(logging.NullHandler())
    worker.on_setup_root_logger(root, logging.WARNING)
    assert root.level == logging.WARNING
    assert not root.isEnabledFor(logging.DEBUG)
    assert len(root.handlers) == 1
