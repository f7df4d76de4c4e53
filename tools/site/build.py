"""Build the static site of the series: run every notebook, render it with Sphinx, write site/.

python -m tools.site.build [--notebooks notebooks/] [--out site/] [--without-solutions]

The notebooks are run here (tools/series.py, one fresh kernel each), cleaned with nbgrader's
own preprocessors (hidden tests always, solutions with --without-solutions), and rendered by
Sphinx with MyST-NB and sphinx-book-theme (settings in tools/site/sphinx/conf.py; the index from
tools/site/templates/index.md.j2). The site works
offline, opened from disk or from any static file host: MathJax is copied from a pinned package
(see requirements-dev.txt), the theme bundles its icons, and a page that would still load anything
from the internet is refused.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import html
import io
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import nbformat
from markdown_it import MarkdownIt
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
from sphinx.application import Sphinx
from sphinx.errors import SphinxError
from sphinx.util.docutils import docutils_namespace

import checks
from tools import setup_cell
from tools.grading.course import copy_students_files
from tools import texts
from tools.markup import is_grade, is_solution, without_solution_markers
from tools.project import ASSIGNMENT
from tools.series import NOTEBOOK_DIR, ROOT, NotebookError, cell_name, execute, notebook_paths

SITE_DIR = ROOT / "site"
CONF_DIR = Path(__file__).resolve().parent / "sphinx"  # conf.py, _static/, _templates/
ZIP_NAME = f"{ASSIGNMENT}.zip"  # the same name and layout as `make assignment`'s release
# matplotlib's to_jshtml() players load Font Awesome 4 from a CDN for their buttons' icons; the
# theme's own Font Awesome (bundled, offline) draws the same icons, so the link just goes.
FONT_AWESOME_LINK = re.compile(r"<link\b[^>]*font-awesome[^>]*>")
# An http(s) URL that a browser would load by itself: src=, <link href=, CSS url() and @import,
# JavaScript import(). Links a reader clicks (<a href=) are fine.
REMOTE_LOAD = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|<link\b[^>]*\bhref\s*=\s*["']?|url\(\s*["']?|@import\s+["']|import\(\s*["'])"""
    r"""(https?:)?//""",
    re.IGNORECASE,
)
# A mention of utils.py or of one of its helpers in a notebook's prose, not a link yet.
UTILS_MENTION = re.compile(r"(?<!\[)`(utils(?:\.\w+)?)`(?!\])")


class SiteError(RuntimeError):
    """A notebook cannot be published: the message names the notebook and the cell."""


@dataclass
class Page:
    """One notebook of the series as the site shows it."""

    path: Path
    nb: nbformat.NotebookNode
    title: str
    description: str
    seconds: float | None = None

    @property
    def href(self) -> str:
        return f"{self.path.stem}.html"


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


def release(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The students' copy, as nbgrader's release makes it: no solutions, hidden tests, outputs."""
    nb = copy.deepcopy(nb)
    for preprocessor in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, _ = preprocessor.preprocess(nb, {})
    return nb


def image_descriptions(path: Path, nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{sha256 of the PNG: its alt text}`` for every figure (MyST-NB names images by hash).

    The text is the one ``utils.use_series_style`` attached (the figure's titles and labels),
    or the cell's own ``mystnb: image: alt:`` metadata, which MyST-NB applies itself.
    """
    described = {}
    for index, cell in enumerate(nb.cells):
        explicit = cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png is None:
                continue
            alt = explicit or output.get("metadata", {}).get("image/png", {}).get("alt")
            if not alt:
                raise SiteError(
                    f"{cell_name(path, index, cell)} shows a figure with nothing to describe it: give "
                    "it a title (plt.suptitle, ax.set_title) after utils.use_series_style(), or a "
                    "description in the cell's metadata, mystnb: image: alt:"
                )
            described[hashlib.sha256(base64.b64decode(png)).hexdigest()] = alt
    return described


def accessible_animation(path: Path, index: int, cell: nbformat.NotebookNode, page: str) -> str:
    """A to_jshtml() player with a description of its picture and a name for its slider."""
    alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
    if not alt:
        raise SiteError(
            f"{cell_name(path, index, cell)} shows an animation: describe what it shows in the "
            "cell's metadata, mystnb: image: alt: (the site gives it to readers who cannot see it)"
        )
    page = re.sub(r'<img id="(_anim_img\w+)"', rf'<img id="\1" alt="{html.escape(alt)}"', page)
    slider = r'<input id="\1" aria-label="Frame of the animation"'
    page = re.sub(r'<input id="(_anim_slider\w+)"', slider, page)
    return FONT_AWESOME_LINK.sub("", page)


def prepare(path: Path, nb: nbformat.NotebookNode, solutions: bool) -> tuple[Page, dict[str, str]]:
    """A copy of the executed notebook as the site shows it, and its figures' descriptions."""
    title, description = describe(path, nb)
    nb = copy.deepcopy(nb)  # the caller's notebook (a test fixture, say) stays as it was
    described = image_descriptions(path, nb)
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    if not solutions:
        nb, _ = ClearSolutions().preprocess(nb, {})
    for index, cell in enumerate(nb.cells):
        if not solutions and cell.cell_type == "code" and (is_solution(cell) or is_grade(cell)):
            cell.outputs = []  # they would show the answer, or checks of a missing answer
        if is_grade(cell):  # the hidden tests' results for the grader go with their code
            cell.outputs = [out for out in cell.get("outputs", []) if checks.MIME not in out.get("data", {})]
        # Solutions shown: only their marker lines go (nbgrader has no preprocessor for that).
        cell.source = without_solution_markers(cell.source)
        if cell.cell_type == "markdown":
            cell.source = UTILS_MENTION.sub(r"[`\1`](utils.md)", cell.source)
        for output in cell.get("outputs", []):
            page = output.get("data", {}).get("text/html")
            if page is not None and "_anim_img" in page:
                output.data["text/html"] = accessible_animation(path, index, cell, page)
    return Page(path, nb, title, description), described


def first_figure(nb: nbformat.NotebookNode) -> tuple[bytes, str] | None:
    """The notebook's first figure (PNG bytes) and its description, for the index."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png is not None:
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                return base64.b64decode(png), cell.metadata.get("mystnb", {}).get("image", {}).get("alt", alt)
    return None


def index_page(pages: list[Page], src: Path, solutions: bool) -> tuple[str, str]:
    """The index as MyST markdown (and the series' title), from templates/index.md.j2: the README's
    introduction, one row per notebook with its first figure and the time it takes, and how to
    run the series (the set-up commands of the release's README, tools/templates/setup.md.j2)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n## ", 1)[0].strip()
    title = intro.splitlines()[0].lstrip("# ").strip()
    rows = []
    for page in pages:
        figure = first_figure(page.nb)
        picture = ""
        if figure is not None:
            (src / "_static" / "thumbs").mkdir(parents=True, exist_ok=True)
            (src / "_static" / "thumbs" / f"{page.path.stem}.png").write_bytes(figure[0])
            picture = f'<img src="_static/thumbs/{page.path.stem}.png" alt="{html.escape(figure[1])}">'
        description = MarkdownIt().renderInline(page.description)
        rows.append({"picture": picture, "href": page.href, "title": page.title, "description": description,
                     "seconds": page.seconds})  # fmt: skip
    text = texts.render(
        "site/templates/index.md.j2",
        intro=intro,
        rows=rows,
        timed=any(page.seconds is not None for page in pages),
        solutions=solutions,
        zip_name=ZIP_NAME,
        toctree=[page.path.stem for page in pages] + ["utils"],
        **texts.setup_context("release"),
    )
    return text, title


UTILS_PAGE = """# utils.py

The helpers every notebook of the series imports, meant to be read next to them.
{download}`Download utils.py <utils.py>`

```{literalinclude} utils.py
:language: python
:linenos:
```
"""


def copy_mathjax(static: Path) -> None:
    """MathJax 3 (TeX in, SVG out: no fonts to load) from its pinned package into ``static``."""
    mathjax = files("mathjax") / "static" / "mathjax"  # django-static-mathjax: MathJax 3.2.2
    (static / "mathjax").mkdir(parents=True, exist_ok=True)
    for source, target in (("es5/tex-svg-full.js", "tex-svg-full.js"), ("LICENSE", "LICENSE")):
        (static / "mathjax" / target).write_bytes((mathjax / source).read_bytes())


def write_zip(
    executed: list[tuple[Path, nbformat.NotebookNode]], src: Path
) -> dict[str, nbformat.NotebookNode]:
    """The series as students get it (the layout of `make assignment`'s release), zipped into
    ``src``; returns its notebooks by stem."""
    notebooks = {path.stem: release(nb) for path, nb in executed}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ZIP_NAME.removesuffix(".zip")
        copy_students_files(folder)
        for stem, nb in notebooks.items():
            nbformat.write(nb, folder / f"{stem}.ipynb")
        shutil.make_archive(str(src / folder.name), "zip", tmp, folder.name)
    return notebooks


def sphinx(src: Path, out: Path, title: str) -> None:
    """Render ``src`` to HTML in ``out``; any warning (stderr in a cell, say) is an error."""
    warnings = io.StringIO()
    overrides = {"project": title, "html_title": title}
    try:
        with docutils_namespace():
            app = Sphinx(
                src,
                src,
                out,
                src / ".doctrees",
                "html",
                confoverrides=overrides,
                status=None,
                warning=warnings,
                warningiserror=True,
            )
            app.build()
    except SphinxError as error:
        raise SiteError(f"Sphinx refused the site: {warnings.getvalue().strip() or error}") from None
    if app.statuscode != 0 or warnings.getvalue():
        raise SiteError(f"Sphinx refused the site: {warnings.getvalue().strip()}")


def refuse_remote_loads(out: Path) -> None:
    """Raise ``SiteError`` if a page would load anything from the internet when viewed."""
    for page in sorted(out.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        found = REMOTE_LOAD.search(text)
        if found:
            context = text[max(found.start() - 80, 0) : found.end() + 80]
            raise SiteError(f"{page.name} would load a file from the internet when viewed: ...{context}...")


def build_site(
    executed: list[tuple[Path, nbformat.NotebookNode]],
    out: Path,
    solutions: bool = True,
    seconds: dict[Path, float] | None = None,
    launch: dict | None = None,
) -> Path:
    """Write the site for notebooks already executed, in series order; return its index.html.

    ``seconds`` is how long each notebook took to run (shown on the index). Nothing is written
    unless every notebook can be published, and ``out`` is replaced whole, so a failed build
    never leaves a half-written site nor pages of removed notebooks. ``launch``: the theme's
    launch-button options (default: ``launch_buttons`` of the project's settings).
    """
    seconds = seconds or {}
    launch = launch_buttons(setup_cell.settings()) if launch is None else launch
    with tempfile.TemporaryDirectory() as tmp:
        src, built = Path(tmp) / "src", Path(tmp) / "site"
        shutil.copytree(CONF_DIR, src)
        described, pages = {}, []
        for path, nb in executed:
            page, alts = prepare(path, nb, solutions)
            page.seconds = seconds.get(path)
            pages.append(page)
            described |= alts
            nbformat.write(page.nb, src / path.name)
        (src / "alt_text.json").write_text(json.dumps(described))
        (src / "launch.json").write_text(json.dumps(launch))
        copy_mathjax(src / "_static")
        shutil.copy(ROOT / "utils.py", src / "utils.py")
        (src / "utils.md").write_text(UTILS_PAGE, encoding="utf-8")
        students = write_zip(executed, src)
        text, title = index_page(pages, src, solutions)
        (src / "index.md").write_text(text, encoding="utf-8")
        sphinx(src, built, title)
        for stem, nb in students.items():  # the download button offers the students' copy
            nbformat.write(nb, built / "_sources" / f"{stem}.ipynb")
        shutil.rmtree(built / ".doctrees", ignore_errors=True)
        for source_map in built.rglob("*.map"):  # the theme's debugging aids: 3.5 MB no reader needs
            source_map.unlink()
        refuse_remote_loads(built)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(built, out)
    return out / "index.html"


def launch_buttons(config: dict) -> dict:
    """sphinx-book-theme's options for "Open in Colab" and "Launch on Binder" on each notebook's
    page, pointing at notebooks/NN_name.ipynb on the repository's branch (``config``: pyproject's
    ``[tool.conv-im2col]``); no options, so no button, while no repository is set."""
    if setup_cell.github_repository(config["repository"]) is None:
        return {}
    return {
        "repository_url": config["repository"],
        "repository_branch": config["branch"],
        "path_to_docs": NOTEBOOK_DIR.relative_to(ROOT).as_posix(),
        "launch_buttons": {
            "colab_url": "https://colab.research.google.com",
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
        },
    }


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
    executed, seconds = [], {}
    for path in paths:
        started = time.perf_counter()
        try:
            executed.append((path, execute(path)))
        except NotebookError as error:
            sys.exit(f"FAILED: {error}")
        seconds[path] = time.perf_counter() - started
        print(f"{path.name}: executed in {seconds[path]:.1f} s", flush=True)
    try:
        build_site(executed, args.out, solutions=not args.without_solutions, seconds=seconds)
    except SiteError as error:
        sys.exit(f"FAILED: {error}")
    print(report(args.out.resolve(), time.perf_counter() - start))


if __name__ == "__main__":
    main()
