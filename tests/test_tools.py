"""tools/notebooks.py: the headless runner behind `make html` and the notebook tests."""

import os

import nbformat
import pytest

from notebooks import NotebookError, execute, notebook_paths


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def test_execute_runs_every_cell_and_reads_values_back(tmp_path):
    path = write_notebook(
        tmp_path / "01_demo.ipynb",
        "import numpy as np, pandas as pd, torch",
        "x = [1, 2, 3]\nshape = torch.Size([1, 75, 784])\n_hidden = 1",
        "a = np.arange(4).reshape(2, 2)\nt = torch.ones(2, requires_grad=True) * 2\nbig = np.zeros(200_000)",
        "table = pd.DataFrame({'n': [1, 2]}, index=['a', 'b'])\nscalar = np.float32(0.5)\nf = print",
        "print(sum(x))",
    )
    nb, values = execute(path)
    assert nb.cells[-1].outputs[0]["text"] == "6\n"
    assert len(nb.cells) == 5  # the snapshot cell is not added
    assert values["x"] == [1, 2, 3] and values["shape"] == [1, 75, 784]
    assert values["a"] == [[0, 1], [2, 3]] and values["t"] == [2.0, 2.0] and values["scalar"] == 0.5
    assert values["table"] == {"columns": ["n"], "index": ["a", "b"], "data": [[1], [2]]}
    assert "_hidden" not in values and "big" not in values and "f" not in values and "np" not in values


def test_execute_names_the_notebook_and_the_cell_that_failed(tmp_path):
    path = write_notebook(tmp_path / "02_broken.ipynb", "a = 1", "raise ValueError('no good')")
    with pytest.raises(NotebookError, match=r"02_broken.ipynb, cell 1 \(\"raise ValueError\('no good'\)\"\)"):
        execute(path)


def test_execute_runs_in_the_notebooks_folder(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    path = write_notebook(tmp_path / "03_cwd.ipynb", "from helper import VALUE")
    assert execute(path)[1]["VALUE"] == 42


def test_notebook_paths_lists_the_series_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "scratch.ipynb", "10_c.ipynb"):
        write_notebook(tmp_path / name)
    assert [p.name for p in notebook_paths(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]


def test_execute_can_skip_the_snapshot(tmp_path):
    path = write_notebook(tmp_path / "04_fast.ipynb", "x = 1", "print(x + 1)")
    nb, values = execute(path, snapshot=False)
    assert values == {} and nb.cells[1].outputs[0]["text"] == "2\n" and len(nb.cells) == 2


def test_execute_uses_local_sockets_and_leaves_no_kernel_behind(tmp_path, capfd):
    path = write_notebook(tmp_path / "05_quiet.ipynb", "import os\npid = os.getpid()")
    _, values = execute(path)
    # No TCP port (so no warning about it on the terminal), no socket file left anywhere.
    assert "TCP" not in capfd.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["05_quiet.ipynb"]
    # The kernel was stopped, not left to notice that its parent is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(values["pid"], 0)
