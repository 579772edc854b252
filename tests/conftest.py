"""Shared pytest configuration."""

from __future__ import annotations


def pytest_configure(config) -> None:
    # Registered here as well as in pyproject.toml so that --strict-markers accepts it
    # whichever configuration a developer runs with.
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server (started from the Debian postgresql package, or GHOSTRNN_TEST_POSTGRES_URL)")
