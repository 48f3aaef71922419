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


def test_misspelt_key_names_the_nearest(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: isegnet\ntrainig: {epochs: 2}\n")
    assert main(["prepare", "--config", str(cfg)]) == 2
    assert "unknown key 'trainig'; did you mean 'training'?" in capsys.readouterr().err


def test_bad_override_and_debug_traceback(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: isegnet\n")
    assert main(["prepare", "--config", str(cfg), "epochs"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        main(["--debug", "prepare", "--config", str(cfg), "epochs"])
