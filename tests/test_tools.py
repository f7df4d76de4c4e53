"""tools/notebooks.py: the headless runner behind `make html` and the notebook tests."""

import nbformat
import pytest

from notebooks import NotebookError, execute, notebook_paths


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def test_execute_runs_every_cell_and_reads_values_back(tmp_path):
    path = write_notebook(tmp_path / "01_demo.ipynb", "x = [1, 2, 3]", "print(sum(x))")
    nb, values = execute(path, probes={"total": "sum(x)", "shape": "tuple(x)", "obj": "object"})
    assert nb.cells[1].outputs[0]["text"] == "6\n"
    assert values == {"total": 6, "shape": [1, 2, 3], "obj": "<class 'object'>"}
    assert len(nb.cells) == 2  # the probe cell is not added


def test_execute_names_the_notebook_and_the_cell_that_failed(tmp_path):
    path = write_notebook(tmp_path / "02_broken.ipynb", "a = 1", "raise ValueError('no good')")
    with pytest.raises(NotebookError, match=r"02_broken.ipynb, cell 1 \(\"raise ValueError\('no good'\)\"\)"):
        execute(path)


def test_execute_runs_in_the_notebooks_folder(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    path = write_notebook(tmp_path / "03_cwd.ipynb", "import helper")
    assert execute(path, probes={"v": "helper.VALUE"})[1] == {"v": 42}


def test_notebook_paths_lists_the_series_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "scratch.ipynb", "10_c.ipynb"):
        write_notebook(tmp_path / name)
    assert [p.name for p in notebook_paths(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
