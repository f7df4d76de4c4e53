"""Make a graded notebook safe to open: nothing a student wrote or printed renders as active content.

nbgrader copies every output of the student's kernel and every cell of the submission into the
autograded notebook, and from there into the feedback HTML and the formgrader's page, which the
instructor opens in a logged-in browser. ``SanitizeSubmission`` runs after the cells were
executed (``nbgrader_config.py`` puts it after nbgrader's ``LimitOutput``), so what it leaves is
all that is stored and shown:

- every output (the student's kernel made them all): HTML and Markdown through bleach (no
  scripts, event handlers, forms, frames, styles), everything else that is not plain text or a
  PNG/JPEG image dropped (JavaScript, SVG, widgets, PDF), no output metadata (the templates
  write it into attributes unquoted);
- every Markdown or raw cell that is not the course's own (not, character for character, a
  Markdown or raw cell of the assignment's source notebook): rendered to HTML as the feedback
  would, cleaned by bleach, and stored as that clean HTML; no attachments but PNG/JPEG/GIF;
- cell metadata reduced to what nbgrader and the templates need, with safe tags and ids; no
  notebook-level widget state;
- sizes capped in bytes: ``output_bytes`` per output, ``notebook_bytes`` for all the outputs
  of a notebook; where an output was cut or dropped, a note says so, in its place.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import bleach
import nbformat
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat import NotebookNode
from traitlets import Bool, Integer

# HTML that a student's Markdown or an output may keep: text structure, no behaviour.
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title"], "td": ["align"], "th": ["align"]}
# Output types kept as they are (text is escaped by every template; PNG/JPEG are base64 pictures).
SAFE_OUTPUT = {"text/plain", "text/latex", "image/png", "image/jpeg"}
ATTACHMENTS = {"image/png", "image/jpeg", "image/gif"}
# Cell metadata the templates and nbgrader read; everything else of a student's cell goes.
CELL_METADATA = {"nbgrader", "tags", "editable", "deletable", "collapsed", "scrolled"}
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Blocks whose text bleach would otherwise keep as visible text.
SCRIPT_BLOCKS = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)


def clean_html(html: str) -> str:
    """``html`` with only ``TAGS`` and ``ATTRIBUTES`` left (links: http, https, mailto only)."""
    return bleach.clean(SCRIPT_BLOCKS.sub("", html), tags=TAGS, attributes=ATTRIBUTES, strip=True)


def markdown_as_clean_html(source: str) -> str:
    """A student's Markdown as the HTML it renders to, cleaned, in one block that Markdown
    passes through as it is (no blank line in it, so nothing inside is read as Markdown again)."""
    html = clean_html(markdown2html_mistune(source))
    lines = [line if line.strip() else "<!---->" for line in html.splitlines()]
    return "\n".join(['<div class="student-markdown">', *lines, "</div>"])


def _cut_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` bytes of UTF-8, with a note of what was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[:limit].decode(errors="ignore")
    return f"{kept}\n[output cut by the grader: {len(data):,} bytes, {limit:,} shown]\n"


def _note(text: str) -> NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=f"[{text}]\n")


def _size(output: NotebookNode) -> int:
    return len(json.dumps(output, ensure_ascii=False).encode())


class SanitizeSubmission(SanitizeHTML):
    """nbconvert's SanitizeHTML for a graded submission: every output, the student's own
    Markdown and raw cells, cell metadata, and byte caps (see the module's text)."""

    enabled = Bool(True, help="On: nbconvert skips a preprocessor that is not enabled.").tag(config=True)
    output_bytes = Integer(512 * 2**10, config=True, help="Bytes one output may take; the rest is cut.")
    notebook_bytes = Integer(8 * 2**20, config=True, help="Bytes all outputs of a notebook may take.")

    def preprocess(self, nb: NotebookNode, resources: dict):
        self._course_cells = self._course_sources(resources)
        self._left = self.notebook_bytes
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def _course_sources(self, resources: dict) -> set[str]:
        """The Markdown and raw cells of the assignment's source notebook (none if not found)."""
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        if not info.get("assignment") or not info.get("notebook"):
            return set()
        coursedir = CourseDirectory(config=self.config)
        folder = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
        path = folder / f"{info['notebook']}.ipynb"
        if not path.is_file():
            self.log.warning("No source notebook %s: every Markdown cell is sanitised", path)
            return set()
        source = nbformat.read(path, as_version=4)
        return {cell.source for cell in source.cells if cell.cell_type in ("markdown", "raw")}

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        self._clean_metadata(cell)
        if cell.cell_type in ("markdown", "raw") and cell.source not in self._course_cells:
            cell.source = markdown_as_clean_html(cell.source)
            attachments = cell.get("attachments", {})
            for name in list(attachments):
                if not set(attachments[name]) <= ATTACHMENTS:
                    del attachments[name]
        elif cell.cell_type == "code":
            cell.outputs = [self._capped(o) for o in self.sanitize_code_outputs(cell.outputs)]
        return cell, resources

    def sanitize_html_tags(self, html_str: str) -> str:
        return clean_html(html_str)

    def sanitize_code_outputs(self, outputs: list) -> list:
        for output in outputs:
            if output.output_type in ("display_data", "execute_result"):
                output.metadata = {}
                for key in list(output.data):
                    if key in ("text/html", "text/markdown"):
                        output.data[key] = clean_html(str(output.data[key]))
                    elif key not in SAFE_OUTPUT:
                        del output.data[key]
        return outputs

    def _clean_metadata(self, cell: NotebookNode) -> None:
        for key in set(cell.metadata) - CELL_METADATA:
            del cell.metadata[key]
        tags = cell.metadata.get("tags")
        if tags is not None:
            cell.metadata.tags = [t for t in tags if isinstance(t, str) and SAFE_NAME.match(t)]
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and not (isinstance(grade_id, str) and SAFE_NAME.match(grade_id)):
            del cell.metadata["nbgrader"]
        if "id" in cell and not (isinstance(cell.id, str) and SAFE_NAME.match(cell.id)):
            cell.id = uuid.uuid4().hex[:8]

    def _capped(self, output: NotebookNode) -> NotebookNode:
        """``output`` within ``output_bytes`` and what is left of ``notebook_bytes``, or a note."""
        limit = min(self.output_bytes, self._left)
        if _size(output) > limit:
            output = self._cut(output, limit)
        self._left -= _size(output)
        return output

    def _cut(self, output: NotebookNode, limit: int) -> NotebookNode:
        """A smaller ``output`` of the same type (an error stays an error), or a note."""
        room = max(limit - 1024, 0)
        if room == 0:
            note = (
                f"output removed by the grader: the notebook's outputs passed {self.notebook_bytes:,} bytes"
            )
            if output.output_type == "error":
                return nbformat.v4.new_output("error", ename=output.ename[:100], evalue="", traceback=[note])
            return _note(note)
        if output.output_type == "stream":
            output.text = _cut_text(output.text, room)
        elif output.output_type == "error":
            output.ename = output.ename[:100]
            output.evalue = _cut_text(output.evalue, room // 2)
            output.traceback = [_cut_text("\n".join(output.traceback), room // 2)]
        else:
            texts = {
                k: v for k, v in output.data.items() if k in ("text/plain", "text/html", "text/markdown")
            }
            if len(json.dumps(texts).encode()) > room:  # too big even without its pictures
                texts = {"text/plain": _cut_text(str(texts.get("text/plain", "")), room)}
            elif set(output.data) - set(texts):
                texts["text/plain"] = (
                    str(texts.get("text/plain", ""))
                    + "\n[a picture over the size limit was removed by the grader]"
                )
            output.data = texts
        return output
