"""Text written once and shown in several places, from Jinja templates.

``tools/templates/setup.md.j2`` holds the set-up commands: README.md and the release's README
(``tools/grading/assignment_README.md``) carry them between two markers, written by
``python -m tools.setup_cell --write`` (``--check`` and the tests fail while a copy is stale),
and the site's index (``tools/site/templates/index.md.j2``) includes the template itself. The
PyTorch pins and the conda environment's name come from the students' own files.
"""

from __future__ import annotations

import html
import re

import jinja2

from tools.project import ROOT

TEMPLATES = ROOT / "tools"  # template names are paths from here: templates/..., site/templates/...
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # Markdown; HTML pieces are escaped where they are made (|html)
)
ENV.filters["html"] = html.escape
# Where each copy of the set-up commands sits, and how it is set up there.
# The markers name no file: the release's README carries them, and names nothing it does not hold.
SETUP_START = "<!-- set-up commands, written from one template: edit that, not this copy -->"
SETUP_END = "<!-- end of set-up commands -->"
SETUP_COPIES = {"README.md": "repository", "tools/grading/assignment_README.md": "release"}


def setup_context(place: str) -> dict:
    """The set-up template's variables for ``place`` ("repository" or "release")."""
    requirements = (ROOT / "requirements.txt").read_text()
    torch = " ".join(re.findall(r"^(torch(?:vision)?==\S+)$", requirements, re.MULTILINE))
    environment = re.search(r"^name:\s*(\S+)", (ROOT / "environment.yml").read_text(), re.MULTILINE)[1]
    release = place == "release"
    return {
        "place": place,
        "torch": torch,
        "environment": environment,
        # The release ships constraints-students.txt as its constraints.txt (tools/grading/course.py).
        "constraints": "constraints.txt" if release else "constraints-students.txt",
        "folder": "" if release else " notebooks/",
    }


def setup_commands(place: str) -> str:
    """The set-up commands as ``place`` shows them (Markdown code blocks)."""
    return ENV.get_template("templates/setup.md.j2").render(setup_context(place))


def with_setup_commands(text: str, place: str) -> str:
    """``text`` (a README) with the block between its set-up markers made current."""
    start, end = text.index(SETUP_START) + len(SETUP_START), text.index(SETUP_END)
    return text[:start] + "\n\n" + setup_commands(place) + text[end:]


def render(name: str, **context) -> str:
    """The template ``name`` (a path from tools/) filled in with ``context``."""
    return ENV.get_template(name).render(context)
