import os

import pytest

from kerasgene.cli import main
from kerasgene.errors import ConfigError
from kerasgene.models import names


def test_models_lists_the_registry_with_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in names():
        assert name in out
    assert "2,058,199" in out and "9,962,753" in out and "67,634,433" in out
    assert "8,385" in out and "644,177" in out
    assert "sequence(2500, 4)" in out


def test_missing_config_is_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.yaml: config file not found" in err


@pytest.mark.parametrize("command", ["explain", "evaluate"])
def test_only_explain_lets_idle_openmp_threads_sleep(command, tmp_path, monkeypatch, capsys):
    """explain sets OMP_WAIT_POLICY=PASSIVE before TensorFlow's import (TF-MoDISco's numba
    kernels run faster so); other commands leave OpenMP's default (XGBoost fits faster)."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert main([command, "--run", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err
    assert os.environ.get("OMP_WAIT_POLICY") == ("PASSIVE" if command == "explain" else None)


def test_misspelt_key_names_the_nearest(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("system: isegnet\ntrainig: {epochs: 2}\n")
    assert main(["prepare", "--config", str(cfg)]) == 2
    assert "unknown key 'trainig'; did you mean 'training'?" in capsys.readouterr().err


def test_bad_override_and_debug_traceback(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("system: isegnet\n")
    assert main(["prepare", "--config", str(cfg), "epochs"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        main(["--debug", "prepare", "--config", str(cfg), "epochs"])


@pytest.mark.slow  # two fresh processes
def test_tensorflow_start_up_lines_are_filtered_from_stderr(tmp_path):
    """A fresh ``kerasgene evaluate`` process on a folder that is not a run (TensorFlow is
    imported before the command runs, then the command fails at once): TensorFlow's C++
    start-up lines (oneDNN notice, no CUDA driver), which a bare import of TensorFlow
    prints, are dropped; the command's own error line is intact and it exits 2."""
    import subprocess
    import sys

    from kerasgene.cli import TF_START_UP_NOISE

    run = [sys.executable, "-m", "kerasgene"]
    command = ["evaluate", "--run", str(tmp_path)]
    quiet = subprocess.run([*run, *command], capture_output=True, text=True)
    assert quiet.returncode == 2, quiet.stderr
    assert quiet.stderr.splitlines()[-1] == (
        f"kerasgene: error: {tmp_path}: no config.yaml; expected a run directory written by "
        "`kerasgene train`"), quiet.stderr
    assert not [ln for ln in quiet.stderr.splitlines() if TF_START_UP_NOISE.search(ln)], \
        quiet.stderr
    # the lines exist on this CPU-only machine: the filter above had something to remove
    bare = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                           "tf.config.list_physical_devices()"], capture_output=True, text=True)
    assert [ln for ln in bare.stderr.splitlines() if TF_START_UP_NOISE.search(ln)]


def test_demo_jobs_must_be_positive(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--jobs", "0"]) == 2
    assert "--jobs: expected a whole number ≥ 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    """Ctrl-C in any command: `kerasgene COMMAND: interrupted` and 130 (the shell's code
    for SIGINT), not a traceback; `--debug` keeps the traceback."""
    from kerasgene import simulate as sim

    def interrupted(out_dir, seed, scale):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim, "simulate", interrupted)
    assert main(["simulate", "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err.splitlines() == ["kerasgene simulate: interrupted"]
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", "simulate", "--out", str(tmp_path / "o")])


def test_help_says_what_kerasgene_is_and_its_first_commands_parse(capsys):
    """``kerasgene --help`` opens with what the package does (not a developer docstring)
    and ends with a first session whose commands the real parser accepts, naming files
    the repository has."""
    from pathlib import Path

    from kerasgene.cli import EPILOG, build_parser

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "Deep-learning models of gene regulation" in out and "``" not in out
    commands = [line.split()[1:] for line in EPILOG.splitlines()
                if line.startswith("  kerasgene ")]
    assert [c[0] for c in commands] == ["simulate", "train", "explain", "export"]
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    assert (root / "configs" / "isegnet.yaml").is_file() and (root / "docs" / "real_data.md").is_file()
