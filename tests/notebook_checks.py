"""What every notebook of the series must do when it runs (used by each tests/test_notebook_NN.py).

Each of those modules runs its notebook once, in one kernel (the ``notebook`` fixture of
conftest.py), checks its own numbers, and ends with ``class TestAsEveryNotebook(NotebookContract)``:
the run writes nothing to stderr, every check cell passes with the reference solutions (the one
place the suite checks that the solutions are right), and the mistakes the module plants
(``PLANTED``, in that same kernel) each fail with a message that names the mistake and gives
nothing of ``SECRETS`` away.
"""

from __future__ import annotations

import json
import re

import numpy as np

import checks as checker
from tools.grading import scoring
from tools.markup import is_grade, without_hidden_tests

CHECK_MARK = "\N{CHECK MARK}"


def grade_id(cell) -> str | None:
    """The grade_id of a check cell (an nbgrader cell that is graded), else None."""
    return cell.metadata.nbgrader["grade_id"] if is_grade(cell) else None


def check_cells(nb) -> dict[str, str]:
    """grade_id -> source of every check cell, in order."""
    return {grade_id(c): c.source for c in nb.cells if c.cell_type == "code" and grade_id(c)}


def assert_nothing_on_stderr(nb) -> None:
    """No cell wrote to stderr (a warning, a log line): the site refuses such a page."""
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"cell {index} wrote to stderr: {out.text[:300]}"
            )


def assert_every_check_passes(nb) -> None:
    """Each check cell printed one tick (its visible checks), published the hidden cases' results
    once, and the grader's scoring of those results (tools/grading/scoring.py) gives the part its points."""
    graded = [c for c in nb.cells if c.cell_type == "code" and grade_id(c)]
    assert len(graded) >= 2, "at least two graded parts"
    for cell in graded:
        text = "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
        assert text.startswith(CHECK_MARK) and text.count("\n") == 1, (grade_id(cell), text)
        payloads = scoring.published(cell.outputs)
        assert len(payloads) == 1 and json.loads(payloads[0])["outcomes"], grade_id(cell)
        verdict = scoring.verdict(scoring.GRADE_CALL.search(cell.source), cell.outputs)
        assert verdict is None, (grade_id(cell), verdict)


# Defined in the notebook's kernel after its last cell: a planted answer and the check cell of its
# part run in a copy of the notebook's globals, so that no trial changes what the next one sees.
TRIAL = '''
def _planted_trial(answer, check):
    """Run an answer cell, then a check cell as a student has it: ["passed", ""] or [error type, message]."""
    namespace = dict(globals())
    try:
        exec(answer, namespace)
        exec(check, namespace)
    except Exception as error:
        return [type(error).__name__, str(error)]
    return ["passed", ""]
'''


def run_planted(notebook, planted: list[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(grade_id, planted answer) -> (outcome, message), each answer run in the executed notebook's
    kernel as a student would write it in the answer cell, followed by the whole check cell of
    its part as the student's copy has it (the visible check); tests/test_mutants.py puts the same
    kinds of answers through the grader's scoring."""
    checks = {part: without_hidden_tests(source) for part, source in check_cells(notebook.nb).items()}
    notebook.inject(TRIAL, pop=True)
    return {
        (part, code): tuple(notebook.value(f"_planted_trial({code!r}, {checks[part]!r})"))
        for part, code, _ in planted
    }


def assert_every_part_has_three_planted_mistakes(nb, planted: list[tuple[str, str, str]]) -> None:
    """Each exercise (ex1, ex2, ...) has three or more planted mistakes over its parts."""
    exercises = {part.split("-")[0][:3] for part in check_cells(nb)}
    for exercise in sorted(exercises):
        mistakes = [p for p in planted if p[0].startswith(exercise) and p[2]]
        assert len(mistakes) >= 3, f"{exercise}: {len(mistakes)} planted mistakes"


def assert_mistakes_are_named_without_the_answer(
    planted: list[tuple[str, str, str]], results: dict, secrets: dict[str, list[str]]
) -> None:
    """A planted mistake fails with a CheckFailed that holds its fragment of the message and
    none of the part's expected values (``secrets``: regular expressions); an empty fragment marks
    a right answer written another way, which must pass."""
    for part, code, fragment in planted:
        outcome, message = results[(part, code)]
        if not fragment:
            assert outcome == "passed", f"{part}: {message}"
            continue
        assert outcome == checker.CheckFailed.__name__, f"{part}, {code!r}: {outcome}: {message}"
        assert fragment in message, f"{part}, {code!r}: {message}"
        # What may remain: shapes, counts, indices; the student's own value is echoed, not ours.
        shown = re.sub(r"tolerance of [^)]*\)|got the \w+ [^\s:]+|'[^']*'", "", message)
        assert not re.search(r"\d\.\d{3}", shown), f"{part}: a value in {message!r}"
        for secret in secrets.get(part, []):
            assert not re.search(secret, shown), f"{part}: the answer in {message!r}"


def printed(nb, snippet: str) -> str:
    """The text printed by the first code cell whose source contains ``snippet``."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and snippet in c.source)
    return "".join(out.get("text", "") for out in cell.outputs)


def array(notebook, name: str) -> np.ndarray:
    """A tensor or array of the notebook's kernel, read back as a NumPy array."""
    return np.array(notebook.value(f"{name}.tolist()"))


class NotebookContract:
    """The tests every notebook's module runs alike, on its ``notebook`` fixture and its module's
    ``PLANTED`` (grade_id, planted answer, a fragment of the message it must get; an empty fragment
    marks a right answer written another way) and ``SECRETS`` (grade_id -> regular expressions of
    the expected values no message may show). Subclass it last in the module: the planted answers
    run in the notebook's kernel after the module's own tests."""

    def test_runs_without_writing_to_stderr(self, notebook):
        assert_nothing_on_stderr(notebook.nb)

    def test_the_solutions_pass_every_check_visible_and_hidden(self, notebook):
        assert_every_check_passes(notebook.nb)

    def test_every_exercise_has_at_least_three_planted_mistakes(self, notebook, request):
        assert_every_part_has_three_planted_mistakes(notebook.nb, request.module.PLANTED)

    def test_each_planted_mistake_fails_with_its_message_and_without_the_answer(self, notebook, request):
        planted, secrets = request.module.PLANTED, request.module.SECRETS
        assert_mistakes_are_named_without_the_answer(planted, run_planted(notebook, planted), secrets)
