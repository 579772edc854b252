"""Storage URLs: which are database servers, passwords kept out of sight.

A password in a URL is never printed (:func:`mask_url`) and never put on a child
process's command line (:func:`split_password`); one can also come from
``GHOSTRNN_STORAGE_PASSWORD`` (:func:`with_password_from_env`).

Example:
    >>> mask_url("postgresql://ghostrnn:secret@dbhost/ghostrnn")
    'postgresql://ghostrnn:***@dbhost/ghostrnn'
"""

from __future__ import annotations

import os
import re
from typing import Optional

PASSWORD_ENV = "GHOSTRNN_STORAGE_PASSWORD"


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^/:@]+:)[^@/]*@", r"\1***@", url)


def is_shared_url(url: str) -> bool:
    """A database server URL (PostgreSQL, MySQL, ...), as opposed to a local file."""
    return not url.startswith(("journal:", "sqlite:"))


def with_password_from_env(url: str) -> str:
    """``url`` with the password of ``GHOSTRNN_STORAGE_PASSWORD`` when it has none.

    PostgreSQL needs no help (libpq reads ``PGPASSWORD`` and ``~/.pgpass`` itself);
    this serves MySQL and users who keep one variable for every server. The result
    holds the secret: pass it to the engine only, never print or store it.
    """
    password = os.environ.get(PASSWORD_ENV)
    if not password or not is_shared_url(url):
        return url
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # a malformed URL is reported when the engine parses it
        return url
    if parsed.password is not None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def split_password(url: str) -> tuple[str, Optional[str]]:
    """``(url without its password, the password)``: the password can then travel in
    the environment of a child process instead of its (world-readable) command line."""
    if not is_shared_url(url):
        return url, None
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return url, None
    if parsed.password is None:
        return url, None
    return parsed.set(password=None).render_as_string(hide_password=False), str(parsed.password)
