"""The network cache: hit when the source is unchanged, miss when it changes, never trust junk."""

from __future__ import annotations

from pathlib import Path

from graph.cache import MODEL_VERSION
from graph.osm import load_network, load_network_with_report
from graph.settings import BuildSettings

from .osm_builder import plain_cross


def test_reload_from_cache_gives_the_same_network(tmp_path: Path) -> None:
    src = plain_cross().write(tmp_path / "x.osm")
    cache = tmp_path / "cache"
    built, r1 = load_network_with_report(src, cache_dir=cache)
    again, r2 = load_network_with_report(src, cache_dir=cache)
    assert not r1.from_cache
    assert r2.from_cache
    assert again == built
    (entry,) = cache.iterdir()
    assert entry.name.startswith(f"x-{built.source_sha256[:16]}-")
    assert entry.name.endswith(f"-v{MODEL_VERSION}.msgpack")


def test_changed_source_or_settings_miss_the_cache(tmp_path: Path) -> None:
    src = tmp_path / "x.osm"
    cache = tmp_path / "cache"
    plain_cross().write(src)
    first = load_network(src, cache_dir=cache)
    plain_cross(arm_m=150).write(src)
    _, report = load_network_with_report(src, cache_dir=cache)
    assert not report.from_cache
    _, report = load_network_with_report(
        src, cache_dir=cache, settings=BuildSettings(join_dist_m=25)
    )
    assert not report.from_cache
    assert len(list(cache.iterdir())) == 3
    assert load_network(src, cache_dir=cache).source_sha256 != first.source_sha256


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    src = plain_cross().write(tmp_path / "x.osm")
    cache = tmp_path / "cache"
    built = load_network(src, cache_dir=cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(b"\x93not a network")
    network, report = load_network_with_report(src, cache_dir=cache)
    assert not report.from_cache
    assert network == built
    assert load_network_with_report(src, cache_dir=cache)[1].from_cache


def test_unwritable_cache_does_not_stop_the_build(tmp_path: Path) -> None:
    src = plain_cross().write(tmp_path / "x.osm")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    network, report = load_network_with_report(src, cache_dir=blocker / "cache")
    assert not report.from_cache
    assert [j.id for j in network.junctions] == ["osm-1"]
