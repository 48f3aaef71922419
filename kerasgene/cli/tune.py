"""``kerasgene tune``: the papers' grid searches with keras-tuner."""

from __future__ import annotations

from kerasgene import tuning_commands


def register(sub) -> None:
    """Add ``tune``."""
    tuning_commands.register(sub)
