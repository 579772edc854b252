"""Where generated data lives on disk, and how it is written safely.

Generated corpora and cached features go under one directory, chosen in this order:
the ``cache_dir`` argument, the ``GHOSTRNN_CACHE`` environment variable,
``$XDG_CACHE_HOME/ghostrnn-search``, then ``~/.cache/ghostrnn-search``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import torch

from search._errors import DataError

CACHE_ENV = "GHOSTRNN_CACHE"
APP_NAME = "ghostrnn-search"

PathLike = Union[str, os.PathLike]


def cache_root(cache_dir: Optional[PathLike] = None) -> Path:
    """The cache directory to use (created if missing); a DataError if it cannot be written."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(xdg) / APP_NAME
    root = root.expanduser()
    # Checked before any data is generated: a run must not compute for minutes and then
    # fail to store the result.
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=root)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise DataError(
            f"cannot use the cache directory {root} ({error.strerror or error}); set {CACHE_ENV} to a writable folder"
        ) from None
    return root


def fingerprint(recipe: dict[str, Any]) -> str:
    """A short stable hash of everything that determines a cached file's content."""
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# A cache file is this line, then the ``torch.save`` bytes; the line holds their SHA-256,
# so a file changed on disk (a bad sector, a stray write, a partial copy) is noticed
# instead of loading as data that silently trains every model to chance.
CACHE_MAGIC = b"ghostrnn-search cache 1 sha256="
_HEADER_BYTES = len(CACHE_MAGIC) + 64 + 1


def save_tensors(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` with a checksum line, through a temporary file and a rename.

    Several search workers may build the same cache at once; the rename is atomic, so
    a reader sees either nothing or a whole file, never a half-written one.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(CACHE_MAGIC + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n")
            stream.write(body)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is ordinary data
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_tensors(path: Path) -> Optional[dict[str, Any]]:
    """The payload saved at ``path``, or None when there is no usable file.

    A damaged file (checksum differs, truncated, foreign, from an older version) counts
    as absent, with one line on stderr, so the data is rebuilt rather than trusted or
    the run failing on it.
    """
    if not path.is_file():
        return None
    try:
        raw = path.read_bytes()
    except OSError as error:
        return _unusable(path, f"cannot be read ({error.strerror})")
    header, body = raw[:_HEADER_BYTES], raw[_HEADER_BYTES:]
    if not header.startswith(CACHE_MAGIC) or not header.endswith(b"\n"):
        return _unusable(path, "has no checksum (an older version's file, or not a cache file)")
    if hashlib.sha256(body).hexdigest().encode("ascii") != header[len(CACHE_MAGIC) : -1]:
        return _unusable(path, "is damaged (its checksum does not match its content)")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as error:  # the checksum matched, so the file was written so: a foreign payload
        return _unusable(path, f"cannot be loaded ({type(error).__name__})")
    if not isinstance(payload, dict):
        return _unusable(path, "holds no cache payload")
    return payload


def _unusable(path: Path, why: str) -> None:
    print(f"search: cache file {path} {why}; rebuilding it", file=sys.stderr)
    return None
