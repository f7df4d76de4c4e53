"""tools/grading/grade.py's checks on what a student hands in, before nbgrader copies anything, and the
grades.csv it writes. (Grading itself: tests/test_grading.py and tests/test_assignment.py.)"""

import csv
import os

from nbgrader.api import Gradebook

from tools.grading.grade import STUDENT_ID, check_submission, export_grades

NOTEBOOKS = {"01_a.ipynb", "02_b.ipynb"}


def test_only_regular_notebooks_of_the_assignment_are_copied_and_everything_else_is_named(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root only")
    source = tmp_path / "source.ipynb"
    source.write_text("### BEGIN SOLUTION")
    folder = tmp_path / "submitted" / "ada" / "a"
    folder.mkdir(parents=True)
    (folder / "01_a.ipynb").write_text("{}")
    (folder / "02_b.ipynb").symlink_to(source)  # a link named like a notebook
    (folder / "notes.txt").symlink_to(secret)
    (folder / "ipykernel_launcher.py").write_text("print('pwned')")
    (folder / "data").mkdir()
    (folder / "timestamp.txt").write_text("2026-01-01 00:00:00")
    (folder / "submission_secret.txt").write_text("5f1c0e")  # the exchange's, on a JupyterHub
    os.mkfifo(folder / "pipe")
    into = tmp_path / "checked"
    refused = check_submission(folder, NOTEBOOKS, into)
    assert sorted(p.name for p in into.iterdir()) == ["01_a.ipynb", "submission_secret.txt", "timestamp.txt"]
    assert refused == [
        "02_b.ipynb (a symbolic link)",
        "data (a folder)",
        "ipykernel_launcher.py (not a notebook of the assignment)",
        "notes.txt (a symbolic link)",
        "pipe (not a regular file)",
    ]


def test_a_submitted_folder_that_is_a_link_is_refused_whole(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "01_a.ipynb").write_text("{}")
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "a").symlink_to(elsewhere)
    into = tmp_path / "checked"
    assert check_submission(tmp_path / "ada" / "a", NOTEBOOKS, into) == ["a (not a folder: a link or a file)"]
    assert list(into.iterdir()) == []


def test_student_ids_are_letters_digits_and_a_few_safe_marks():
    for good in ("ada", "ada.lovelace", "a-1", "ada@uni.edu", "ADA_2"):
        assert STUDENT_ID.fullmatch(good), good
    for bad in ("", "-ada", ".", "..", "a/b", "a,b", 'a"b', "a\nb", "a b", "x" * 65):
        assert not STUDENT_ID.fullmatch(bad), bad


def test_grades_csv_parses_back_to_the_gradebooks_table_whatever_the_names_hold(tmp_path):
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    forged = 'eve,x,"y",\n,100,100'
    with Gradebook(db) as gb:
        gb.add_assignment("a")
        gb.add_student("ada", first_name="Ada, Countess", last_name='"Lovelace"')
        gb.add_student(forged)
    export_grades(db, tmp_path / "grades.csv")
    with (tmp_path / "grades.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted((r["student_id"], r["first_name"], r["last_name"], r["score"]) for r in rows) == [
        ("ada", "Ada, Countess", '"Lovelace"', "0.0"),
        (forged, "", "", "0.0"),
    ]
