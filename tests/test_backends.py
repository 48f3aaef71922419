"""Every registry model builds, trains one step and runs under the bfloat16 policy with
the JAX and PyTorch backends of Keras (on the CPU, at tiny hyperparameters).

The backend is fixed when Keras is imported, so each backend runs
``tests/backend_probe.py`` in its own process (``KERAS_BACKEND=jax|torch``); both are
pinned in ``requirements.txt`` (``make install``), and a missing one fails the test
rather than skipping it. JAX compiles
every model with XLA: ``XLA_FLAGS`` lowers XLA's optimisation level for these one-shot
programs (it compiles 3–4× faster; the results are the same functions).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from model_checks import MIXED_RTOL

from kerasgene import models

pytestmark = pytest.mark.slow  # a process per backend (JAX compiles every model)

PROBE = Path(__file__).with_name("backend_probe.py")
FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run_probe(backend: str) -> dict:
    """The probe's report for ``backend`` (the whole registry)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": "", "XLA_FLAGS": FAST_XLA, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(PROBE)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=PROBE.parent)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_model_trains_and_runs_bfloat16_under(backend):
    assert importlib.util.find_spec(backend), f"{backend} is not installed: `make install`"
    report = run_probe(backend)
    assert report["backend"] == backend
    failed = {name: r["error"] for name, r in report["models"].items() if "error" in r}
    assert not failed, failed
    assert sorted(report["models"]) == sorted(models.names())
    for name, r in report["models"].items():
        assert math.isfinite(r["loss"]), (name, r)
        assert r["dtypes"] == ["float32"], (name, r)
        assert r["scale"] > 0, (name, r)  # not all outputs 0: the comparison means something
        assert r["bf16_rel_diff"] <= MIXED_RTOL["bfloat16"], (name, r)
