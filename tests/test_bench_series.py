"""benchmarks/bench_series.py, the series' run time against its budget, on two tiny notebooks."""

import nbformat
import pytest

from benchmarks import bench_series


@pytest.fixture
def folder(tmp_path):
    for name, source in [("01_quick.ipynb", "x = 1"), ("02_slower.ipynb", "import time\ntime.sleep(0.3)")]:
        nb = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell("# x"), nbformat.v4.new_code_cell(source)]
        )
        nbformat.write(nb, tmp_path / name)
    (tmp_path / "scratch.ipynb").write_text("not part of the series")  # no NN_ prefix: left out
    return tmp_path


def test_each_notebook_is_timed_with_its_slowest_cells_and_the_total_is_within_budget(folder, capsys):
    assert bench_series.main(["--notebooks", str(folder), "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "01_quick.ipynb" in out and "02_slower.ipynb" in out and "scratch" not in out
    assert "02_slower.ipynb, cell 1 ('import time')" in out  # a cell named as every message names it
    assert "(budget 15 s: ok)" in out and "the series" in out and "(budget 60 s: ok)" in out


def test_a_notebook_over_its_budget_fails_the_run_and_is_named(folder, capsys, monkeypatch):
    monkeypatch.setattr(bench_series, "NOTEBOOK_BUDGET", 0.001)
    assert bench_series.main(["--notebooks", str(folder), "--runs", "1"]) == 1
    assert "Over budget: 01_quick.ipynb, 02_slower.ipynb" in capsys.readouterr().out


def test_the_slept_cell_is_measured(folder):
    best = bench_series.time_series(sorted(folder.glob("0*.ipynb")), runs=1)
    seconds, nb = best[folder / "02_slower.ipynb"]
    ((cell_time, name),) = bench_series.cell_seconds(folder / "02_slower.ipynb", nb)
    assert name == "02_slower.ipynb, cell 1 ('import time')" and 0.3 <= cell_time < seconds


def test_runs_must_be_positive():
    with pytest.raises(SystemExit):
        bench_series.main(["--runs", "0"])
