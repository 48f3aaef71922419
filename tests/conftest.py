"""Shared fixtures: small real files written by the libraries made for them."""

from __future__ import annotations

import gc
import json
import os
import shutil

import numpy as np
import pyfaidx
import pytest

from kerasgene.cli import import_tensorflow_quietly

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow starts here as in the `kerasgene` command (its C++ start-up lines filtered),
# so that whichever test first touches a device — on any xdist worker, in any order — does
# not print them into the stderr that CLI tests read
# the suite's processes (two pytest-xdist workers, the demo's two) share the cores
import_tensorflow_quietly(share_cores=True)


def deepchrome_csv_files(folder, sizes=(("train", 24), ("valid", 8), ("test", 8)),
                         seed: int = 0) -> dict[str, str]:
    """DeepChrome's CSVs (``gene, bin, 5 mark counts, label``, 100 bins per gene) of one
    cell type, one per split, in ``folder``: ``{split: path}``. The label (binary, drawn
    per gene) raises the fourth mark's counts."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n_genes in sizes:
        files[split] = str(folder / f"{split}.csv")
        with open(files[split], "w") as fh:
            for g in range(n_genes):
                label = int(rng.integers(0, 2))
                counts = rng.integers(0, 6, (100, 5)) + 4 * label * (np.arange(5) == 3)
                for b in range(100):
                    fh.write(f"{split}{g:04d},{b + 1}," + ",".join(map(str, counts[b]))
                             + f",{label}\n")
    return files


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


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """A FASTA of one random chromosome, chr1 = S (400 bp), open: ``(Genome, S)`` (the
    variant tests' genome)."""
    from kerasgene.io.genome import Genome

    s = "".join(np.random.default_rng(5).choice(list("ACGT"), 400))
    path = write_fasta(tmp_path_factory.mktemp("g") / "g.fa", {"chr1": s})
    with Genome(path) as g:
        yield g, s


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory):
    """``kerasgene simulate`` once per test session (seed 0, small): ``(folder, truth)``.

    Shared by every test that reads the simulated files (they must not write into the
    folder; derived files such as datasets go to the test's own tmp_path)."""
    from kerasgene.simulate import simulate

    out = tmp_path_factory.mktemp("small_sim") / "data"
    return out, simulate(out, seed=0, scale="small")


@pytest.fixture(scope="session")
def small_isegnet_dataset(tmp_path_factory, small_sim):
    """An iSEGnet dataset of the session's simulation with short windows (TSS −100/+50, TTS
    ±50; one sample): the dataset of the tuning tests' small searches. Its path."""
    from kerasgene.datasets import build

    sim = small_sim[0]
    tracks = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")
    iseg = {"gtf": str(sim / "genes.gtf"), "fasta": str(sim / "genome.fa"),
            "samples": [{"name": "simA_rep1",
                         "expression": str(sim / "isegnet" / "expression_tpm.tsv"),
                         "expression_column": "simA_rep1",
                         "tracks": {t: str(sim / "isegnet" / "simA_rep1" / f"{t}.bigWig")
                                    for t in tracks}}],
            "tss_flank": [100, 50], "tts_flank": [50, 50]}
    return build("isegnet", iseg, tmp_path_factory.mktemp("small_isegnet") / "iseg",
                 progress=False).path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, small_sim, worker_id):
    """``kerasgene demo`` once per test session (seed 0, small) on the session's simulated
    data, two systems at a time (``--jobs 2``): one trained run per system and the summary,
    shared by the demo, interpretation and notebook tests.

    Under pytest-xdist the first worker to ask trains it into the session's shared temporary
    folder, holding a file lock; the others wait on the lock and read it."""
    from filelock import FileLock

    from kerasgene.demo import run_demo

    def train(out):
        (out / "data").symlink_to(small_sim[0], target_is_directory=True)
        return run_demo(out, seed=0, scale="small", verbose=0, jobs=2)

    if worker_id == "master":
        out = tmp_path_factory.mktemp("demo")
        return out, train(out)
    out = tmp_path_factory.getbasetemp().parent / "demo"
    with FileLock(f"{out}.lock"):
        if not (out / "trained").exists():
            shutil.rmtree(out, ignore_errors=True)  # a worker that failed half-way
            out.mkdir()
            train(out)
            (out / "trained").touch()
        return out, json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="session")
def truth(demo_run):
    """The demo run's truth.json (the planted ground truth)."""
    return demo_run[0] / "data" / "truth.json"


def cli_error(capsys, *argv) -> str:
    """Run the CLI in-process; assert exit 2 with one line on stderr; return the message
    (without ``kerasgene: error: ``)."""
    from kerasgene import cli

    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("kerasgene: error: "), err
    return err.removeprefix("kerasgene: error: ").strip()


def prepare_fails(tmp_path, capsys, system: str, model: str, data: dict) -> str:
    """``kerasgene prepare`` (in-process) of a run config of ``system`` with this ``data:``
    section, which must fail: exit 2, one line on stderr, no run folder. Returns the line."""
    import yaml

    config = {"system": system, "seed": 0, "run_dir": str(tmp_path / "run"), "data": data,
              "model": {"name": model}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    err = "kerasgene: error: " + cli_error(capsys, "prepare", "--config", str(tmp_path / "run.yaml"))
    assert not (tmp_path / "run").exists()
    return err + "\n"


def explain_demo_run(run, truth, out, *args) -> dict:
    """``kerasgene explain`` (in-process) on a demo run against ``truth``; its
    explain.json."""
    from kerasgene import cli

    rc = cli.main(["explain", "--run", str(run), "--out", str(out), "--truth", str(truth),
                   *args])
    assert rc == 0
    return json.loads((out / "explain.json").read_text())


#: the modules that take longest in a full run (seconds in the suite of stop 28), handed
#: out first within their group below, so that the short modules fill both workers at the
#: end instead of one worker finishing a long module alone
LONGEST_FIRST = ("test_explain_demo_modisco.py",  # TF-MoDISco on the demo TP, 139 s
                 "test_readme.py",  # the README tour in a shell, 155 s
                 "test_tuning.py", "test_scale_out.py",  # worker processes, 110 s / 99 s
                 "test_backends.py", "test_serving.py", "test_simulate.py", "test_runs.py")


def pytest_collection_modifyitems(config, items):
    """Modules whose tests read the shared demo run, whole, in the order pytest-xdist's
    ``--dist loadscope --no-loadscope-reorder`` hands out modules (one module to one
    worker): tests/test_demo.py first — the worker that takes it trains the demo while the
    other runs the modules that do not need it — and the other modules that read the run
    last; within each group the modules of :data:`LONGEST_FIRST` first. (``--dist
    loadgroup`` would group by marker, but pytest-xdist 3.8 cannot tag the node ids of
    pytest 9, so its groups were split over the workers: both waited for the demo.)"""
    demo_modules = {item.path for item in items if "demo_run" in item.fixturenames}
    first, rest, last = [], [], []
    for item in items:
        if item.path not in demo_modules:
            rest.append(item)
        else:
            (first if item.path.name == "test_demo.py" else last).append(item)

    def longest_first(group: list) -> list:
        rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
        return sorted(group, key=lambda item: rank.get(item.path.name, len(rank)))

    items[:] = first + longest_first(rest) + longest_first(last)


# Python's full garbage collections — its own, and the ``gc.collect()`` of every
# ``keras.backend.clear_session()``, of keras-tuner before each trial and of
# ``kerasgene.models.describe`` — traverse every object of the process: 0.25–0.5 CPU-s
# each once TensorFlow and Keras are imported (half a million objects that live as long as
# the process). tests/test_tuning.py's own process spent 15 CPU-s in them. What lives on
# is frozen out of the collector's sight (gc.freeze) once collection has imported every
# test module and again after each module's last test (its module fixtures finalised), each
# time right after a collection, so that nothing frozen is garbage: 1.3 CPU-s in
# test_tuning.py; over nine modules in one process 4.9 instead of 14.6, at the same peak
# memory (2.9 GB). Objects made later are collected as before; a frozen object that later
# becomes unreachable is freed by its reference count, not by the collector (a cycle of
# them would stay: the price is memory, which did not grow here).
def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session):
    _collect_and_freeze()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or nextitem.path != item.path:
        _collect_and_freeze()
