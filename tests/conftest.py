"""Shared fixtures: small real files written by the libraries made for them."""

from __future__ import annotations

import os

import numpy as np
import pyfaidx
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_fasta(path, records: dict[str, str], width: int = 60) -> str:
    """Write a FASTA file with fixed line width and index it with pyfaidx."""
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    pyfaidx.Faidx(str(path)).close()
    return str(path)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``kerasgene demo`` once per test session (seed 0, small): the simulated data, one
    trained run per task and the summary, shared by the demo, interpretation and
    notebook tests."""
    from kerasgene.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(out, seed=0, scale="small", verbose=0)
    return out, summary
