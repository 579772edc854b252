"""A small on-disk JSON cache for measured costs (one file per key, written atomically).

The directory is, in this order: the ``cache_dir`` argument, ``$GHOSTRNN_CACHE``,
``$XDG_CACHE_HOME/ghostrnn-search``, ``~/.cache/ghostrnn-search`` (the same root the
rest of the tool uses), with measured costs under ``measured/``.

Example:
    >>> import tempfile
    >>> from cost_models._diskcache import JsonCache
    >>> cache = JsonCache("demo", tempfile.mkdtemp())
    >>> key = cache.key({"hidden": 64})
    >>> cache.get(key) is None
    True
    >>> cache.put(key, {"instructions": 123}); cache.get(key)
    {'instructions': 123}
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

CACHE_ENV = "GHOSTRNN_CACHE"
APP_NAME = "ghostrnn-search"


def cache_root(cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The cache directory to use (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / APP_NAME


class JsonCache:
    """JSON documents under ``<root>/<namespace>/<key>.json``."""

    def __init__(self, namespace: str, cache_dir: Optional[Union[str, os.PathLike]] = None):
        self.directory = cache_root(cache_dir) / namespace

    @staticmethod
    def key(recipe: dict[str, Any]) -> str:
        """A stable hash of everything that determines the cached value."""
        text = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> Optional[dict[str, Any]]:
        """The stored document, or None when there is none or it is damaged.

        Each file holds its value with a SHA-256 of the value's canonical JSON: a file
        changed on disk is reported in one line on stderr and counts as absent, so the
        value is measured again instead of a wrong figure being trusted.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return _damaged(path, "is not readable JSON")
        if not isinstance(record, dict) or set(record) != {"sha256", "value"} or not isinstance(record["value"], dict):
            return _damaged(path, "has no checksum (an older version's file, or not a cache file)")
        if record["sha256"] != _digest(record["value"]):
            return _damaged(path, "is damaged (its checksum does not match its content)")
        return record["value"]

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Write through a temporary file and a rename, so concurrent workers never see half a file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=key + ".", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                # Round-tripped first, so the checksum is of exactly what a reader will parse.
                value = json.loads(json.dumps(value))
                json.dump({"sha256": _digest(value), "value": value}, stream, sort_keys=True)
            os.replace(temporary, self.path(key))
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _damaged(path: Path, why: str) -> None:
    print(f"search: cached measurement {path} {why}; measuring again", file=sys.stderr)
    return None
