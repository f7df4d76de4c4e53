"""Scores decided in the grader's process, never in the student's kernel (see checks.py).

A check cell's hidden block ends with ``grader.grade("04", "ex1a", conv2d_im2col, seed=1401)``:
in the sandboxed kernel it calls the student's function on the hidden cases and publishes only
the results, as plain data (``checks.MIME``). After nbgrader's Execute step, ``ScoreInTheGrader``
reads that call from the cell's source (the course's own: nbgrader restored it), throws away
everything the kernel put in the cell's outputs, recomputes the references here, and leaves one
output: a tick (the part scores) or an error with the sentence (it scores 0). A cell without
exactly one published result scores 0. nbgrader then scores the cell by that output, as always.

``HideHiddenTests`` is a step of ``generate_feedback``: the student's feedback shows each part's
score and sentence, and a one-line note where the hidden tests' code was.
"""

from __future__ import annotations

import re

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

import checks
from tools.markup import is_grade, without_hidden_tests

GRADE_CALL = re.compile(r'^grader\.grade\("(\d\d)", "(\w+)", (\w+), seed=(\d+)\)$', re.MULTILINE)
HIDDEN_NOTE = "# (hidden tests: the grader ran your function on more cases; its verdict is below)"


def published(outputs: list) -> list[str]:
    """The payloads of ``checks.MIME`` among a cell's outputs."""
    return [
        out["data"][checks.MIME]
        for out in outputs
        if out.get("output_type") in ("display_data", "execute_result") and checks.MIME in out.get("data", {})
    ]


def verdict(call: re.Match, outputs: list) -> str | None:
    """The grader's verdict on a check cell: None if its part scores, else the sentence why not.
    ``call`` is the cell's ``grader.grade(...)`` call (a match of ``GRADE_CALL``)."""
    notebook, part, function, seed = call.groups()
    payloads = published(outputs)
    if len(payloads) != 1:
        why = "no result reached the grader" if not payloads else "more than one result was published"
        return f"{function}: {why} (is the function defined, under this name, and does the cell run?)"
    return checks.score(notebook, part, int(seed), payloads[0])


def scored_outputs(source: str, outputs: list) -> list | None:
    """The outputs a check cell keeps after scoring; None for a cell this step leaves alone (one
    that is not graded through ``checks.grade``)."""
    call = GRADE_CALL.search(source)
    if call is None:
        return None
    why = verdict(call, outputs)
    if why is None:
        name = call.group(3)
        return [
            nbformat.v4.new_output("stream", name="stdout", text=f"\N{CHECK MARK} {name}: correct (graded)\n")
        ]
    return [
        nbformat.v4.new_output("error", ename="CheckFailed", evalue=why, traceback=[f"\N{CROSS MARK} {why}"])
    ]


class ScoreInTheGrader(NbGraderPreprocessor):
    """After Execute: replace each check cell's outputs with the grader's own verdict."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            outputs = scored_outputs(cell.source, cell.outputs)
            if outputs is not None:
                cell.outputs = outputs
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """In the feedback: each hidden block of a check cell becomes a one-line note."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            cell.source = without_hidden_tests(cell.source, HIDDEN_NOTE)
        return cell, resources
