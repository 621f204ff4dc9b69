"""Replace shared libraries that several wheels bundle byte for byte by symlinks to one copy.

Run by the Containerfile's build stage on /app/.venv. auditwheel puts each wheel's private copies of
system libraries in ``<package>.libs/``; eclipse-sumo and libsumo bundle the same 230 MB there. A
hard link would do, but a multi-stage COPY does not keep hard links; a symlink survives it, and the
dynamic loader follows it. Only ``*.libs/*.so*`` files are touched.

    python image_dedupe.py /app/.venv
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def dedupe(root: Path) -> tuple[int, int]:
    """Symlink every duplicate to the first copy (in sorted path order); (files, bytes) saved."""
    first: dict[tuple[int, str], Path] = {}
    files = saved = 0
    for path in sorted(root.glob("**/*.libs/*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        key = (size, _digest(path))
        kept = first.setdefault(key, path)
        if kept == path:
            continue
        path.unlink()
        path.symlink_to(os.path.relpath(kept, path.parent))
        files += 1
        saved += size
    return files, saved


if __name__ == "__main__":
    n, size = dedupe(Path(sys.argv[1]))
    sys.stderr.write(f"image_dedupe: {n} duplicate libraries linked, {size / 1e6:.0f} MB saved\n")
