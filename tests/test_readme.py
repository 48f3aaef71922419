"""README.md: a new user who follows only the README on a fresh clone reaches a trained
model and an attribution figure.

The tour's shell blocks (``<!-- tour -->`` on the line before the fence) run in order
with ``bash -e``, as a user runs them from the repository root: the working directory is a
temporary one holding links to the checkout's ``configs/`` and ``tuning/`` (all the tour
reads from the root), so everything it writes lands in ``demo_tour/`` there and the
checkout is left untouched. To keep the test short, :data:`QUICK` appends overrides to
the ``train`` and ``tune`` commands (later values win); the commands are otherwise the
README's. Blocks marked ``<!-- tour: needs a running server -->`` are not run, but their
commands must parse with the real argument parser. Every ``kerasgene <subcommand>`` named
in code in README.md or docs/real_data.md must exist, the Python blocks must compile and
their ``from kerasgene... import`` lines resolve, and the example configs must use only
keys kerasgene knows.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kerasgene.cli import build_parser

pytestmark = pytest.mark.demo  # trains a whole system: `make test-fast` skips it


ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REAL_DATA = ROOT / "docs" / "real_data.md"
RUN_MARK = "<!-- tour -->"
SERVER_MARK = "<!-- tour: needs a running server -->"
#: added to tour commands to keep the test short (subcommand → (overrides, options)):
#: KEY=VALUE overrides go after the command's own (later values win), options at the end
QUICK = {
    "train": (["training.epochs=1", "training.steps_per_epoch=10", "training.controls=[]",
               "baselines=[ridge]", "training.verbose=2"], []),
    "tune": (["training.epochs=1", "tuning.max_examples=200"], ["--max-trials", "1"]),
}
#: what the tour must show, in this order (serve and predict are not run)
TOUR_STEPS = ["simulate", "train", "evaluate", "explain", "variants", "export", "serve",
              "predict", "tune"]

_FENCE = re.compile(r"^```(\S*)\s*$")
_SUBCOMMAND = re.compile(r"\bkerasgene((?:\s+-{1,2}[a-z][\w-]*)*)\s+([a-z][a-z_-]*)\b")


# ----------------------------------------------------------------------------- parsing
def code_blocks(path: Path) -> list[tuple[str, str, str]]:
    """(language, marker, text) of every fenced block; ``marker`` is the last non-blank
    line before the opening fence."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        before = [ln.strip() for ln in lines[:i] if ln.strip()]
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append((m.group(1), before[-1] if before else "", "\n".join(lines[i + 1 : end])))
        i = end + 1
    return blocks


def logical_lines(script: str) -> list[str]:
    """Shell lines with backslash continuations joined."""
    out, cur = [], ""
    for line in script.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
        else:
            out.append(cur + line)
            cur = ""
    return [ln for ln in out if ln.strip()]


def kerasgene_argv(line: str) -> list[str] | None:
    """The arguments after ``kerasgene`` of a shell line calling it, else None."""
    argv = shlex.split(line, comments=True)
    return argv[1:] if argv and argv[0] == "kerasgene" else None


def tour_blocks(marker: str) -> list[str]:
    return [text for lang, mark, text in code_blocks(README) if lang == "bash" and mark == marker]


def parse_cli(argv: list[str]):
    """Parse with the real parser; a failure becomes an assertion naming the command."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"README command does not parse: kerasgene {shlex.join(argv)}\n{err.getvalue()}")


def with_quick_overrides(line: str) -> str:
    """``line`` with the :data:`QUICK` arguments of its subcommand, if any. argparse takes
    the KEY=VALUE positionals as one run, so the extra overrides go right after the
    command's last override (tokens that are option values are skipped)."""
    argv = kerasgene_argv(line)
    if not argv or argv[0] not in QUICK:
        return line
    overrides, options = QUICK[argv[0]]
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[argv[0]]
    end, i = 1, 1
    while i < len(argv):
        action = sub._option_string_actions.get(argv[i].split("=", 1)[0])
        if action is not None:
            i += 1 if action.nargs == 0 or "=" in argv[i] else 2
        else:
            i += 1
            end = i
    return shlex.join(["kerasgene", *argv[:end], *overrides, *argv[end:], *options])


# ----------------------------------------------------------------------------- static checks
def test_readme_opens_with_the_two_commands():
    lang, _, text = code_blocks(README)[0]
    assert lang == "bash"
    assert [ln.split()[:2] for ln in text.splitlines()] == [["make", "demo"], ["make", "test"]]


def test_tour_shows_every_step_in_order_and_every_command_parses():
    steps = []
    for block in tour_blocks(RUN_MARK) + tour_blocks(SERVER_MARK):
        for line in logical_lines(block):
            argv = kerasgene_argv(line)
            if argv is not None:
                args = parse_cli(argv)
                steps.append(args.command)
    assert [s for s in TOUR_STEPS if s in steps] == TOUR_STEPS, steps
    run_steps = [kerasgene_argv(ln)[0] for b in tour_blocks(RUN_MARK) for ln in logical_lines(b)
                 if kerasgene_argv(ln)]
    assert run_steps == [s for s in TOUR_STEPS if s not in ("serve", "predict")], run_steps
    assert set(QUICK) <= set(run_steps)


@pytest.mark.parametrize("path", [README, REAL_DATA], ids=lambda p: p.name)
def test_every_kerasgene_subcommand_mentioned_exists(path):
    """In code (fenced blocks other than Python, and inline code spans)."""
    parser = build_parser()
    real = set(next(a for a in parser._actions if a.dest == "command").choices)
    text = path.read_text()
    code = [t for lang, _, t in code_blocks(path) if lang != "python"]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    code += re.findall(r"`([^`\n]+)`", prose)
    named = {m.group(2) for chunk in code for m in _SUBCOMMAND.finditer(chunk)}
    assert named, f"{path.name}: no kerasgene command found"
    assert named <= real, f"{path.name} names unknown subcommands {sorted(named - real)}"


def test_python_blocks_compile_and_their_imports_resolve():
    for lang, _, text in code_blocks(README):
        if lang != "python":
            continue
        tree = ast.parse(text)
        compile(tree, "README.md", "exec")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("kerasgene"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}"), f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)


def _check_config(cfg: dict, where: str) -> None:
    """Top-level, data, sample, training and model keys of an example run config."""
    from kerasgene import models, systems
    from kerasgene.config import TOP_LEVEL_KEYS, check_keys
    from kerasgene.datasets import genome_bins, histone_bins, pairs, regions
    from kerasgene.train import recipes, run_config

    check_keys(cfg, TOP_LEVEL_KEYS, where)
    defaults = {"isegnet": regions.DEFAULTS, "deeprage": pairs.DEFAULTS,
                "chromatin": genome_bins.DEFAULTS, "histone_fcn": histone_bins.DEFAULTS,
                "deepchrome": histone_bins.DEFAULTS}[systems.get(cfg["system"]).name]
    data = cfg.get("data") or {}
    check_keys(data, defaults, f"{where}: data")
    for i, sample in enumerate(data.get("samples") or []):
        check_keys(sample, regions.SAMPLE_KEYS, f"{where}: data.samples[{i}]")
        for name, spec in sample["tracks"].items():
            if isinstance(spec, dict):
                check_keys(spec, regions.TRACK_KEYS, f"{where}: track {name}")
    for cell, spec in (data.get("cells") or {}).items():
        if isinstance(spec, dict) and "marks" in spec:
            check_keys(spec, histone_bins.BIGWIG_CELL_KEYS, f"{where}: cells.{cell}")
    check_keys(cfg.get("training") or {}, {**recipes.TRAINING_DEFAULTS,
                                           **run_config.RUN_TRAINING_KEYS}, f"{where}: training")
    if "model" in cfg:
        assert cfg["model"]["name"] in models.names(), where


@pytest.mark.parametrize("path", [README, REAL_DATA], ids=lambda p: p.name)
def test_example_configs_use_known_keys(path):
    configs = 0
    for i, (lang, _, text) in enumerate(code_blocks(path)):
        if lang != "yaml":
            continue
        cfg = yaml.safe_load(text)
        assert isinstance(cfg, dict), f"{path.name} block {i}"
        if "system" in cfg:
            _check_config(cfg, f"{path.name} block {i}")
            configs += 1
    assert configs >= (1 if path == README else 5)


# ----------------------------------------------------------------------------- the tour
def test_tour_reaches_a_trained_model_and_an_attribution_figure(tmp_path):
    exe = Path(sys.executable).parent / "kerasgene"
    if not exe.exists():
        pytest.skip(f"no kerasgene console script beside {sys.executable}")
    work = tmp_path / "clone"
    work.mkdir()
    for name in ("configs", "tuning"):
        (work / name).symlink_to(ROOT / name)
    script = ["set -e"]
    for block in tour_blocks(RUN_MARK):
        for line in logical_lines(block):
            argv = kerasgene_argv(line)
            step = f"kerasgene {argv[0]}" if argv else line.split()[0]
            script += [f'echo "== $(date +%s) {step}"', with_quick_overrides(line)]
    (tmp_path / "tour.sh").write_text("\n".join(script) + "\n")
    env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    log = tmp_path / "tour.log"
    with open(log, "w") as fh:
        proc = subprocess.run(["bash", "-e", str(tmp_path / "tour.sh")], cwd=work, env=env,
                              stdout=fh, stderr=subprocess.STDOUT, timeout=1200)
    tail = "\n".join(log.read_text().splitlines()[-40:])
    assert proc.returncode == 0, f"the README tour failed:\n{tail}"

    tour = work / "demo_tour"
    run = tour / "runs" / "isegnet"
    assert (run / "model.keras").is_file(), tail
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["r2"]), metrics
    explain = run / "explain"
    assert (explain / "ig_track_profiles.png").stat().st_size > 10_000, tail
    assert list(explain.glob("gene_*.png")), sorted(p.name for p in explain.iterdir())
    assert json.loads((explain / "explain.json").read_text())["ig"]["n_examples"] == 50
    # the hand-written VCF's REF allele is the FASTA's (else the row says ref_mismatch)
    effects = pd.read_csv(run / "variants" / "creb1.tsv", sep="\t")
    assert len(effects) and (effects["status"] == "ok").all(), effects
    assert (effects["gene_id"] == "SIMG000001").all(), effects
    assert (tour / "models" / "isegnet" / "1" / "saved_model.pb").is_file()
    assert (tour / "tuning" / "tour" / "trials.tsv").is_file()
    # nothing written outside demo_tour/
    assert sorted(p.name for p in work.iterdir()) == ["configs", "demo_tour", "tuning"]
