"""Gene ids matched by one rule (exact id, else the one gene of its version-less stem),
``kerasgene explain --targets`` read once, a blank or space-padded ``--target-motif`` and
the motifs its error suggests, and the MEME suite's ``meme.txt`` as ``--motif-db``
(docs/bad_input.md). Real files in ``tmp_path``, tiny models, the command line
in-process."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

keras = pytest.importorskip("keras")

from test_explain_user_inputs import GENES, deeprage  # noqa: E402, F401 (its fixture)

from kerasgene import systems  # noqa: E402
from kerasgene.cli import main  # noqa: E402
from kerasgene.errors import ConfigError  # noqa: E402
from kerasgene.explain import motifs as M  # noqa: E402
from kerasgene.explain import sequence_analyses as S  # noqa: E402
from kerasgene.explain.options import ExplainOptions, explain_options  # noqa: E402
from kerasgene.explain.run import check_request  # noqa: E402
from kerasgene.io.annotation import gene_id_candidates, gene_stem_index  # noqa: E402


# ----------------------------------------------------------------------------- gene ids
def test_gene_id_candidates_exact_then_the_one_gene_of_its_stem():
    """The rule read_targets, match_gene_ids and select_genes share: the id itself, else
    the ids of its version-less stem (one: a match; several: ambiguous; none: unknown)."""
    ids = ["ENSG1.3", "ENSG2.1_PAR_Y", "ZK1010.1", "ZK1010.2", "ENSG5"]
    by_stem = gene_stem_index(ids)
    assert by_stem["ZK1010"] == ["ZK1010.1", "ZK1010.2"]
    assert gene_id_candidates("ZK1010.1", set(ids), by_stem) == ["ZK1010.1"]  # exact
    assert gene_id_candidates("ENSG1.7", set(ids), by_stem) == ["ENSG1.3"]  # another version
    assert gene_id_candidates("ENSG5.2", set(ids), by_stem) == ["ENSG5"]
    assert gene_id_candidates("ENSG2_PAR_Y", set(ids), by_stem) == ["ENSG2.1_PAR_Y"]
    assert gene_id_candidates("ENSG2", set(ids), by_stem) == []  # the X copy is not the Y's
    assert gene_id_candidates("ZK1010.7", set(ids), by_stem) == ["ZK1010.1", "ZK1010.2"]
    assert gene_id_candidates("HXT1", set(ids), by_stem) == []


# ----------------------------------------------------------------------------- --targets
def test_targets_file_is_read_once_and_its_warnings_logged_once(request, tmp_path, caplog):
    """The check before the analyses read the file and the knockout read it again (a
    large file parsed twice); the check's genes are now what the knockout uses (as
    explain_run passes them), so the warnings are logged once, before any analysis."""
    model, data = request.getfixturevalue("deeprage")  # test_explain_user_inputs', imported
    path = tmp_path / "mig1.txt"
    path.write_text("gene_id\nYAL035C-A.1\nYBL007C\n")
    opts = ExplainOptions(targets=str(path), filters=(0, 1), max_conditions=2)
    with caplog.at_level(logging.WARNING):
        targets = check_request(("knockout",), opts, systems.get("deeprage"), model, data)
        path.unlink()  # not read again
        S.explain_knockout(model, data, tmp_path, opts, np.random.default_rng(0), [], targets)
    assert targets == ["YAL035C-A", "YBL007C"]
    assert caplog.text.count("1 of 3 ids not genes of the run's dataset, left out: "
                             "gene_id") == 1, caplog.text
    assert caplog.text.count("matched without the version suffix") == 1
    genes = pd.read_csv(tmp_path / "knockout_mig1_genes.tsv", sep="\t")
    assert sorted(genes.loc[genes["is_target"], "gene_id"]) == targets


# ----------------------------------------------------------------------------- --target-motif
@pytest.mark.parametrize("motif", ["", "  "])
@pytest.mark.parametrize("with_targets", [True, False], ids=["targets", "alone"])
def test_blank_target_motif_is_an_error(tmp_path, capsys, motif, with_targets):
    """``--target-motif ""`` was ignored without a word (with ``--filters`` the knockout
    ran on them; alone, the flag was dropped)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    (tmp_path / "t.txt").write_text("YAL018C\n")
    extra = ["--targets", str(tmp_path / "t.txt"), "--filters", "0"] if with_targets else []
    assert main(["explain", "--config", str(cfg), "--analyses", "knockout", *extra,
                 "--target-motif", motif]) == 2
    assert capsys.readouterr().err == (
        "kerasgene: error: --target-motif: expected a motif id (a JASPAR ID, or a MOTIF id "
        f"of --motif-db), got {motif!r}\n")
    assert not (tmp_path / "run").exists()


def test_blank_target_motif_in_the_config_or_python_is_an_error():
    with pytest.raises(ConfigError, match=r"^ExplainOptions.target_motif: expected a motif"):
        ExplainOptions(target_motif=" ")


def test_target_motif_is_stripped_of_surrounding_whitespace(tmp_path, capsys):
    """An id pasted with a space (``" MA0337.1 "``) was refused as no motif of the
    database (``' MA0337.1 ' is not a motif``), in the config as on the command line."""
    assert ExplainOptions(target_motif=" MA0337.1\t").target_motif == "MA0337.1"
    assert explain_options({"target_motif": "MA0337.1 "}).target_motif == "MA0337.1"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    (tmp_path / "t.txt").write_text("YAL018C\n")
    assert main(["explain", "--config", str(cfg), "--analyses", "knockout", "--targets",
                 str(tmp_path / "t.txt"), "--target-motif", " MA0337.1 "]) == 2
    assert capsys.readouterr().err == (f"kerasgene: error: {tmp_path / 'run'}: run directory "
                                       "not found\n")  # the motif check passed


# ----------------------------------------------------------------------------- meme.txt
#: MEME 5.3.3's full text output (``meme -mod zoops -nmotifs 14 -minw 6 -maxw 15 -dna
#: -revcomp``, 14 motifs of 15 bp, each with its log-odds and letter-probability matrices,
#: sites and block diagrams), from github.com/ArnaudStigliani/meme, commit
#: a069d2ec9bb30c9032a49b729799e3d223153915, ``meme_out/meme.txt``, unchanged.
MEME_TXT = Path(__file__).parent / "data" / "meme_suite" / "meme.txt"


def _probability_matrices(text: str) -> dict[str, np.ndarray]:
    """``{motif id: (w, 4)}``: the rows after each ``letter-probability matrix: ... w= N``
    line of a meme.txt, under the ``MOTIF <id> MEME-<k>`` header before it."""
    lines, out, motif = text.splitlines(), {}, None
    for k, line in enumerate(lines):
        if line.startswith("MOTIF"):
            motif = line.split()[1]
        elif line.startswith("letter-probability matrix"):
            w = int(re.search(r"\bw=\s*(\d+)", line).group(1))
            out[motif] = np.array([[float(v) for v in row.split()]
                                   for row in lines[k + 1:k + 1 + w]])
    return out


def test_meme_txt_of_the_meme_suite_reads_as_its_probability_matrices():
    """MEME's own meme.txt (not the minimal MEME format) as ``--motif-db``: its 14
    letter-probability matrices, not the log-odds matrices before them, under the ids of
    its ``MOTIF`` lines (the consensus; the name ``MEME-k``)."""
    want = _probability_matrices(MEME_TXT.read_text())
    got = M.meme_motifs(MEME_TXT)
    assert len(got) == 14 and [m.matrix_id for m in got] == list(want)
    assert (got[0].matrix_id, got[0].name) == ("STGTGCTGTCTYCCT", "MEME-1")
    assert [m.width for m in got] == [len(w) for w in want.values()] == [15] * 14
    np.testing.assert_array_equal(got[0].probabilities()[0], [0, 0.666667, 0.333333, 0])
    np.testing.assert_array_equal(got[1].probabilities()[4], [0.166667, 0.5, 0.333333, 0])
    for m in got:
        np.testing.assert_allclose(m.probabilities(), want[m.matrix_id], atol=1e-6)


def test_meme_txt_as_motif_db_on_the_command_line(tmp_path, capsys):
    """``--motif-db meme.txt`` passes the database check (the run is read next), and
    ``--target-motif`` takes its motif ids, naming the id of a ``MEME-k`` name given."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    (tmp_path / "t.txt").write_text("YAL018C\n")
    base = ["explain", "--config", str(cfg), "--analyses", "knockout", "--targets",
            str(tmp_path / "t.txt"), "--motif-db", str(MEME_TXT), "--target-motif"]
    assert main([*base, "STGTGCTGTCTYCCT"]) == 2
    assert capsys.readouterr().err == (f"kerasgene: error: {tmp_path / 'run'}: run directory "
                                       "not found\n")
    assert main([*base, "MEME-2"]) == 2
    assert capsys.readouterr().err == (
        f"kerasgene: error: --target-motif: 'MEME-2' is not a motif of {MEME_TXT} (14 motifs; "
        "those naming it: YWGGSCTCCTCCCAG); expected one of its motif ids\n")


#: --target-motif values absent from a database, and what the error's hint names: the
#: motifs whose id (any case, any JASPAR version) or whole name it is, else those whose id
#: or name is close (difflib ratio >= 0.8). ``MEME-1`` named MEME-10 to MEME-14 too (they
#: hold it as a substring), as motifs "naming it".
HINTS = [
    ("meme", "MEME-1", "those naming it: STGTGCTGTCTYCCT"),
    ("meme", "meme-1", "those naming it: STGTGCTGTCTYCCT"),
    ("meme", "stgtgctgtctycct", "those naming it: STGTGCTGTCTYCCT"),
    ("meme", "STGTGCTGTCTYCC", "the closest: STGTGCTGTCTYCCT (MEME-1)"),
    ("meme", "MEME-2", "those naming it: YWGGSCTCCTCCCAG"),  # as the command line says
    ("jaspar", "MIG1", "those naming it: MA0337.2"),  # as test_explain_user_inputs' check
    ("jaspar", "ma0337.1", "those naming it: MA0337.2"),
    ("jaspar", "MIG", "the closest: MA0339.2 (MIG3), MA0338.2 (MIG2), MA0337.2 (MIG1)"),
    ("jaspar", "RAP1x", "the closest: MA0359.3 (RAP1)"),
    ("jaspar", "MA9999.1", None),
]


@pytest.mark.parametrize("db, value, hint", HINTS, ids=[h[1] for h in HINTS])
def test_target_motif_hint_names_exact_ids_and_names_else_close_ones(db, value, hint):
    motifs, source = ((M.meme_motifs(MEME_TXT), str(MEME_TXT)) if db == "meme" else
                      (M.jaspar_motifs("JASPAR2026", "fungi"), "JASPAR2026 fungi"))
    with pytest.raises(ConfigError) as err:
        S.check_target_motif(value, motifs, source)
    assert str(err.value) == (f"--target-motif: {value!r} is not a motif of {source} "
                              f"({len(motifs)} motifs{f'; {hint}' if hint else ''}); expected "
                              "one of its motif ids")


def test_target_motif_of_the_database_passes_whatever_its_version():
    jaspar, meme = M.jaspar_motifs("JASPAR2026", "fungi"), M.meme_motifs(MEME_TXT)
    for value, motifs in (("MA0337.2", jaspar), ("MA0337.1", jaspar), ("MA0337", jaspar),
                          ("STGTGCTGTCTYCCT", meme)):
        S.check_target_motif(value, motifs, "db")  # no error
