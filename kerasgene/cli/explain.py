"""``kerasgene explain | ablate | variants``: interpretation of trained runs."""

from __future__ import annotations

from kerasgene.explain import ablation, commands, variant_commands


def register(sub) -> None:
    """Add ``explain``, ``ablate`` and ``variants``."""
    commands.register(sub)
    ablation.register(sub)
    variant_commands.register(sub)
