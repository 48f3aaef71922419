"""The notebooks in ``notebooks/``: one per paper plus serving, each run from the session's
demo output (``demo_run``) to its figures and its key-number assertion, and each stored
without outputs so that it stays clean in git."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.demo  # trains a whole system: `make test-fast` skips it


NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["isegnet", "deeprage", "chromatin_imputation", "histone_fcn", "serving"]


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean(name):
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, name
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"{name}: code cell {i} has stored outputs"
        assert cell.execution_count is None, f"{name}: code cell {i} has an execution count"
    # the first code cells read the demo output from the environment, and the last asserts
    # the key number
    assert any("KERASGENE_DEMO_OUT" in c.source for c in code[:2]), name
    assert "assert " in code[-1].source, name
    # a markdown cell tells the story of every step
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2, name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_the_demo_output(name, demo_run, tmp_path, monkeypatch):
    out, _summary = demo_run
    monkeypatch.setenv("KERASGENE_DEMO_OUT", str(out))
    nb = read(name)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and traceback) on failure
    print(f"{name}.ipynb ran in {time.perf_counter() - t0:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    if name != "serving":  # the paper notebooks show the papers' figures
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type in ("display_data", "execute_result")
                  and "image/png" in o.data]
        assert images, f"{name}: no figure was displayed"
