"""On-disk cache of built networks, keyed by the source's content hash.

A cache file is named ``<stem>-<sha256[:16]>-<settings hash[:8]>-v<MODEL_VERSION>.msgpack``: a
changed source file, changed build settings or a new model version each miss the cache. An
unreadable cache file is ignored (and later overwritten), never trusted.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import tempfile
from pathlib import Path

import msgspec

from graph.model import Network
from graph.settings import BuildSettings

MODEL_VERSION = 5
"""Bump when the builder's output changes for the same input, to invalidate old caches."""

logger = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def settings_hash(settings: BuildSettings) -> str:
    """Hex SHA-256 of the settings, in a key order that does not depend on construction."""
    return hashlib.sha256(msgspec.json.encode(settings, order="sorted")).hexdigest()


def cache_path(cache_dir: Path, source: Path, sha256: str, settings: BuildSettings) -> Path:
    """Where the network built from ``source`` with ``settings`` is cached."""
    stem = source.name.split(".", 1)[0] or "network"
    return (
        cache_dir / f"{stem}-{sha256[:16]}-{settings_hash(settings)[:8]}-v{MODEL_VERSION}.msgpack"
    )


def load_cached(path: Path, sha256: str) -> Network | None:
    """The cached network, or ``None`` when absent, unreadable or built from other bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        logger.warning("event=graph_cache_unreadable path=%s error=%s", path, e)
        return None
    # Decoding creates millions of small objects; with the collector on, each generation-2 pass
    # rescans the whole heap (reloads measured 4x slower in a process already holding a network).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        network = msgspec.msgpack.decode(data, type=Network)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        logger.warning("event=graph_cache_corrupt path=%s error=%s", path, e)
        return None
    finally:
        if was_enabled:
            gc.enable()
    if network.source_sha256 != sha256:
        return None
    return network


def save_cached(path: Path, network: Network) -> None:
    """Write atomically (temporary file, then rename) so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.msgpack.encode(network))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
