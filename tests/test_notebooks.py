"""What every notebook of the series must do: run clean, twice the same, in the house style."""

import re

import nbformat
import pytest

from notebooks import notebook_paths

PATHS = notebook_paths()
NONDETERMINISTIC = "nondeterministic"  # cell tag: text output varies from run to run (timings)


def text_outputs(nb):
    """Each cell's printed text and plain-text results, except for cells tagged as varying."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or NONDETERMINISTIC in cell.metadata.get("tags", []):
            continue
        parts = [out.get("text", "") for out in cell.outputs if out.output_type == "stream"]
        parts += [out.get("data", {}).get("text/plain", "") for out in cell.outputs if "data" in out]
        # Figures print their object address, which differs between runs.
        texts.append(re.sub(r" at 0x[0-9a-f]+", "", "".join(parts)))
    return texts


def test_the_series_has_notebooks():
    assert len(PATHS) >= 1


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_runs_clean_with_no_error_or_warning_output(path, executed):
    nb, _ = executed(path.stem)
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"cell {index} raised"
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"cell {index} wrote to stderr: {out.text[:300]}"
            )


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_running_twice_prints_the_same(path, executed):
    first, _ = executed(path.stem)
    second, _ = executed(path.stem, run=2)
    assert text_outputs(second) == text_outputs(first)


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
            shown = cell.source.partition("### BEGIN HIDDEN TESTS")[0]  # hidden tests: the grader's
            assert len(shown.splitlines()) <= 30, f"cell {index} is long: split it into ideas"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_the_solutions_pass_every_check_visible_and_hidden(path, executed):
    """The markup itself (points, ids, order) is tested in test_assignment.py."""
    nb, _ = executed(path.stem)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 2
    for cell in graded:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert not [out for out in cell.outputs if out.output_type == "error"], grade_id
        text = "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
        lines = text.splitlines()
        # At least one tick per utils.check call (a loop prints one per pass), and nothing else.
        assert len(lines) >= cell.source.count("utils.check(") >= 1, grade_id
        assert all(line.startswith("\N{CHECK MARK}") for line in lines), (grade_id, lines)
