"""Bad options of `kerasgene simulate`, `demo` and `train`, peak-file headers and the hint
for numbers YAML reads as text: one line `kerasgene: error: ...` and exit 2 before any
work, nothing written (docs/bad_input.md). No test trains or simulates: `demo`'s
simulation and training are replaced by stand-ins that fail the test if reached."""

import logging

import pytest

from kerasgene import demo
from kerasgene import simulate as sim
from kerasgene.cli import main
from kerasgene.config import Spec, check_value, yaml_number_hint
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.peaks import read_peaks


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.fixture
def no_work(monkeypatch):
    """`demo` and `simulate` may not simulate nor train: reaching either fails the test."""
    def reached(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(sim, "simulate", reached)
    monkeypatch.setattr(demo, "run_system", reached)
    monkeypatch.setattr(demo, "_run_systems_in_processes", reached)


# ----------------------------------------------------------------------------- simulate
def test_simulate_out_below_a_file_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    out = tmp_path / "f" / "sim"
    assert main(["simulate", "--out", str(out), "--scale", "small"]) == 2
    assert error_line(capsys) == (f"kerasgene: error: simulate --out: {out}: {tmp_path / 'f'} "
                                  "is a file, not a folder; expected a path where a folder "
                                  "can be made")
    assert (tmp_path / "f").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_simulate_library_out_below_a_file(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(InputFileError, match="is a file, not a folder"):
        sim.simulate(tmp_path / "f" / "sim", seed=0, scale="small")


# ----------------------------------------------------------------------------- demo
@pytest.mark.parametrize("systems, expected", [
    ("foo", "demo: unknown system 'foo'; expected one of isegnet, deeprage, chromatin, "
            "histone_fcn"),
    ("isegnet,isegnet", "demo: system 'isegnet' given twice"),
    ("isegnet, deeprage,isegnet", "demo: system 'isegnet' given twice"),
    ("", "demo --systems: no system given (''); expected comma-separated system names"),
    (" , ", "demo --systems: no system given (' , '); expected comma-separated system names"),
])
def test_demo_systems_checked_before_simulating(systems, expected, tmp_path, capsys, no_work):
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--systems", systems, "--jobs", "1"]) == 2
    assert error_line(capsys) == f"kerasgene: error: {expected}"
    assert not out.exists()


def test_demo_systems_with_spaces_are_read(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda out, **kw: seen.update(kw, out=out))
    assert main(["demo", "--out", str(tmp_path / "d"), "--systems", " chromatin , isegnet,",
                 "--jobs", "1"]) == 0
    assert seen["names"] == ["chromatin", "isegnet"] and seen["out"] == tmp_path / "d"


def test_run_demo_checks_names_before_simulating(tmp_path, no_work):
    with pytest.raises(ConfigError, match="demo: unknown system 'foo'"):
        demo.run_demo(tmp_path / "d", names=["isegnet", "foo"])
    with pytest.raises(ConfigError, match="demo: system 'chromatin' given twice"):
        demo.run_demo(tmp_path / "d", names=["chromatin", "chromatin"])
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("below", [False, True])
def test_demo_out_a_file_is_one_line_exit_2(below, tmp_path, capsys, no_work):
    f = tmp_path / "f"
    f.write_text("mine")
    out = f / "d" if below else f
    assert main(["demo", "--out", str(out), "--systems", "isegnet", "--jobs", "1"]) == 2
    expected = (f"{out}: {f} is a file, not a folder; expected a path where a folder can be "
                "made" if below else
                f"{f} is a file; expected a folder (or a path that does not exist yet)")
    assert error_line(capsys) == f"kerasgene: error: demo --out: {expected}"
    assert f.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


# ----------------------------------------------------------------------------- train
@pytest.mark.parametrize("options, expected", [
    (["--timeout", "60"], "train --timeout: stops the --workers processes; expected "
                          "--workers N with it (or no --timeout)"),
    (["--workers", "2", "--timeout", "0"], "train --timeout: expected a number of seconds > 0, "
                                           "got 0.0"),
    (["--workers", "2", "--timeout", "-5"], "train --timeout: expected a number of seconds > 0, "
                                            "got -5.0"),
    (["--workers", "2", "--timeout", "nan"], "train --timeout: expected a number of seconds "
                                             "> 0, got nan"),
])
def test_train_timeout_needs_workers_and_seconds(options, expected, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"system: isegnet\nrun_dir: {tmp_path / 'run'}\n")
    assert main(["train", "--config", str(cfg), *options]) == 2
    assert error_line(capsys) == f"kerasgene: error: {expected}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


# ----------------------------------------------------------------------------- peak files
def test_peak_file_with_a_column_header_is_read(tmp_path, caplog):
    bed = tmp_path / "peaks.bed"
    bed.write_text("# from a tool\nchrom\tstart\tend\tname\tscore\n"
                   "chr1\t100\t200\tp1\t5\nchr1\t10\t20\tp2\t3\nchr2\t0\t5\tp3\t1\n")
    with caplog.at_level(logging.INFO, logger="kerasgene.io.peaks"):
        peaks = read_peaks(bed)
    assert {c: (s.tolist(), e.tolist()) for c, (s, e) in peaks.items()} == {
        "chr1": ([10, 100], [20, 200]), "chr2": ([0], [5])}
    assert f"{bed}:2: skipped a column-header line (chrom start end)" in caplog.text
    spaced = tmp_path / "spaced.bed"
    spaced.write_text("seqnames chromStart chromEnd\nchr1 1 2\n")
    assert read_peaks(spaced)["chr1"][1].tolist() == [2]


def test_a_bigbed_peak_file_is_read(tmp_path):
    """ENCODE ships narrowPeak (and IDR) peaks as bigBed: refused as 'not a text peak
    file (bytes that are not UTF-8)' before; read with pyBigWig now."""
    from real_files import write_bigbed

    sizes = {"chr1": 5000, "chr2": 3000}
    bb = write_bigbed(tmp_path / "peaks.bb", sizes, [("chr1", 400, 900, 7.5),
                                                     ("chr1", 100, 300, 2.0),
                                                     ("chr2", 0, 50, 1.0)])
    peaks = read_peaks(bb)
    assert {c: (s.tolist(), e.tolist()) for c, (s, e) in peaks.items()} == {
        "chr1": ([100, 400], [300, 900]), "chr2": ([0], [50])}


@pytest.mark.parametrize("text, line, got", [
    ("chr1\t1\t2\nchrom\tstart\tend\n", 2, "'start', 'end'"),        # a header, not first
    ("chrom\tstart\tend\nchrom\tstart\tend\nchr1\t1\t2\n", 2, "'start', 'end'"),
    ("chr1\tNA\tNA\nchr1\t1\t2\n", 1, "'NA', 'NA'"),                  # missing values
    ("chr1\tNA\tnan\nchr1\t1\t2\n", 1, "'NA', 'nan'"),
    ("chr1\t1.5\t2\n", 1, "'1.5', '2'"),
])
def test_peak_lines_that_are_no_header_stay_errors(text, line, got, tmp_path):
    bed = tmp_path / "p.bed"
    bed.write_text(text)
    with pytest.raises(InputFileError) as err:
        read_peaks(bed)
    assert str(err.value) == f"{bed}:{line}: start/end must be integers, got {got}"


def test_a_peak_file_of_a_header_only_has_no_interval(tmp_path):
    bed = tmp_path / "p.bed"
    bed.write_text("chrom\tstart\tend\n")
    with pytest.raises(InputFileError, match="no interval"):
        read_peaks(bed)


# ----------------------------------------------------------------------------- YAML numbers
@pytest.mark.parametrize("value, hint", [
    ("5", "; YAML reads a number in quotes as a string: drop the quotes"),
    ("0.5", "; YAML reads a number in quotes as a string: drop the quotes"),
    ("1e-3", "; YAML reads a number without a dot such as 1e-3 as a string: write it with a "
             "dot (e.g. 1.0e-4)"),
    ("1e3", "; YAML reads a number without a dot such as 1e3 as a string: write it with a "
            "dot (e.g. 1.0e-4), or 1000 for a whole number"),
    ("1.5e3", "; YAML reads a number whose exponent has no sign such as 1.5e3 as a string: "
              "write 1.5e+3, or 1500 for a whole number"),
    ("2.5e-3", "; YAML reads a number in quotes as a string: drop the quotes"),
    ("nan", ""), ("inf", ""), ("ten", ""), (5, ""),
])
def test_yaml_number_hint_fits_the_value(value, hint):
    assert yaml_number_hint([value]) == hint


def test_quoted_integer_setting_says_drop_the_quotes(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f'system: isegnet\nrun_dir: {tmp_path / "run"}\ntraining: {{epochs: "5"}}\n')
    assert main(["prepare", "--config", str(cfg)]) == 2
    assert error_line(capsys) == ("kerasgene: error: training.epochs: expected an integer >= 1, "
                                  "got '5'; YAML reads a number in quotes as a string: drop "
                                  "the quotes")
    with pytest.raises(ConfigError, match="with a dot") as err:
        check_value("1e-4", Spec("number", above=0), "training.learning_rate")
    assert "quotes" not in str(err.value)


# ----------------------------------------------------------------------------- overrides
def test_overrides_on_both_sides_of_an_option_are_read():
    """``ablate --config c.yaml run_dir=x --subsets all seed=7``: argparse said
    "unrecognized arguments: seed=7" (exit 2)."""
    from kerasgene.cli import build_parser

    args = build_parser().parse_args(["ablate", "--config", "c.yaml", "run_dir=x",
                                      "--subsets", "all", "seed=7"])
    assert (args.overrides, args.subsets) == (["run_dir=x", "seed=7"], "all")
    args = build_parser().parse_args(["evaluate", "a=1", "--run", "r", "b=2"])
    assert (args.overrides, args.run) == (["a=1", "b=2"], "r")


def test_a_config_naming_another_model_than_the_run_is_warned_about(tmp_path, caplog):
    """``evaluate --config other.yaml`` whose model / training differ from the run's
    config.yaml changed nothing without a word (the same change as an override was warned
    about)."""
    run = tmp_path / "run"
    run.mkdir()
    record = (f"system: isegnet\nrun_dir: {run}\nmodel: {{name: isegnet, hparams: {{k1: 16}}}}\n"
              "training: {epochs: 3}\n")
    (run / "config.yaml").write_text(record)
    other = tmp_path / "other.yaml"
    other.write_text(record.replace("name: isegnet, hparams: {k1: 16}", "name: linear")
                     .replace("epochs: 3", "epochs: 3, batch_size: 8"))
    with caplog.at_level(logging.WARNING, logger="kerasgene.cli._common"):
        assert main(["evaluate", "--config", str(other), "training.epochs=5"]) == 2
    warned = [r.getMessage() for r in caplog.records if r.name == "kerasgene.cli._common"]
    assert warned == [
        "training.epochs=5: not used — the run's model is trained already (retrain with "
        "kerasgene train to change it)",
        f"{other}: model.hparams, model.name, training.batch_size (differ from the run's "
        f"{run / 'config.yaml'}): not used — the run's model is trained already (retrain "
        "with kerasgene train to change them)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kerasgene.cli._common"):
        main(["evaluate", "--config", str(run / "config.yaml")])
    assert not [r for r in caplog.records if r.name == "kerasgene.cli._common"]
