"""Build the static site of the series: run every notebook, render one page each, write site/.

python tools/build_site.py [--notebooks notebooks/] [--out site/] [--without-solutions]

Each page is nbconvert's HTMLExporter output in JupyterLab's look; tools/site_template adds the
links to the index and to the previous and next notebook. The site works offline, opened from
disk or from any static file host: MathJax and the icons of matplotlib's animations are copied
into site/assets/ from pinned packages (see requirements.txt), and a page that would still load
anything from the internet is refused.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from notebooks import NOTEBOOK_DIR, ROOT, NotebookError, cell_name, execute, notebook_paths

SITE_DIR = ROOT / "site"
TEMPLATE_DIR = Path(__file__).resolve().parent / "site_template"
MATHJAX_URL = "assets/mathjax/tex-svg-full.js"
FONT_AWESOME_URL = "assets/fontawesome/css/font-awesome.css"
# matplotlib's to_jshtml() animations draw their buttons with Font Awesome 4 from this CDN.
FONT_AWESOME_CDN = "https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css"
# An http(s) URL that a browser would load by itself: src=, <link href=, CSS url() and @import,
# JavaScript import(). Links a reader clicks (<a href=) are fine.
REMOTE_LOAD = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|<link\b[^>]*\bhref\s*=\s*["']?|url\(\s*["']?|@import\s+["']|import\(\s*["'])"""
    r"""(https?:)?//""",
    re.IGNORECASE,
)
# nbgrader's marker comments; like nbgrader, any line that contains one is a marker.
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
HIDDEN_NOTE = "# (more checks here, hidden: they run when the exercise is graded)"


class SiteError(RuntimeError):
    """A notebook cannot be published: the message names the notebook and the cell."""


@dataclass
class Page:
    """One notebook of the series as the site shows it."""

    path: Path
    nb: nbformat.NotebookNode
    title: str
    description: str

    @property
    def href(self) -> str:
        return f"{self.path.stem}.html"


def refuse_errors_and_warnings(path: Path, nb: nbformat.NotebookNode) -> None:
    """Raise ``SiteError`` if any cell holds an error or wrote to stderr (warnings do)."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                raise SiteError(f"{cell_name(path, index, cell)} raised {output.ename}: {output.evalue}")
            if output.output_type == "stream" and output.name == "stderr":
                raise SiteError(
                    f"{cell_name(path, index, cell)} wrote to stderr (a warning?); "
                    f"a page is never published with it:\n{output.text.strip()[:500]}"
                )


def public_source(source: str) -> str:
    """The cell as the site shows it: solution markers dropped, hidden tests replaced by a note.

    Hidden tests are the grader's: nbgrader's release leaves them out of the students' copy
    too, and publishing them would tell students exactly what the grader checks, for this
    year's exercises and the next. They still ran (the page's outputs come from the full
    notebook), so every solution shown passes them; the note explains the lines they print.
    """
    lines, hidden = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            hidden = True
            lines.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden and BEGIN_SOLUTION not in line and END_SOLUTION not in line:
            lines.append(line)
    return "\n".join(lines).rstrip()


def without_solution(source: str, code: bool) -> str:
    """Each solution region replaced by nbgrader's stub, as in the students' release."""
    lines, inside = [], False
    for line in source.splitlines():
        if BEGIN_SOLUTION in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            stub = ["# YOUR CODE HERE", "raise NotImplementedError()"] if code else ["YOUR ANSWER HERE"]
            lines += [indent + text for text in stub]
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def describe(path: Path, nb: nbformat.NotebookNode) -> tuple[str, str]:
    """Title and one-line description, from the notebook's first cell (see CONTRIBUTING.md).

    The first cell is markdown: ``# NN · Title``, then one sentence on where the notebook sits
    in the series (the description), then the goals.
    """
    first = nb.cells[0] if nb.cells else None
    text = first.source.strip() if first is not None and first.cell_type == "markdown" else ""
    heading, _, rest = text.partition("\n")
    paragraph = " ".join(rest.strip().split("\n\n")[0].split())
    if not heading.startswith("# ") or not paragraph or paragraph.lower().startswith("after this notebook"):
        raise SiteError(
            f"{path.name}, cell 0: the index needs a first markdown cell '# NN · Title' followed by "
            "one sentence on where the notebook sits in the series (CONTRIBUTING.md)"
        )
    return heading[2:].strip(), paragraph


def prepare(path: Path, nb: nbformat.NotebookNode, solutions: bool) -> Page:
    """A copy of the executed notebook, checked and cleaned for publishing."""
    refuse_errors_and_warnings(path, nb)
    title, description = describe(path, nb)
    nb = copy.deepcopy(nb)  # the caller's notebook (a test fixture, say) stays as it was
    nb.metadata["title"] = title
    for cell in nb.cells:
        answer_or_check = BEGIN_SOLUTION in cell.source or cell.metadata.get("nbgrader", {}).get("grade")
        if not solutions and answer_or_check:
            cell.source = without_solution(cell.source, code=cell.cell_type == "code")
            if cell.cell_type == "code":
                cell.outputs = []  # they would show the answer, or checks of a missing answer
        cell.source = public_source(cell.source)
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is not None:
                output.data["text/html"] = html.replace(FONT_AWESOME_CDN, FONT_AWESOME_URL)
    return Page(path, nb, title, description)


def index_notebook(pages: list[Page], solutions: bool) -> nbformat.NotebookNode:
    """The index page, as a one-cell notebook: the README's introduction, then the notebooks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n## ", 1)[0].strip()
    title = intro.splitlines()[0].lstrip("# ").strip()
    lines = [intro, "", "## The notebooks, in order", ""]
    lines += [f"- **[{page.title}]({page.href})**: {page.description}" for page in pages]
    lines += [
        "",
        "Each page is the notebook run from top to bottom, with all its outputs"
        + ("." if solutions else "; the solutions of the exercises are left out.")
        + " To run and change the code yourself, get the repository and follow its README"
        " (`make lab`).",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("\n".join(lines))])
    nb.metadata["title"] = title
    return nb


def copy_assets(out: Path) -> None:
    """MathJax and the Font Awesome icons, from their pinned packages, into ``out/assets``."""
    mathjax = files("mathjax") / "static" / "mathjax"  # django-static-mathjax: MathJax 3.2.2
    icons = files("fontawesomefree") / "static" / "fontawesomefree"  # Font Awesome 6 Free
    # Font Awesome: the core, the solid icons, and the shims for version 4's names (fa-play, ...).
    css = [
        (icons / "css" / name).read_text()
        for name in ("fontawesome.min.css", "solid.min.css", "v4-shims.min.css")
    ]
    copies = {
        MATHJAX_URL: (mathjax / "es5" / "tex-svg-full.js").read_bytes(),  # TeX in, SVG out: no fonts
        "assets/mathjax/LICENSE": (mathjax / "LICENSE").read_bytes(),
        FONT_AWESOME_URL: "\n".join(css).encode(),
        "assets/fontawesome/webfonts/fa-solid-900.woff2": (
            icons / "webfonts" / "fa-solid-900.woff2"
        ).read_bytes(),
        "assets/fontawesome/LICENSE.txt": (icons / "LICENSE.txt").read_bytes(),
    }
    for target, content in copies.items():
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        (out / target).write_bytes(content)


def render(exporter: HTMLExporter, nb: nbformat.NotebookNode, name: str, nav: dict | None) -> str:
    """One HTML page; refuses a page that would load anything from the internet."""
    html, _ = exporter.from_notebook_node(nb, resources={"site_nav": nav})
    found = REMOTE_LOAD.search(html)
    if found:
        context = html[max(found.start() - 80, 0) : found.end() + 80]
        raise SiteError(f"{name} would load a file from the internet when viewed: ...{context}...")
    return html


def build_site(executed: list[tuple[Path, nbformat.NotebookNode]], out: Path, solutions: bool = True) -> Path:
    """Write the site for notebooks already executed, in series order; return its index.html.

    Nothing is written unless every notebook can be published, and ``out`` is replaced whole,
    so a failed build never leaves a half-written site nor pages of removed notebooks.
    """
    pages = [prepare(path, nb, solutions) for path, nb in executed]
    exporter = HTMLExporter(
        template_name="site_template",
        extra_template_basedirs=[str(TEMPLATE_DIR.parent)],
        mathjax_url=MATHJAX_URL,
        theme="light",
    )
    html = {"index.html": render(exporter, index_notebook(pages, solutions), "index.html", None)}
    for i, page in enumerate(pages):
        nav = {
            "previous": {"href": pages[i - 1].href, "title": pages[i - 1].title} if i > 0 else None,
            "next": {"href": pages[i + 1].href, "title": pages[i + 1].title} if i + 1 < len(pages) else None,
        }
        html[page.href] = render(exporter, page.nb, page.path.name, nav)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    copy_assets(out)
    for name, text in html.items():
        (out / name).write_text(text, encoding="utf-8")
    return out / "index.html"


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def report(out: Path, seconds: float) -> str:
    """Where the site is, its size and its largest page."""
    files_ = [f for f in out.rglob("*") if f.is_file()]
    pages = sorted(out.glob("*.html"), key=lambda f: f.stat().st_size)
    total = sum(f.stat().st_size for f in files_)
    largest = pages[-1]
    count = f"{len(pages)} page" + ("s" if len(pages) > 1 else "")
    return (
        f"The site is in {out}/ ({count}, {megabytes(total)} in {len(files_)} files; "
        f"largest page {largest.name}, {megabytes(largest.stat().st_size)}), built in {seconds:.0f} s.\n"
        f"Open {out / 'index.html'} in a browser, or copy {out}/ to any static file host."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR, help="folder of NN_name.ipynb")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="the site's folder (replaced)")
    parser.add_argument(
        "--without-solutions",
        action="store_true",
        help="show the exercises as the students' release does, with no solutions and no outputs",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    paths = notebook_paths(args.notebooks)
    if not paths:
        print(f"No notebook NN_name.ipynb in {args.notebooks} yet: the site has only its index.")
    executed = []
    for path in paths:
        started = time.perf_counter()
        try:
            executed.append((path, execute(path, snapshot=False)[0]))
        except NotebookError as error:
            sys.exit(f"FAILED: {error}")
        print(f"{path.name}: executed in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        build_site(executed, args.out, solutions=not args.without_solutions)
    except SiteError as error:
        sys.exit(f"FAILED: {error}")
    print(report(args.out.resolve(), time.perf_counter() - start))


if __name__ == "__main__":
    main()
