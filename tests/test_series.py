"""The series, read without running it: every notebook in the house style, and each tested.

Running a notebook, its numbers and its exercises are tested in its own tests/test_notebook_NN.py.
"""

import re
from pathlib import Path

import nbformat
import pytest

from tools.further_reading import further_reading
from tools.markup import without_hidden_tests
from tools.series import notebook_paths

PATHS = notebook_paths()


def test_the_series_has_notebooks():
    assert len(PATHS) >= 1


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_each_notebook_has_its_test_module_that_runs_it(path):
    module = Path(__file__).parent / f"test_notebook_{path.stem[:2]}.py"
    assert module.is_file(), f"{module.name} is missing: it runs {path.name} and checks its exercises"
    assert f'NOTEBOOK = "{path.stem}"' in module.read_text()


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_the_set_up_cell_second_then_the_imports_with_the_series_style(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].get("id") == "series-setup", "cell 2: python -m tools.setup_cell --write"
    assert cells[2].cell_type == "code" and "import utils\n" in cells[2].source
    assert "utils.use_series_style()" in cells[2].source


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_house_style_goals_first_summary_and_exercises_last(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert re.search(r"you will be able to", first.source, re.IGNORECASE), "the first cell states the goals"
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    assert "## Summary" in headings and "## Exercises" in headings
    assert headings.index("## Summary") < headings.index("## Exercises")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            shown = without_hidden_tests(cell.source)  # hidden tests are the grader's, not the reader's
            assert len(shown.splitlines()) <= 30, f"cell {index} is long: split it into ideas"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_each_notebook_ends_with_its_sources_linked(path):
    last = nbformat.read(path, as_version=4).cells[-1]
    assert last.cell_type == "markdown" and last.source == further_reading(path.stem[:2]), (
        "the last cell is tools/further_reading.py's: run it"
    )
    assert last.source.count("](https://") >= 3


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_no_lesson_speaks_of_a_post_it_never_names(path):
    cells = nbformat.read(path, as_version=4).cells
    end = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    for index, cell in enumerate(cells[:end]):
        assert not re.search(r"\b(seed )?post('s)?\b", cell.source, re.IGNORECASE), f"cell {index}"
