"""tools/series.py: the headless runner behind `make html` and the notebook tests."""

import os

import nbformat
import pytest
from testbook import testbook

from tools.series import NotebookError, execute, kernel_settings, notebook_paths


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs)


def test_execute_runs_every_cell_in_one_kernel_and_keeps_the_outputs(tmp_path):
    path = write_notebook(tmp_path / "01_demo.ipynb", "x = [1, 2, 3]", "print(sum(x))", "x")
    nb = execute(path)
    assert printed(nb.cells[1]) == "6\n"
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "[1, 2, 3]"
    assert [cell.execution_count for cell in nb.cells] == [1, 2, 3]


# What a cell prints, in pieces: ipykernel sends each flush (every 0.2 s) as its own output.
PRINTS_IN_PIECES = (
    "import sys, time\n"
    "print('a')\ntime.sleep(0.5)\nprint('b')\n"
    "print('c', file=sys.stderr)\ntime.sleep(0.5)\nprint('d', file=sys.stderr)"
)


def test_execute_merges_what_a_cell_prints_into_one_output_per_stream(tmp_path):
    """How many pieces a busy kernel sends depends on the machine's load; merged, a page of the
    site is the same on every run."""
    nb = execute(write_notebook(tmp_path / "01_demo.ipynb", PRINTS_IN_PIECES))
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stdout", "a\nb\n"), ("stderr", "c\nd\n")]


def test_execute_names_the_notebook_and_the_cell_that_failed(tmp_path):
    path = write_notebook(tmp_path / "02_broken.ipynb", "a = 1", "raise ValueError('no good')")
    with pytest.raises(NotebookError, match=r"02_broken.ipynb, cell 1 \(\"raise ValueError\('no good'\)\"\)"):
        execute(path)


def test_execute_runs_in_the_notebooks_folder(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    path = write_notebook(tmp_path / "03_cwd.ipynb", "from helper import VALUE\nprint(VALUE)")
    assert printed(execute(path).cells[0]) == "42\n"


def test_notebook_paths_lists_the_series_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "scratch.ipynb", "10_c.ipynb"):
        write_notebook(tmp_path / name)
    assert [p.name for p in notebook_paths(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]


def test_execute_uses_local_sockets_and_leaves_no_kernel_behind(tmp_path, capfd):
    path = write_notebook(tmp_path / "05_quiet.ipynb", "import os\nprint(os.getpid())")
    pid = int(printed(execute(path).cells[0]))
    # No TCP port (so no warning about it on the terminal), no socket file left anywhere.
    assert "TCP" not in capfd.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["05_quiet.ipynb"]
    # The kernel was stopped, not left to notice that its parent is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_same_settings_give_the_tests_a_kernel_to_read_values_from(tmp_path):
    """How each tests/test_notebook_NN.py reads its notebook's variables (conftest.py's fixture)."""
    path = write_notebook(
        tmp_path / "06_values.ipynb", "import numpy as np, os\na = np.arange(4).reshape(2, 2)"
    )
    with kernel_settings(path) as settings, testbook(str(path), execute=True, **settings) as notebook:
        assert notebook.value("a.tolist()") == [[0, 1], [2, 3]]
        assert notebook.value("os.getcwd()") == str(tmp_path)
