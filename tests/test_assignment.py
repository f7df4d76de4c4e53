"""The series as an nbgrader assignment: the exercise markup, our settings, the release, grading.

`make assignment`, `make collect` and `make autograde` run here on the real series, in a
temporary course folder. One autograde run grades several students at once: the solutions,
the blank release, and submissions that break a rule or attack the grading, each holding only
the notebook it needs. What nbgrader itself does (restore edited or deleted test cells, time
out a cell) is nbgrader's to test; here: our config, our markup, the sandbox and our scores.
That the solutions are right is tested where each notebook runs (tests/test_notebook_NN.py).
"""

import copy
import csv
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_output
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.utils import determine_grade
from scaffold import make
from traitlets.config.loader import PyFileConfigLoader

import attacks
from tools.grading import scoring
from tools.markup import HIDDEN_MARKERS as NBGRADER_HIDDEN
from tools.markup import SOLUTION_MARKERS as NBGRADER_SOLUTION
from tools.markup import is_grade, is_locked, is_solution, without_solution_markers
from tools.project import ASSIGNMENT
from tools.series import ROOT, notebook_paths

PATHS = notebook_paths()
IDS = [p.stem for p in PATHS]
SERIES_POINTS = 100
# What each notebook's exercises are worth: the cost notebook (05) took points from 04's.
NOTEBOOK_POINTS = {
    "01_cs231n_worked_example": 20,
    "02_output_size_formula": 20,
    "03_cifar10_loading": 20,
    "04_im2col_vs_conv2d": 12,
    "05_im2col_cost": 8,
    "06_backward_with_col2im": 20,
}
# nbgrader's markers as the series writes them: a line of their own, as a ### comment.
SOLUTION_MARKERS = tuple(f"### {marker}" for marker in NBGRADER_SOLUTION)
HIDDEN_MARKERS = tuple(f"### {marker}" for marker in NBGRADER_HIDDEN)
STUB = "raise NotImplementedError()"  # what nbgrader leaves in an answer cell
RELOAD = 'grader = importlib.reload(importlib.import_module("checks"))'
VISIBLE = re.compile(r'^checks\.check\("(\d\d)", "(\w+)", (\w+)\)$')

pytestmark = pytest.mark.slow(80)  # seconds, alone on a 2-core machine

# --- Reading the exercise markup -------------------------------------------------------------


def grading(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def kind(cell) -> str | None:
    """'task', 'answer' or 'check' for the cells of an exercise, else None."""
    if is_grade(cell):
        return "check"
    if is_solution(cell):
        return "answer"
    if is_locked(cell):
        return "task"
    return None


def parts(nb) -> list[tuple[int, int]]:
    """Indices (answer, check) of each graded part, in order: a check cell grades the answer above it.

    An exercise has one answer cell per part, or one answer (a function) graded by several
    check cells, one per part.
    """
    found, answer = [], None
    for index, cell in enumerate(nb.cells):
        if kind(cell) == "answer":
            answer = index
        elif kind(cell) == "check":
            found.append((answer, index))
    return found


def answers(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if kind(c) == "answer"]


def graded_ids(nb) -> list[list[str]]:
    """The grade_ids of the check cells of each answer cell, in order."""
    ids: dict[int, list[str]] = {}
    for answer, check in parts(nb):
        ids.setdefault(answer, []).append(grading(nb.cells[check])["grade_id"])
    return list(ids.values())


def check_points(nb) -> dict[str, float]:
    return {grading(c)["grade_id"]: float(grading(c)["points"]) for c in nb.cells if kind(c) == "check"}


def without_region(source: str, markers: tuple[str, str]) -> str:
    """The source without the lines between two marker lines, markers included (as nbgrader cuts)."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() in markers:
            inside = line.strip() == markers[0]
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def region(source: str, markers: tuple[str, str]) -> list[str]:
    """The non-blank lines between two marker lines."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() in markers:
            inside = line.strip() == markers[0]
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def without_markers(source: str) -> str:
    """An answer cell as a student who wrote the solution hands it in."""
    return without_solution_markers(source)


def read(path: Path):
    return nbformat.read(path, as_version=4)


# --- The markup in notebooks/ (no execution) ---------------------------------------------------


def test_the_series_is_worth_100_points():
    points = {p.stem: sum(check_points(read(p)).values()) for p in PATHS}
    assert sum(points.values()) == SERIES_POINTS, f"points per notebook: {points}"
    assert sum(NOTEBOOK_POINTS.values()) == SERIES_POINTS and sorted(NOTEBOOK_POINTS) == IDS


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_exercises_are_marked_up_for_nbgrader(path):
    nb = read(path)
    MetadataValidator().validate_nb(nb)  # nbgrader's own check of the metadata
    assert nb.metadata.kernelspec.name == "python3", "grading runs the notebook's own kernel"
    ids = [grading(c)["grade_id"] for c in nb.cells if kind(c)]
    assert len(ids) == len(set(ids)), f"grade_ids repeat: {ids}"
    assert sum(check_points(nb).values()) == NOTEBOOK_POINTS[path.stem]
    assert len(parts(nb)) >= 2, "at least two graded parts"

    heading = next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source
    )
    marked = [i for i, c in enumerate(nb.cells) if kind(c)]
    assert min(marked) > heading, "exercises come after ## Exercises"
    for answer in answers(nb):
        task = answer - 1
        assert kind(nb.cells[task]) == "task" and nb.cells[task].cell_type == "markdown", (
            f"cell {answer}: the task of a part is a read-only markdown cell before its answer"
        )
        assert region(nb.cells[answer].source, SOLUTION_MARKERS), (
            f"cell {answer}: no solution between markers"
        )
        assert kind(nb.cells[answer + 1]) == "check", f"cell {answer}: its check cell follows it"
    for answer, check in parts(nb):
        assert answer is not None and all(kind(c) == "check" for c in nb.cells[answer + 1 : check + 1]), (
            f"cell {check}: a check cell follows its answer cell or another check of the same answer"
        )
        visible = without_region(nb.cells[check].source, HIDDEN_MARKERS).strip()
        # The visible check is one call: nothing in the student's copy shows a reference.
        assert VISIBLE.match(visible), f"cell {check}: the visible check is one call of checks.check"
        hidden = region(nb.cells[check].source, HIDDEN_MARKERS)
        # The hidden block only publishes the answer's results on the hidden cases, with the
        # checker as shipped; the grader scores them in its own process (tools/grading/scoring.py).
        reloads = any(line.startswith(RELOAD) for line in hidden)
        assert reloads, f"cell {check}: the hidden block reloads the checker"
        call = scoring.GRADE_CALL.search("\n".join(hidden))
        assert call and call.groups()[:3] == VISIBLE.match(visible).groups(), f"cell {check}: {hidden}"
        assert not any(line.startswith("assert ") for line in hidden), f"cell {check}: a bare assert"
        assert grading(nb.cells[check])["locked"], f"cell {check}: check cells are read-only"


# --- nbgrader's settings ------------------------------------------------------------------------


def load_config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def test_grading_settings_interrupt_endless_cells_and_restore_deleted_ones():
    config = load_config()  # nbgrader only logs a broken config file and goes on without it
    assert 0 < config.Execute.timeout <= 120 and config.Execute.interrupt_on_timeout
    assert config.Execute.iopub_timeout >= 10
    assert config.OverwriteCells.add_missing_cells


def graded_cell(*outputs):
    cell = nbformat.v4.new_code_cell("print('x: correct')", outputs=list(outputs))
    cell.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "points": 5, "grade_id": "c"}
    return cell


def test_stderr_costs_a_check_cell_no_points_but_an_error_still_does():
    steps = load_config().Autograde.autograde_preprocessors
    step = next(s for s in steps if s.__name__ == "StderrIsNotAFailure")()
    warning = new_output("stream", name="stderr", text="UserWarning: something is deprecated\n")
    tick = new_output("stream", name="stdout", text="\N{CHECK MARK} x: correct\n")
    cell = graded_cell(copy.deepcopy(warning), tick)
    assert determine_grade(cell)[0] == 0  # what nbgrader alone would give
    step.preprocess_cell(cell, {}, 0)
    assert determine_grade(cell) == (5, 5)
    assert cell.outputs[0].name == "stdout" and "UserWarning" in cell.outputs[0].text

    error = new_output("error", ename="AssertionError", evalue="x: expected 28, got 27", traceback=[])
    failed = graded_cell(copy.deepcopy(warning), error)
    step.preprocess_cell(failed, {}, 0)
    assert determine_grade(failed)[0] == 0


def test_while_nbgrader_grades_the_cifar10_loader_never_downloads(tmp_path, monkeypatch, capsys):
    import utils

    attempts = []

    def connect(sock, address):
        attempts.append(address)
        raise OSError("no network in this test")

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # as nbgrader sets it for the kernel
    monkeypatch.setattr(socket.socket, "connect", connect)
    assert isinstance(utils.load_cifar10_test(root=tmp_path), utils.CIFAR10Sample)
    assert attempts == [], "not even a probe of the network"
    assert "nbgrader does not download while it grades" in capsys.readouterr().out


# --- make assignment ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course(assignment_course) -> Path:
    return assignment_course


def source_nb(course: Path, path: Path):
    return read(course / "source" / ASSIGNMENT / path.name)


def release_nb(course: Path, path: Path):
    return read(course / "release" / ASSIGNMENT / path.name)


def test_source_holds_the_series_with_utils_and_data(course):
    source = course / "source" / ASSIGNMENT
    assert sorted(p.name for p in source.glob("*.ipynb")) == [p.name for p in PATHS]
    for path in PATHS:
        assert (source / path.name).read_bytes() == path.read_bytes()
    assert (source / "utils.py").read_bytes() == (ROOT / "utils.py").read_bytes()
    sample = "data/cifar10_test_first20.npz"
    assert (source / sample).read_bytes() == (ROOT / sample).read_bytes()


def released(source: str) -> str:
    """An answer cell as the release should show it: each solution replaced by nbgrader's stub."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == SOLUTION_MARKERS[0]:
            indent = line[: len(line) - len(line.lstrip())]
            lines += [f"{indent}# YOUR CODE HERE", f"{indent}{STUB}"]
            inside = True
        elif line.strip() == SOLUTION_MARKERS[1]:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_release_has_no_solution_and_no_hidden_test(course, path):
    source, release = source_nb(course, path), release_nb(course, path)
    text = nbformat.writes(release)
    for marker in SOLUTION_MARKERS + HIDDEN_MARKERS:
        assert marker not in text
    assert len(release.cells) == len(source.cells)
    for index, (ours, theirs) in enumerate(zip(source.cells, release.cells, strict=True)):
        assert not theirs.get("outputs"), f"cell {index} has outputs"
        if kind(ours) == "answer":
            assert theirs.source == released(ours.source), f"cell {index}: the answer is not blank"
        elif kind(ours) == "check":  # only the visible checks are left
            assert theirs.source.strip() == without_region(ours.source, HIDDEN_MARKERS).strip(), (
                f"cell {index}"
            )
            assert theirs.metadata.editable is False and theirs.metadata.deletable is False
        else:
            assert theirs.source == ours.source, f"cell {index} changed"


def test_the_zip_for_the_course_page_is_the_release(course):
    release = course / "release" / ASSIGNMENT
    with zipfile.ZipFile(course / f"{ASSIGNMENT}.zip") as archive:
        files = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    expected = [p for p in release.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sorted(files) == sorted(f"{ASSIGNMENT}/{p.relative_to(release)}" for p in expected)
    for path in expected:
        assert files[f"{ASSIGNMENT}/{path.relative_to(release)}"] == path.read_bytes()
    for name in [p.name for p in PATHS] + ["utils.py", "README.md", "requirements.txt", "environment.yml"]:
        assert f"{ASSIGNMENT}/{name}" in files
    assert f"{ASSIGNMENT}/data/cifar10_test_first20.npz" in files


# --- Submissions, collected and autograded --------------------------------------------------------

NOISY = """import functools
import logging
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

warnings.simplefilter("always")


def noisy(function):
    # The function, after a torch, a NumPy and two matplotlib warnings and a log line.

    @functools.wraps(function)
    def call(*args, **kwargs):
        torch.tensor(torch.ones(1))
        np.ones(1) / 0
        plt.figure()
        plt.legend()
        plt.close()
        logging.getLogger("matplotlib").warning("a matplotlib log line")
        return function(*args, **kwargs)

    return call
"""


def solved(course: Path, path: Path):
    """The release with every answer written as in the solutions."""
    nb, source = release_nb(course, path), source_nb(course, path)
    for answer in answers(source):
        nb.cells[answer].source = without_markers(source.cells[answer].source)
    return nb


def answer_checks(nb) -> list[list[str]]:
    """The grade_ids of the check cells that follow each answer cell, answer by answer."""
    groups = []
    for cell in nb.cells:
        if kind(cell) == "answer":
            groups.append([])
        elif kind(cell) == "check" and groups:
            groups[-1].append(grading(cell)["grade_id"])
    return groups


def answer_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if kind(c) == "answer"]


SURVIVOR = "left-behind-by-x-escape"  # in the command line of the process x-escape starts


def attackers(course: Path, port: int) -> dict[str, tuple[Path, object]]:
    """student -> (notebook, submission) of students who attack the grading (tests/attacks.py).

    Their names sort after "solved", the victim: graded before them, it must keep its grades.
    """
    subs = {}
    nb = solved(course, PATHS[1])  # escapes, then its right answer; a memory hog, then the next
    first, second = answer_cells(nb)[:2]
    nb.cells[first].source = attacks.escape(port, SURVIVOR) + "\n" + nb.cells[first].source
    nb.cells[second].source = attacks.MEMORY_HOG + "\n" + nb.cells[second].source
    subs["x-escape"] = (PATHS[1], nb)

    nb = solved(course, PATHS[0])  # the first answer: objects that equal anything
    first = answer_cells(nb)[0]
    solution = without_markers(source_nb(course, PATHS[0]).cells[first].source)
    nb.cells[first].source = attacks.ALWAYS_EQUAL + attacks.answering_with(solution, "AlwaysEqual(0)")
    subs["x-equal"] = (PATHS[0], nb)

    nb = solved(course, PATHS[1])  # the first answer: a fake checker, and wrong answers
    first = answer_cells(nb)[0]
    solution = without_markers(source_nb(course, PATHS[1]).cells[first].source)
    nb.cells[first].source = attacks.FAKE_CHECK + attacks.answering_with(solution, "0")
    subs["x-fakecheck"] = (PATHS[1], nb)

    nb = solved(course, PATHS[0])  # active content in outputs and in a Markdown cell of its own
    first = answer_cells(nb)[0]
    nb.cells[first].source = attacks.ACTIVE_OUTPUTS + "\n" + nb.cells[first].source
    nb.cells.insert(first, nbformat.v4.new_markdown_cell(attacks.ACTIVE_MARKDOWN))
    subs["x-html"] = (PATHS[0], nb)

    subs["x-links"] = (PATHS[0], solved(course, PATHS[0]))  # its folder: see plant_links
    return subs


# A tag with a script or an event handler, as a browser would run it (escaped code shows no "<").
ACTIVE = re.compile(r"<script\b[^>]*>\s*window|<[a-z]+\b[^>]*\son\w+\s*=", re.IGNORECASE)
SECRET = "the-grader's-secret-3141"  # in a file only the grader may read


def plant_links(course: Path, folder: Path) -> None:
    """Next to a right notebook: links to a secret file, the source notebook (solutions) and the
    gradebook, a link named like a notebook, and a file named like the module that starts the
    kernel (it would print the secret and stop the kernel if it ran)."""
    secret = course.parent / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    (folder / "secret.txt").symlink_to(secret)
    (folder / "solutions.ipynb").symlink_to(course / "source" / ASSIGNMENT / PATHS[1].name)
    (folder / PATHS[1].name).symlink_to(course / "source" / ASSIGNMENT / PATHS[1].name)
    (folder / "gradebook.db").symlink_to(course / "gradebook.db")
    (folder / "ipykernel_launcher.py").write_text(
        f"print(open({str(secret)!r}).read())\nraise SystemExit(1)\n"
    )


def adversarial(course: Path) -> dict[str, tuple[Path, object]]:
    """student -> (notebook, submission): each breaks a rule of ours, on one notebook."""
    subs = {}
    raises, warns = PATHS[2], PATHS[5]  # notebooks with an answer cell per part

    nb = solved(course, raises)  # the first answer raises before it defines anything
    answer = answers(nb)[0]
    nb.cells[answer].source = 'raise RuntimeError("my answer is broken")\n' + nb.cells[answer].source
    subs["raises"] = (raises, nb)

    nb = solved(course, warns)  # every answer's function warns when its check cell calls it
    for answer in answers(nb):
        functions, _ = attacks.defined_names(nb.cells[answer].source)
        assert functions, f"{warns.name}, cell {answer}: pick a notebook whose answers are functions"
        wrapped = "\n".join(f"{name} = noisy({name})" for name in functions)
        nb.cells[answer].source += "\n\n\n" + NOISY + "\n\n" + wrapped + "\n"
    subs["warns"] = (warns, nb)
    return subs


def write_zip(path: Path, files: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


class Listener:
    """A TCP server on the grader's loopback that records every connection made to it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.connections.append(self.server.accept())
            except OSError:
                return


@pytest.fixture(scope="module")
def listener():
    listener = Listener()
    yield listener
    listener.server.close()


@pytest.fixture(scope="module")
def graded(course, listener):
    """Everyone handed in, collected with `make collect`, graded with one `make autograde`."""
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    # "solved": a zip of the whole folder, as JupyterLab left it (with a checkpoint).
    files = {f"{ASSIGNMENT}/{p.name}": nbformat.writes(solved(course, p)) for p in PATHS}
    checkpoint = f"{ASSIGNMENT}/.ipynb_checkpoints/{PATHS[0].stem}-checkpoint.ipynb"
    files[checkpoint] = nbformat.writes(release_nb(course, PATHS[0]))
    write_zip(archive / f"solved_{ASSIGNMENT}.zip", files)
    # "blank": the untouched release, handed in as a folder of notebooks.
    (archive / "blank").mkdir(parents=True)
    for path in PATHS:
        nbformat.write(release_nb(course, path), archive / "blank" / path.name)
    make("collect", course)

    subs = adversarial(course) | attackers(course, listener.port)
    for student, (path, nb) in subs.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / path.name)
    plant_links(course, course / "submitted" / "x-links" / ASSIGNMENT)

    # "corrupt": not a notebook at all. nbgrader cannot grade it and says so at the end: make
    # autograde fails, after grading everyone else and writing the feedback and the grades.
    corrupt = course / "submitted" / "corrupt" / ASSIGNMENT / PATHS[0].name
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"cells": [')

    start = time.monotonic()
    out = make("autograde", course, succeeds=False)
    print(f"\nautograde: {len(subs) + 3} students in {time.monotonic() - start:.0f} s")
    assert f"There was an error processing assignment '{ASSIGNMENT}' for student 'corrupt'" in out
    return {student: path for student, (path, _) in subs.items()}


def scores(course: Path, student: str, path: Path) -> dict[str, tuple[float, float]]:
    """grade_id -> (autograded score, max score) of one submitted notebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(path.stem, ASSIGNMENT, student)
        return {g.name: (g.auto_score, g.max_score) for g in notebook.grades}


def autograded(course: Path, student: str, path: Path):
    return read(course / "autograded" / student / ASSIGNMENT / path.name)


def grades_csv(course: Path) -> dict[str, dict[str, str]]:
    with (course / "grades.csv").open(newline="") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


def test_collect_takes_each_students_notebooks_from_their_archive(course, graded):
    for student in ("solved", "blank"):
        folder = course / "submitted" / student / ASSIGNMENT
        assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [p.name for p in PATHS]


def test_in_the_sandbox_a_right_submission_scores_full_marks_on_every_notebook(course, graded):
    """The grading, not the solutions (tests/test_notebook_NN.py check those): the sandbox's
    limits, the files of the release and the offline loader let every notebook run to the end."""
    row = grades_csv(course)["solved"]
    assert float(row["score"]) == float(row["max_score"]) == SERIES_POINTS
    for path in PATHS:
        for grade_id, (score, top) in scores(course, "solved", path).items():
            assert score == top, f"{path.stem} {grade_id}: {score} of {top}"


def test_grading_uses_the_bundled_cifar10_images_for_everyone(course, graded):
    users = [p for p in PATHS if "load_cifar10_test" in p.read_text()]
    for path in users:
        printed = "".join(
            o.get("text", "") for c in autograded(course, "solved", path).cells for o in c.get("outputs", [])
        )
        assert "nbgrader does not download while it grades" in printed, path.stem


def test_the_blank_release_scores_zero_on_every_autograded_cell(course, graded):
    assert float(grades_csv(course)["blank"]["score"]) == 0
    for path in PATHS:
        cells = scores(course, "blank", path)
        assert len(cells) == len(parts(read(path)))
        assert all(score == 0 for score, _ in cells.values()), f"{path.stem}: {cells}"


def test_every_student_is_graded_and_gets_feedback(course, graded):
    rows = grades_csv(course)
    assert sorted(rows) == sorted(["solved", "blank", "corrupt", *graded])
    assert float(rows["corrupt"]["score"]) == 0  # listed, for the instructor to look at
    for student in sorted(set(rows) - {"corrupt"}):
        assert float(rows[student]["max_score"]) == SERIES_POINTS
        handed_in = PATHS if student in ("solved", "blank") else [graded[student]]
        for path in handed_in:
            html = (course / "feedback" / student / ASSIGNMENT / f"{path.stem}.html").read_text()
            assert f"/ {NOTEBOOK_POINTS[path.stem]:.1f})" in html  # its score: (Score: 14.0 / 20.0)
    for path in PATHS:
        blank = (course / "feedback" / "blank" / ASSIGNMENT / f"{path.stem}.html").read_text()
        top = NOTEBOOK_POINTS[path.stem]
        assert f"(Score: 0.0 / {top:.1f})" in blank and "NotImplementedError" in blank
        full = (course / "feedback" / "solved" / ASSIGNMENT / f"{path.stem}.html").read_text()
        assert f"(Score: {top:.1f} / {top:.1f})" in full and ": correct" in full
        # Each part's score and sentence, not the hidden tests' code: a note where it was.
        assert "BEGIN HIDDEN TESTS" not in full and "hidden tests: the grader ran your function" in full


def test_an_answer_that_raises_costs_only_its_own_parts(course, graded):
    """Each part scores on its own: no check cell needs another part's answer."""
    path = graded["raises"]
    first, *rest = graded_ids(read(path))
    assert rest, f"{path.name} has one answer cell: pick a notebook with several"
    cells = scores(course, "raises", path)
    assert all(cells[grade_id][0] == 0 for grade_id in first), cells
    assert all(cells[grade_id][0] == cells[grade_id][1] for ids in rest for grade_id in ids), cells


def test_warnings_in_a_check_cell_cost_no_points(course, graded):
    path = graded["warns"]
    cells = scores(course, "warns", path)
    assert all(score == top for score, top in cells.values()), cells
    for cell in autograded(course, "warns", path).cells:
        if kind(cell) == "check":  # the grader's verdict alone: what the kernel printed is gone
            assert [o.output_type for o in cell.outputs] == ["stream"], cell.outputs
            assert cell.outputs[0].text.startswith("\N{CHECK MARK}") and "(graded)" in cell.outputs[0].text


def test_the_release_runs_every_cell_that_does_not_need_an_answer(course, graded):
    """The blank submission is the release run with errors allowed (as autograde runs it)."""
    for path in PATHS:
        nb = autograded(course, "blank", path)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or kind(cell) == "answer":  # an empty answer may raise
                continue
            failed = any(o.output_type == "error" for o in cell.outputs)
            if kind(cell) == "check":
                assert failed, f"{path.stem} cell {index}: a check passes with no answer"
            else:
                assert cell.execution_count and not failed, f"{path.stem} cell {index} does not run clean"


NONDETERMINISTIC = "nondeterministic"  # cell tag: text output varies from run to run (timings)


def lesson_outputs(nb) -> list[str]:
    """What each code cell before ## Exercises printed, text and plain-text results, but for
    cells tagged as varying."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Exercises" in cell.source:
            break
        if cell.cell_type != "code" or NONDETERMINISTIC in cell.metadata.get("tags", []):
            continue
        parts = [out.get("text", "") for out in cell.outputs if out.output_type == "stream"]
        parts += [out.get("data", {}).get("text/plain", "") for out in cell.outputs if "data" in out]
        texts.append(re.sub(r" at 0x[0-9a-f]+", "", "".join(parts)))  # figures print their address
    return texts


def test_every_notebook_prints_the_same_twice(course, graded):
    """The notebooks are seeded: the lesson, graded for the blank and for the solved student (two
    independent runs), prints the same."""
    for path in PATHS:
        blank, right = (lesson_outputs(autograded(course, who, path)) for who in ("blank", "solved"))
        assert len(blank) == len(right) and any(blank), path.stem
        for index, (first, second) in enumerate(zip(blank, right, strict=True)):
            assert first == second, f"{path.stem}, code cell {index}: {first[:300]!r} != {second[:300]!r}"


# --- Attacks on the grading (tests/attacks.py): the sandbox and the hardened checks --------------


def printed(nb) -> str:
    """Everything the cells of a notebook printed, errors included."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + f"{out.get('ename', '')}: {out.get('evalue', '')}")
    return "\n".join(texts)


def test_an_escaping_student_reaches_nothing_of_the_course_the_network_or_the_machine(
    course, graded, listener
):
    out = printed(autograded(course, "x-escape", graded["x-escape"]))
    assert "searched" in out, "the attack ran"
    assert "ESCAPED" not in out, out
    assert "utils.py blocked" in out and "network blocked" in out
    assert listener.connections == [], "no connection reached the grader's loopback"
    assert attacks.processes_with(SURVIVOR) == [], "nothing the kernel started outlives it"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        manual = {grade.manual_score for student in gb.students for grade in _grades(gb, student.id)}
    assert manual == {None}, "nobody's grade was rewritten"
    helper = (ROOT / "utils.py").read_bytes()
    copies = [course / "source" / ASSIGNMENT / "utils.py", *course.glob(f"autograded/*/{ASSIGNMENT}/utils*")]
    for path in copies:
        assert path.read_bytes() == helper, f"{path} was changed"


def _grades(gb, student: str):
    for path in PATHS:
        try:
            yield from gb.find_submission_notebook(path.stem, ASSIGNMENT, student).grades
        except Exception:  # a student who did not hand this notebook in
            continue


def test_an_escape_costs_nothing_and_a_memory_hog_only_its_answer(course, graded):
    path = graded["x-escape"]
    groups = answer_checks(read(path))
    cells = scores(course, "x-escape", path)
    assert all(cells[g] == (cells[g][1],) * 2 for g in groups[0]), "its own answer, right, still counts"
    assert all(cells[g][0] == 0 for g in groups[1]), "the answer that ran out of memory scores 0"
    assert all(cells[g] == (cells[g][1],) * 2 for group in groups[2:] for g in group)
    assert "MemoryError" in printed(autograded(course, "x-escape", path))


def test_objects_that_equal_anything_and_a_fake_checker_score_nothing(course, graded):
    for student in ("x-equal", "x-fakecheck"):
        path = graded[student]
        groups = answer_checks(read(path))
        cells = scores(course, student, path)
        assert all(cells[g][0] == 0 for g in groups[0]), f"{student}: {cells}"
        assert all(cells[g] == (cells[g][1],) * 2 for group in groups[1:] for g in group), (
            f"{student}: {cells}"
        )


def hidden_lines(path: Path) -> set[str]:
    """The distinctive lines of a notebook's hidden tests."""
    lines = set()
    for cell in read(path).cells:
        if kind(cell) == "check":
            lines |= {line for line in region(cell.source, HIDDEN_MARKERS) if len(line) > 30}
    return lines


def test_no_feedback_shows_anything_from_outside_its_own_notebook(course, graded):
    hidden = {path.stem: hidden_lines(path) for path in PATHS}
    for html_path in course.glob(f"feedback/*/{ASSIGNMENT}/*.html"):
        html = html_path.read_text()
        others = set().union(*(lines for stem, lines in hidden.items() if stem != html_path.stem))
        own = hidden.get(html_path.stem, set())
        leaked = [line for line in others - own if line in html]
        assert not leaked, f"{html_path}: {leaked[:3]}"


def test_flags_csv_names_every_attacking_cell_and_no_honest_one(course, graded):
    with (course / "flags.csv").open() as rows:
        reasons = {}
        for row in csv.DictReader(rows):
            reasons.setdefault((row["student_id"], row["notebook"]), set()).add(row["reason"])
    escape = reasons[("x-escape", graded["x-escape"].stem)]
    assert {"imports os", "imports socket", "imports sqlite3", "imports subprocess", "calls open"} <= escape
    assert "defines __eq__" in reasons[("x-equal", graded["x-equal"].stem)]
    assert "assigns to checks.check" in reasons[("x-fakecheck", graded["x-fakecheck"].stem)]
    assert not {student for student, _ in reasons} & {"solved", "blank", "raises", "warns"}
    log = (course.parent / "autograde.log").read_text()
    assert re.search(r"flagged: \d+ cells of 3 students", log), log[-2000:]


def test_the_escape_works_where_nothing_stops_it(course, graded, tmp_path):
    """The same attack, run as a plain process on a copy of the course, does what it says."""
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    token = "left-behind-by-the-control-run"
    code = attacks.escape(port=9, token=token, places=f"[Path({str(copy)!r})]")
    folder = copy / "autograded" / "x-escape" / ASSIGNMENT
    (folder / "utils.py").chmod(0o644)
    try:
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120
        )
    finally:
        for pid in attacks.processes_with(token):
            subprocess.run(["kill", str(pid)], check=False)
    assert "ESCAPED: rewrote" in run.stdout and "ESCAPED: appended to utils.py" in run.stdout, run.stderr
    assert "ESCAPED: read" in run.stdout and HIDDEN_MARKERS[0] in run.stdout
    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}") as gb:
        assert {grade.manual_score for grade in _grades(gb, "solved")} == {1000}


def test_a_students_outputs_and_markdown_hold_nothing_active_in_the_autograded_notebook_or_feedback(
    course, graded
):
    """What the formgrader renders (the autograded notebook) and the feedback page: no planted
    script, handler, JavaScript or SVG is left (tests/test_sanitize.py opens such pages in
    Chromium); the harmless HTML stays; the answers still count."""
    path = graded["x-html"]
    nb = autograded(course, "x-html", path)
    shown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    shown += [json.dumps(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    feedback = (course / "feedback" / "x-html" / ASSIGNMENT / f"{path.stem}.html").read_text()
    for text in [*shown, feedback]:
        assert not ACTIVE.search(text), ACTIVE.search(text).group(0)
        assert "application/javascript" not in text and "image/svg+xml" not in text
    assert any("<b>bold survives</b>" in text for text in shown)
    assert all(s == t for s, t in scores(course, "x-html", path).values()), "its answers, right, still count"


def test_links_and_other_files_in_a_submitted_folder_are_refused_named_and_reach_nothing(course, graded):
    log = (course.parent / "autograde.log").read_text()
    refused = re.search(r"REFUSED in x-links's submission: (.*)", log)
    assert refused, log[-3000:]
    links = ["secret.txt", "solutions.ipynb", "gradebook.db", PATHS[1].name]
    for name in [f"{link} (a symbolic link)" for link in links]:
        assert name in refused.group(1), refused.group(1)
    assert "ipykernel_launcher.py (not a notebook of the assignment)" in refused.group(1)
    cells = scores(course, "x-links", PATHS[0])
    assert all(s == t for s, t in cells.values()), "graded on its notebook, by the real kernel"
    for page in course.glob(f"feedback/x-links/{ASSIGNMENT}/*.html"):
        assert SECRET not in page.read_text()
    assert not (course / "autograded" / "x-links" / ASSIGNMENT / PATHS[1].name).exists()
