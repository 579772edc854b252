"""Where generated data lives on disk, and how it is written safely.

Generated corpora and cached features go under one directory, chosen in this order:
the ``cache_dir`` argument, the ``GHOSTRNN_CACHE`` environment variable,
``$XDG_CACHE_HOME/ghostrnn-search``, then ``~/.cache/ghostrnn-search``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import torch

CACHE_ENV = "GHOSTRNN_CACHE"
APP_NAME = "ghostrnn-search"

PathLike = Union[str, os.PathLike]


def cache_root(cache_dir: Optional[PathLike] = None) -> Path:
    """The cache directory to use (created if missing)."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(xdg) / APP_NAME
    root = root.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def fingerprint(recipe: dict[str, Any]) -> str:
    """A short stable hash of everything that determines a cached file's content."""
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def save_tensors(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` through a temporary file and a rename.

    Several search workers may build the same cache at once; the rename is atomic, so
    a reader sees either nothing or a whole file, never a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is ordinary data
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_tensors(path: Path) -> Optional[dict[str, Any]]:
    """The payload saved at ``path``, or None when there is no usable file.

    A truncated or foreign file counts as absent, so the data is rebuilt rather than
    the run failing on a damaged cache.
    """
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None
