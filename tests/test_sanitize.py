"""tools/grading/sanitize.py: nothing a student wrote or printed runs in the browser of whoever opens it.

A notebook is planted as it comes out of a student's kernel: every kind of active content in
outputs, in the student's own Markdown and raw cells and in cell metadata. It is rendered to
HTML with nbgrader's feedback template and with its formgrader's template (as the formgrader's
handler renders an autograded notebook; the Jupyter server around it is not started), before and after
``SanitizeSubmission``, and opened in Chromium: before, the payloads run (so the test can see
them); after, none does, the course's own cells are unchanged, and sizes are capped with a note.
"""

import base64
import copy
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from nbgrader.preprocessors import LimitOutput
from traitlets.config import Config

from tools.grading.sanitize import SanitizeSubmission
from tools.series import ROOT

FORMGRADER = Path(__import__("nbgrader").__file__).parent / "server_extensions" / "formgrader"


def payload(name: str) -> str:
    """JavaScript that records that it ran, under ``name``."""
    return f"(window.pwned = window.pwned || []).push('{name}')"


COURSE_MARKDOWN = "## Think about it\n\n<details><summary>Answer</summary>\n\nIt is $a < b$.\n</details>"
STUDENT_MARKDOWN = "\n\n".join([
    f"<script>{payload('markdown script')}</script>",
    f'<img src="x" onerror="{payload("markdown img")}">',
    f'<svg><script>{payload("markdown svg")}</script></svg>',
    f'<iframe srcdoc="<script>parent.{payload("iframe")}</script>"></iframe>',
    f"[a link](javascript:{payload('markdown link')})",
    f"\\[a\\](javascript:{payload('second pass')})",
])  # fmt: skip
PNG = base64.b64encode(b"not a png").decode()  # fails to load, so an onerror would fire


def display(data: dict, metadata: dict | None = None, kind: str = "display_data"):
    output = new_output(kind, data=data, metadata=metadata or {})
    if kind == "execute_result":
        output.execution_count = 1
    return output


def planted() -> nbformat.NotebookNode:
    """A graded notebook as a hostile student's kernel leaves it."""
    outputs = [
        display({"text/html": f"<b>bold</b><script>{payload('html script')}</script>"}),
        display({"text/html": f'<img src="x" onerror="{payload("html img")}">'}, kind="execute_result"),
        display({"application/javascript": payload("javascript output"), "text/plain": "js"}),
        display({"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{payload("svg")}"/>'}),
        display({"image/png": PNG}, {"image/png": {"width": f"1 onerror={payload('metadata')}"}}),
        display({"text/markdown": f'<img src=x onerror="{payload("markdown output")}">'}),
        new_output("stream", name="stdout", text="x" * (3 * 2**20) + "\n"),
    ]
    raw = new_raw_cell(f"<script>{payload('raw cell')}</script>", metadata={"raw_mimetype": "text/html"})
    cells = [
        new_markdown_cell(COURSE_MARKDOWN),
        new_markdown_cell(STUDENT_MARKDOWN),
        raw,
        new_code_cell("print('hello')", outputs=outputs),
        new_code_cell("x", metadata={"tags": [f'"><script>{payload("tag")}</script>']}),
    ]
    cells[3].metadata.nbgrader = {
        "grade": True,
        "solution": False,
        "points": 1,
        "grade_id": "ex1",
        "score": 0,
    }
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


@pytest.fixture
def course(tmp_path) -> Config:
    """A course whose source notebook holds the course's own Markdown cell."""
    source = tmp_path / "source" / "a"
    source.mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_markdown_cell(COURSE_MARKDOWN)]), source / "01.ipynb")
    return Config({"CourseDirectory": {"root": str(tmp_path)}})


def sanitised(config: Config) -> nbformat.NotebookNode:
    nb = planted()
    resources = {"nbgrader": {"assignment": "a", "notebook": "01", "student": "x"}}
    nb, _ = SanitizeSubmission(config=config)(nb, resources)  # as nbconvert calls each step
    return nb


# What nbgrader hands each template: the feedback page, and the formgrader's page of a submission.
RESOURCES = {
    "feedback": {"nbgrader": {"notebook": "01", "score": 0, "max_score": 1, "late_penalty": 0}},
    "formgrade": {"assignment_id": "a", "notebook_id": "01", "submission_id": "s", "index": 0, "total": 1,
                  "base_url": "", "student": "x", "last_name": "", "first_name": "", "notebook_path": "x"},
}  # fmt: skip


def render(nb, template: str) -> str:
    """``nb`` rendered as nbgrader renders it for ``template`` ("feedback" or "formgrade")."""
    exporter = HTMLExporter(
        template_name=template,
        extra_template_basedirs=[str(FORMGRADER / "templates")],
        extra_template_paths=[str(FORMGRADER / "static" / "node_modules" / "bootstrap" / "dist" / "css")],
    )  # as nbgrader's GenerateFeedback and its formgrader set it up
    return exporter.from_notebook_node(nb, resources=RESOURCES[template])[0]


def ran(browser, html: str, folder: Path) -> list[str]:
    """What the payloads recorded when ``html`` was opened, and every javascript: link clicked."""
    page_path = folder / "page.html"
    page_path.write_text(html)
    page = browser.new_page()
    try:
        page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
        )
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        for link in page.locator("a[href^='javascript' i]").all():
            link.click(force=True, no_wait_after=True)
        return page.evaluate("window.pwned || []")
    finally:
        page.close()


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_no_planted_script_runs_in_the_feedback_or_the_formgraders_page(browser, course, tmp_path, template):
    assert ran(browser, render(planted(), template), tmp_path), (
        "the planted payloads run when nothing stops them"
    )
    assert ran(browser, render(sanitised(course), template), tmp_path) == []


def test_the_courses_cells_keep_their_content_and_the_students_lose_what_is_active(course):
    nb = sanitised(course)
    course_cell, student_cell, raw, code, tagged = nb.cells
    assert course_cell.source == COURSE_MARKDOWN
    for active in ("<script", "onerror", "<svg", "<iframe", 'href="javascript:'):
        assert active not in student_cell.source and active not in raw.source
    types = [sorted(o.get("data", {})) for o in code.outputs]
    assert types[:6] == [["text/html"], ["text/html"], ["text/plain"], [], ["image/png"], ["text/markdown"]]
    assert "<b>bold</b>" in code.outputs[0].data["text/html"]
    assert all(not o.get("metadata") for o in code.outputs)
    assert tagged.metadata.tags == []
    assert code.metadata.nbgrader["grade_id"] == "ex1"


def test_outputs_are_capped_in_bytes_with_a_note_and_an_error_stays_an_error(course):
    nb = sanitised(course)
    stream = nb.cells[3].outputs[-1]
    assert len(stream.text.encode()) < 513 * 2**10
    assert "output cut by the grader: 3,145,729 bytes" in stream.text

    chunk = new_output("stream", name="stdout", text="y" * 400_000)
    big = new_notebook(cells=[new_code_cell("x", outputs=[copy.deepcopy(chunk)]) for _ in range(30)])
    big.cells[-1].outputs.append(
        new_output("error", ename="AssertionError", evalue="z" * 10**6, traceback=["t"])
    )
    resources = {"nbgrader": {}}
    big, _ = SanitizeSubmission(config=course)(big, resources)
    size = len(nbformat.writes(big).encode())
    assert size < 8.5 * 2**20, size
    last = big.cells[-1].outputs
    assert "the notebook's outputs passed 8,388,608 bytes" in last[0].text
    assert last[-1].output_type == "error", "a failed check still scores zero"


def test_nbgraders_autograde_sanitises_after_it_limits_output_and_before_it_saves_scores():
    from traitlets.config.loader import PyFileConfigLoader

    steps = (
        PyFileConfigLoader("nbgrader_config.py", path=str(ROOT))
        .load_config()
        .Autograde.autograde_preprocessors
    )
    names = [step.__name__ for step in steps]
    assert names.index("SanitizeSubmission") == names.index(LimitOutput.__name__) + 1
    assert names.index("SanitizeSubmission") < names.index("SaveAutoGrades")
