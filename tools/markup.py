"""nbgrader's markup of the series' notebooks, read as nbgrader reads it.

The marker lines come from nbgrader's own settings (``ClearSolutions``, ``ClearHiddenTests``: a
line that contains the text is a marker), and a cell's role from ``nbgrader.utils``
(``is_grade``, ``is_solution``, ``is_locked``, re-exported here), so the site, the grading tools,
the benchmark and the tests all agree with nbgrader on what a solution or a hidden test is.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from nbgrader.utils import is_grade, is_locked, is_solution

__all__ = ["MARKERS", "SOLUTION_MARKERS", "HIDDEN_MARKERS", "is_grade", "is_locked", "is_solution"]
__all__ += ["without_solution_markers", "without_hidden_tests"]

SOLUTION_MARKERS = (
    ClearSolutions.begin_solution_delimeter.default_value,
    ClearSolutions.end_solution_delimeter.default_value,
)
HIDDEN_MARKERS = (
    ClearHiddenTests.begin_test_delimeter.default_value,
    ClearHiddenTests.end_test_delimeter.default_value,
)
MARKERS = SOLUTION_MARKERS + HIDDEN_MARKERS
# A hidden block: from the line holding its begin marker to the line holding its end marker.
HIDDEN_BLOCK = re.compile(
    rf"^[^\n]*{re.escape(HIDDEN_MARKERS[0])}[^\n]*$.*?^[^\n]*{re.escape(HIDDEN_MARKERS[1])}[^\n]*$",
    re.MULTILINE | re.DOTALL,
)


def without_solution_markers(source: str) -> str:
    """``source`` with its solution marker lines left out, the solution between them kept."""
    return "\n".join(line for line in source.split("\n") if not any(m in line for m in SOLUTION_MARKERS))


def without_hidden_tests(source: str, note: str | None = None) -> str:
    """``source`` with each hidden block replaced by ``note``, or removed with its line end."""
    if note is None:
        return re.sub(HIDDEN_BLOCK.pattern + r"\n?", "", source, flags=re.MULTILINE | re.DOTALL)
    return HIDDEN_BLOCK.sub(note, source)
