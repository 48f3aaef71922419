"""A user's own files and values given to ``kerasgene explain``: MEME motif databases as
JASPAR, HOCOMOCO and the MEME suite write them (and other motif formats passed by
mistake), ``--targets`` gene lists, ``--target-motif`` and ``--compare`` runs
(docs/bad_input.md). The checks are called on real files in ``tmp_path`` and tiny models;
the command-line cases stop before the run is read."""

from __future__ import annotations

import gzip
import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

keras = pytest.importorskip("keras")

from kerasgene import systems  # noqa: E402
from kerasgene.cli import main  # noqa: E402
from kerasgene.errors import ConfigError, InputFileError  # noqa: E402
from kerasgene.explain import knockout as K  # noqa: E402
from kerasgene.explain import motifs as M  # noqa: E402
from kerasgene.explain import sequence_analyses as S  # noqa: E402
from kerasgene.explain.options import ExplainOptions  # noqa: E402
from kerasgene.explain.run import check_request, summary_lines  # noqa: E402

HEAD = ("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\n"
        "A 0.25 C 0.25 G 0.25 T 0.25\n\n")


@pytest.fixture(scope="module")
def jaspar():
    """Three fungal JASPAR matrices (pyjaspar)."""
    return M.jaspar_motifs("JASPAR2026", "fungi")[:3]


def jaspar_download(motifs, w_delta: int = 0) -> str:
    """JASPAR's MEME download (``JASPAR2024_CORE_non-redundant_pfms_meme.txt``): rows of
    six decimals, a ``URL`` line after each matrix; ``w_delta`` added to each ``w=``."""
    text = HEAD
    for m in motifs:
        p = m.probabilities()
        text += (f"MOTIF {m.matrix_id} {m.name}\nletter-probability matrix: alength= 4 "
                 f"w= {len(p) + w_delta} nsites= {int(m.counts[0].sum())} E= 0\n")
        text += "".join("  " + "  ".join(f"{v:.6f}" for v in r) + "\n" for r in p)
        text += f"URL http://jaspar.genereg.net/matrix/{m.matrix_id}\n\n"
    return text


def jaspar2meme(motifs) -> str:
    """The MEME suite's ``jaspar2meme`` layout: a blank line after the MOTIF line,
    tab-ended values, a blank line before the URL."""
    text = HEAD
    for m in motifs:
        p = m.probabilities()
        text += (f"MOTIF {m.matrix_id} {m.name}\n\nletter-probability matrix: alength= 4 "
                 f"w= {len(p)} nsites= 20 E= 0\n")
        text += "".join("".join(f"  {v:.6f}\t" for v in r) + "\n" for r in p)
        text += f"\nURL http://jaspar.genereg.net/matrix/{m.matrix_id}\n\n"
    return text


def hocomoco11(motifs) -> str:
    """HOCOMOCO v11's MEME file: ``MOTIF AHR_HUMAN.H11MO.0.B`` (no name), 3 decimals."""
    text = HEAD
    for m in motifs:
        p = m.probabilities()
        text += (f"MOTIF {m.name.upper()}_HUMAN.H11MO.0.A\n\nletter-probability matrix: "
                 f"alength= 4 w= {len(p)} nsites= 500 E= 0\n")
        text += "".join(" ".join(f"{v:.3f}" for v in r) + "\n" for r in p) + "\n"
    return text


@pytest.mark.parametrize("layout", ["jaspar", "jaspar2meme", "hocomoco11", "crlf", "gzip"])
def test_published_meme_layouts_read_as_their_matrices(jaspar, tmp_path, layout):
    text = {"jaspar2meme": jaspar2meme, "hocomoco11": hocomoco11}.get(
        layout, jaspar_download)(jaspar)
    path = tmp_path / "db.meme"
    if layout == "crlf":
        path.write_bytes(text.replace("\n", "\r\n").encode())
    elif layout == "gzip":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    got = M.meme_motifs(path)
    assert [m.width for m in got] == [m.width for m in jaspar]
    for a, b in zip(got, jaspar, strict=True):
        np.testing.assert_allclose(a.probabilities(), b.probabilities(), atol=1e-3)
    if layout == "hocomoco11":
        assert got[0].matrix_id == got[0].name == f"{jaspar[0].name.upper()}_HUMAN.H11MO.0.A"


@pytest.mark.parametrize("edit, message", [
    # memelite read the first w rows and dropped the rest: 6-wide motifs read 4 wide
    (lambda t, ms: jaspar_download(ms, w_delta=-2), "motif 'MA{}' (line 11): w= {w-2} but {w} "
     "rows; expected as many rows as w= gives"),
    (lambda t, ms: jaspar_download(ms, w_delta=+2), "motif 'MA{}' (line 11): w= {w+2} but {w} "
     "rows"),
    (lambda t, ms: t.replace(" w= ", " w= 0 x= ", 1), "motif 'MA{}' (line 11): w= 0; expected "
     "the motif's width as 'w= N' (N >= 1)"),
    (lambda t, ms: t.replace(" w= ", " width= ", 1), "w= (missing); expected the motif's width"),
    (lambda t, ms: t.replace("alength= 4", "alength= 20"), "alength= 20; expected DNA motifs "
     "(alength= 4: A, C, G, T)"),
    (lambda t, ms: t.replace("\n  ", "\n  0.0  ", 1), "(line 11), line 12: 5 numbers; "
     "expected 4 (the probabilities of A, C, G, T)"),
    (lambda t, ms: t.replace("E= 0\n", "E= 0\n\n", 1), "(line 11): a blank line after it; "
     "expected the matrix rows right after the 'letter-probability matrix:' line"),
])
def test_meme_matrix_shapes(jaspar, tmp_path, edit, message):
    """A ``w=`` other than the rows (memelite: a motif cut short without a word, or its
    own error naming no motif), no or zero ``w=``, another ``alength``, a row of 5
    numbers, a blank line before the rows."""
    path = tmp_path / "bad.meme"
    path.write_text(edit(jaspar_download(jaspar), jaspar))
    w = jaspar[0].width
    message = message.replace("MA{}", jaspar[0].matrix_id).replace("{w-2}", str(w - 2)) \
        .replace("{w+2}", str(w + 2)).replace("{w}", str(w))
    with pytest.raises(InputFileError) as err:
        M.meme_motifs(path)
    assert str(err.value).startswith(f"{path}: not a readable MEME motif file: ")
    assert message in str(err.value), str(err.value)


@pytest.mark.parametrize("fmt, looks", [
    ("jaspar", "a JASPAR .jaspar/.pfm, HOMER .motif or FASTA-style file: its first line "
               "starts with '>': '>MA"),
    ("pfm", "a bare matrix, as in a JASPAR .pfm file"),
    ("transfac", "a TRANSFAC-style file"),
    ("homer", "a JASPAR .jaspar/.pfm, HOMER .motif or FASTA-style file"),
    ("empty", "an empty file"),
])
def test_other_motif_formats_passed_as_motif_db(jaspar, tmp_path, capsys, fmt, looks):
    """Biopython writes JASPAR, .pfm and TRANSFAC matrices; a HOMER .motif file; an empty
    file: refused in one line (exit 2) that says what the file looks like."""
    from Bio import motifs as BM

    bio = []
    for m in jaspar:
        b = BM.Motif(counts={base: list(m.counts[:, i]) for i, base in enumerate("ACGT")})
        b.matrix_id, b.name = m.matrix_id, m.name
        bio.append(b)
    path = tmp_path / f"db.{fmt}"
    if fmt == "homer":
        path.write_text(f">TGACTCA\t{jaspar[0].matrix_id}\t6.0\n" + "".join(
            "\t".join(f"{v:.3f}" for v in r) + "\n" for r in jaspar[0].probabilities()))
    else:
        path.write_text("" if fmt == "empty" else BM.write(bio[:1] if fmt == "pfm" else bio,
                                                           fmt))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    assert main(["explain", "--config", str(cfg), "--analyses", "motifs",
                 "--motif-db", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kerasgene: error: {path}: no MOTIF line ({looks}") and \
        err.count("\n") == 1, err
    assert "expected a MEME motif file" in err and not (tmp_path / "run").exists()


def test_target_motif_not_in_the_database_is_refused_before_the_run_is_read(tmp_path,
                                                                             capsys):
    """A --target-motif no motif of the database has knocked nothing out (a note in
    knockout.tsv, nothing on the terminal, exit 0)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    (tmp_path / "t.txt").write_text("YAL001C\n")
    base = ["explain", "--config", str(cfg), "--analyses", "knockout", "--targets",
            str(tmp_path / "t.txt")]
    assert main([*base, "--target-motif", "MIG1"]) == 2
    assert capsys.readouterr().err == (
        "kerasgene: error: --target-motif: 'MIG1' is not a motif of JASPAR2026 fungi (193 "
        "motifs; those naming it: MA0337.2); expected one of its motif ids\n")
    assert main([*base, "--target-motif", "MA0337.1"]) == 2  # another version: the run
    assert "run directory not found" in capsys.readouterr().err


def test_unmatched_target_motif_is_reported():
    lines = summary_lines({"settings": {"q_threshold": 0.1},
                           "knockout": {"rows": [], "unmatched": ["MA0337.2"]}})
    assert lines == ["knockout MA0337.2: no filter matches its motif at q <= 0.1; nothing "
                     "knocked out"]


# ----------------------------------------------------------------------------- --targets
GENES = ["YAL018C", "YAL019W", "YAL035C-A", "YBL007C", "YBL030C", "YBR018C", "YBR020W",
         "YCR012W"]


def test_target_ids_longer_than_every_gene_id_are_not_cut_to_fit():
    """np.isin on the genes' '<U9' dtype cut 'YAL035C-A.1' to 'YAL035C-A', a target."""
    got = K.knockout_test(np.array(GENES), np.arange(8.0), ["YAL035C-A.1", "YBL007C"])
    assert got.n_targets == 1


def test_target_file_header_crlf_duplicates_unknown_and_versions(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_bytes(b"gene_id\r\n# MIG1 targets\r\nYAL035C-A.1\r\n\r\nYBL007C\tMIG1\r\n"
                     b"YBL007C\r\nYZZ999W\r\n")
    targets, notes = S.read_targets(path, GENES)
    assert targets == ["YAL035C-A", "YBL007C"]
    assert notes == [
        f"{path}: 1 id(s) listed more than once, counted once: YBL007C",
        f"{path}: 1 id(s) matched without the version suffix: YAL035C-A.1 as YAL035C-A",
        f"{path}: 2 of 4 ids not genes of the run's dataset, left out: gene_id, YZZ999W"]
    path.write_bytes(gzip.compress(b"YBL007C\n"))
    assert S.read_targets(path, GENES) == (["YBL007C"], [])


@pytest.mark.parametrize("text, message", [
    ("HXT1\nSUC2\n", "none of its 2 ids is a gene of the run's dataset (file: HXT1, SUC2; "
                     "dataset: YAL018C, YAL019W, YAL035C-A, ...); expected the dataset's gene "
                     "ids (names are not translated)"),
    ("\n# none\n", "no gene id; expected target gene ids, one per line"),
    ("\n".join(GENES), "lists all 8 genes of the run's dataset; expected a subset (the "
                        "knockout compares the targets with the other genes)"),
])
def test_target_files_that_name_no_usable_target(tmp_path, text, message):
    path = tmp_path / "targets.txt"
    path.write_text(text)
    with pytest.raises(InputFileError) as err:
        S.read_targets(path, GENES)
    assert str(err.value) == f"{path}: {message}"


@pytest.fixture(scope="module")
def deeprage():
    """A tiny DeepRAGE model and a pair dataset of random promoters over ``GENES``."""
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    model = build("deeprage_concat", seq_len=60, filters=4, filter_length=7, units=8,
                  regulator_units=4, n_regulators=3)
    rng = np.random.default_rng(0)

    data = SimpleNamespace(
        arrays={"sequence": np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (8, 60))],
                "regulators": rng.choice([-1.0, 0.0, 1.0], (4, 3)).astype(np.float32)},
        index=pd.DataFrame({"gene_id": GENES}), meta={}, gene_ids=GENES)
    return model, data


def test_knockout_of_a_user_target_file(deeprage, tmp_path, caplog):
    """The file's versioned ids count as their genes, the header is named in a warning:
    before, 'YAL035C-A.1' was a target only by being cut to the genes' width and
    'YBL007C.1' was dropped without a word."""
    model, data = deeprage
    path = tmp_path / "mig1.txt"
    path.write_text("gene_id\nYAL035C-A.1\nYBL007C.1\n")
    opts = ExplainOptions(targets=str(path), filters=(0, 1), max_conditions=2)
    check_request(("knockout",), opts, systems.get("deeprage"), model, data)
    with caplog.at_level(logging.WARNING):
        S.explain_knockout(model, data, tmp_path, opts, np.random.default_rng(0), [])
    genes = pd.read_csv(tmp_path / "knockout_mig1_genes.tsv", sep="\t")
    assert sorted(genes.loc[genes["is_target"], "gene_id"]) == ["YAL035C-A", "YBL007C"]
    assert "1 of 3 ids not genes of the run's dataset, left out: gene_id" in caplog.text
    path.write_text("HXT1\n")  # gene names: refused before any analysis runs
    with pytest.raises(InputFileError, match="none of its 1 ids is a gene"):
        check_request(("knockout",), opts, systems.get("deeprage"), model, data)


# ----------------------------------------------------------------------------- --compare
def test_compare_run_on_windows_of_another_layout():
    """A compared model of other flanks failed in the differential step, after the run's
    own attributions, naming no option."""
    def model(length):
        ins = [keras.Input((length, 4), name="sequence"), keras.Input((length, 7),
                                                                      name="epigenome")]
        x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(t) for t in ins])
        return keras.Model(ins, keras.layers.Dense(1)(x))

    data = SimpleNamespace(index=pd.DataFrame({"gene_id": GENES}), n_examples=8, arrays={},
                           meta={})
    with pytest.raises(ConfigError) as err:
        check_request(("differential",), ExplainOptions(compare="other"),
                      systems.get("isegnet"), model(2500), data, compare=model(1750))
    assert str(err.value) == (
        "--compare other: its model takes input 'sequence' of shape (1750, 4) per example, "
        "the run's (2500, 4) (another window layout: tss_flank, tts_flank or bins); expected "
        "a run on windows of the same layout")


def test_hocomoco_subtypes_stay_apart_when_versions_are_ignored():
    """Recovery and ``--target-motif`` ignore a JASPAR ID's version only: HOCOMOCO v12's
    ``AHR.H12CORE.0.P.B`` and ``AHR.H12CORE.1.P.B`` (two subtypes) were both ``AHR``."""
    assert M.matrix_base("MA0337.2") == M.matrix_base("MA0337.1") == "MA0337"
    assert M.matrix_base("POL001.1") == "POL001"
    rows = [{"query": "f0", "rank": 1, "target_id": "AHR.H12CORE.1.P.B", "q_value": 0.01}]
    assert M.motif_recovery(rows, ["AHR.H12CORE.0.P.B", "AHR.H12CORE.1.P.B"]) == {
        "AHR.H12CORE.0.P.B": [], "AHR.H12CORE.1.P.B": ["f0"]}
