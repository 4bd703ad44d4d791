"""Test-suite configuration: every module in tests/services/ is loaded as a plugin, so
each service helper registers its own session fixtures without editing this file."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"tests.services.{p.stem}"
    for p in (Path(__file__).parent / "services").glob("*.py")
    if p.stem not in ("__init__", "common")
)
