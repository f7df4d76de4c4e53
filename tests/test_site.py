"""The static site: built from the notebooks, then every page loaded in headless Chromium, offline.

The browser is Debian's chromium (``CHROMIUM=/path/to/chrome`` points elsewhere), driven by
Playwright; no browser is downloaded. Every request a page makes that is not a file of the site
is aborted and counted. Screenshots of every page go to ``site/screenshots/``.
"""

import base64
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tools.markup import MARKERS
from tools.series import ROOT, execute, notebook_paths
from tools.site.build import SITE_DIR, ZIP_NAME, SiteError, build_site

PAGE_BUDGET = 3_000_000  # bytes: a page with its figures and animations inlined
WIDEST_FIGURE = 1200  # pixels: figsize up to 12 inches at the series' 80 dpi, with some margin
PATHS = notebook_paths()
BUILD = [sys.executable, "-m", "tools.site.build"]

pytestmark = pytest.mark.slow(100)  # seconds, alone on a 2-core machine


# --- what a notebook should show --------------------------------------------------------------


def figures(nb) -> int:
    """Outputs the page shows as a picture (<img>): PNG or JPEG data without an HTML view."""
    return sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if {"image/png", "image/jpeg"} & set(out.get("data", {})) and "text/html" not in out.get("data", {})
    )


def animations(nb) -> int:
    """Outputs of matplotlib's ``to_jshtml()``."""
    return sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if 'class="animation"' in out.get("data", {}).get("text/html", "")
    )


# nbconvert's own math patterns (nbconvert/filters/markdown_mistune.py): $$..$$, \\[..\\],
# \begin{env}..\end{env}, $..$ and \\(..\\), none of them after a backslash.
MATH = re.compile(
    r"(?<!\\)\$\$.*?(?<!\\)\$\$|(?<!\\)\\\\\[.*?(?<!\\)\\\\\]|\\begin\{([a-z]*\*?)\}.*?\\end\{\1\}"
    r"|(?<![$\\])\$.+?(?<![$\\])\$|(?<!\\)\\\\\(.*?(?<!\\)\\\\\)",
    re.DOTALL,
)


def formulas(nb) -> int:
    """The TeX formulas in the markdown cells, code spans and blocks left out."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = re.sub(r"```.*?```", "", cell.source, flags=re.DOTALL)
            count += len(MATH.findall(re.sub(r"`[^`\n]*`", "", text)))
    return count


# --- the browser ------------------------------------------------------------------------------


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # `npm ci` installs it (package.json)
PLACEHOLDER = "No description has been provided for this image"

# Runs in the page once it has loaded, MathJax has typeset and the animations have started.
COLLECT = """() => {
  const article = document.querySelector('article') || document.body;
  const pictures = [...article.querySelectorAll('img')];
  const figures = [...article.querySelectorAll('.cell_output img')].filter(img => !img.closest('.animation'));
  const shown = img => img.complete && img.naturalWidth > 0;
  const href = selector => {
    const link = document.querySelector(selector);
    return link ? link.getAttribute('href') : null;
  };
  return {
    figures: figures.filter(shown).length,
    widest: Math.max(0, ...figures.map(img => img.naturalWidth)),
    animations: [...document.querySelectorAll('.animation img')].filter(shown).length,
    math: article.querySelectorAll('.math').length,
    typeset: article.querySelectorAll('.math mjx-container').length,
    math_errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent),
    no_alt: pictures.filter(img => !img.getAttribute('alt') || img.alt.includes('No description'))
      .map(img => img.outerHTML.slice(0, 120)),
    icons: [...document.querySelectorAll('.animation button svg')].filter(i => i.getBBox().width > 0).length,
    contents: [...document.querySelectorAll('nav.bd-docs-nav a')].map(a => a.textContent.trim()),
    current: [...document.querySelectorAll('nav.bd-docs-nav a.current')].map(a => a.textContent.trim()),
    previous: href('.prev-next-area a.left-prev'),
    next: href('.prev-next-area a.right-next'),
    download: href('.dropdown-download-buttons a[href$=".ipynb"]'),
    links: [...document.querySelectorAll('.series-list a')].map(a => [a.getAttribute('href'), a.textContent]),
    zip: href('a.download[href$=".zip"]'),
    utils_links: [...article.querySelectorAll('a')].filter(a => /^utils(\\.\\w+)?$/.test(a.textContent))
      .map(a => a.getAttribute('href')),
    hrefs: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    title: document.title,
    headings: [...document.querySelectorAll('h1')].filter(h => h.checkVisibility())
      .map(h => h.textContent.replace('#', '').trim()),
    lang: document.documentElement.lang,
  };
}"""

AXE_RUN = """() => axe.run(document, {preload: false}).then(result => result.violations
  .filter(v => ['serious', 'critical'].includes(v.impact))
  .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`))"""


@dataclass
class Visit:
    """What one page did and showed in the browser."""

    errors: list = field(default_factory=list)  # console errors and uncaught exceptions
    failed: list = field(default_factory=list)  # files of the site that did not load
    blocked: list = field(default_factory=list)  # requests to anything but a file: aborted
    shown: dict = field(default_factory=dict)  # COLLECT's answer
    advances: list = field(default_factory=list)  # one per animation: moved by the keyboard?
    axe: dict = field(default_factory=dict)  # {"light": [...], "dark": [...]}: serious or critical


def keyboard_advances(page) -> list[bool]:
    """Step every animation on the page with the keyboard only; did its picture change?"""
    moved = []
    for animation in page.locator(".animation").all():
        img = animation.locator("img").first
        for control, key in (
            (animation.locator('button[title="Next frame"]'), "Enter"),
            (animation.locator("input.anim-slider"), "ArrowRight"),
        ):
            before = img.get_attribute("src")
            control.focus()
            page.keyboard.press(key)
            page.wait_for_timeout(50)
            moved.append(img.get_attribute("src") != before)
    return moved


def visit(browser, page_path: Path, screenshots: Path) -> Visit:
    """Load a page from disk with the network blocked, light then dark: collect what it shows,
    run axe, screenshot it (``screenshots/<page>-light.png``, ``-dark.png``)."""
    result = Visit()
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and result.errors.append(message.text))
        page.on("pageerror", lambda error: result.errors.append(str(error)))
        page.on(
            "requestfailed",
            lambda request: (
                request.url.startswith("file:") and result.failed.append(f"{request.url}: {request.failure}")
            ),
        )

        def only_files(route):
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                result.blocked.append(route.request.url)
                route.abort()

        page.route("**/*", only_files)
        page.goto(page_path.as_uri())
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise.then(() => true)")
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('.animation img')]"
                ".every(i => i.complete && i.naturalWidth)",
                timeout=10_000,
            )
        except PlaywrightTimeout:
            pass  # the counts below then say which animation did not start
        page.evaluate("() => document.fonts.ready.then(() => true)")
        if scheme == "light":
            result.shown = page.evaluate(COLLECT)
        page.add_script_tag(path=str(AXE))
        result.axe[scheme] = page.evaluate(AXE_RUN)
        screenshots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshots / f"{page_path.stem}-{scheme}.png"), full_page=True)
        if scheme == "light":
            result.advances = keyboard_advances(page)
        context.close()
    return result


def check_page(name: str, seen: Visit, nb) -> None:
    """Everything a page of the series must show, offline, counted against its notebook."""
    assert seen.blocked == [], f"{name} tried to load from the network: {seen.blocked}"
    assert seen.failed == [], f"{name}: requests failed: {seen.failed}"
    assert seen.errors == [], f"{name}: console errors: {seen.errors}"
    assert seen.axe == {"light": [], "dark": []}, f"{name}: axe-core found {seen.axe}"
    shown = seen.shown
    assert shown["math_errors"] == [], f"{name}: MathJax could not typeset {shown['math_errors']}"
    assert shown["typeset"] == shown["math"], f"{name}: formulas typeset vs found"
    assert shown["no_alt"] == [], f"{name}: pictures without a description"
    assert len(shown["headings"]) == 1 and shown["lang"] == "en", (name, shown["headings"], shown["lang"])
    if nb is None:
        return
    assert shown["figures"] == figures(nb), f"{name}: figures shown vs in the notebook"
    assert shown["animations"] == animations(nb), f"{name}: animations running vs in the notebook"
    assert shown["widest"] <= WIDEST_FIGURE, f"{name}: a figure {shown['widest']} px wide: lower its dpi"
    assert all(seen.advances), f"{name}: an animation does not step from the keyboard"


def check_navigation(hrefs: list[str], titles: list[str], visits: dict, site: Path) -> None:
    """Every page lists the series (itself marked), links its neighbours and resolves its links."""
    for i, href in enumerate(hrefs):
        shown = visits[href].shown
        assert shown["contents"][1 : 1 + len(titles)] == titles, href
        assert shown["current"] == [titles[i]], href
        assert shown["previous"] == (hrefs[i - 1] if i > 0 else "index.html"), href
        assert shown["next"] == (hrefs[i + 1] if i + 1 < len(hrefs) else "utils.html"), href
    for name, seen in visits.items():
        for link in seen.shown["hrefs"]:
            target = link.split("#")[0].split("?")[0]
            if target and not re.match(r"[a-z]+:", target):
                assert (site / target).is_file(), f"{name} links to {link}, which is not in the site"


def check_download(site: Path, href: str) -> None:
    """The notebook a page offers: the students' copy, without outputs, solutions or markers."""
    nb = nbformat.read(site / href, as_version=4)
    assert all(cell.get("outputs", []) == [] for cell in nb.cells), href
    text = (site / href).read_text(encoding="utf-8")
    assert not [marker for marker in MARKERS if marker in text], href


def check_screenshot(path: Path) -> None:
    """A real page: large enough, text in it, not one flat colour."""
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000, (path.name, pixels.shape)
    assert pixels.std() > 10, f"{path.name} is (nearly) blank"
    dark = path.stem.endswith("-dark")
    ink = (pixels > 128).mean() if dark else (pixels < 128).mean()
    assert ink > 0.005, f"{path.name} has (nearly) no text"
    assert (pixels.mean() < 128) == dark, f"{path.name}: not in the {'dark' if dark else 'light'} theme"


# --- the series' own site ---------------------------------------------------------------------

SHOTS = ROOT / "build" / "screenshots"  # kept out of the published site/


@pytest.fixture(scope="module")
def series():
    """The site of the series in site/, built as `make html` builds it: every notebook run once."""
    notebooks = {path.stem: execute(path) for path in PATHS}
    build_site([(path, notebooks[path.stem]) for path in PATHS], SITE_DIR)
    return notebooks


@pytest.fixture(scope="module")
def series_visits(series, browser):
    names = ["index.html", "utils.html"] + [f"{path.stem}.html" for path in PATHS]
    return {name: visit(browser, SITE_DIR / name, SHOTS / "site") for name in names}


def test_the_site_has_an_index_a_utils_page_and_one_page_per_notebook(series):
    pages = {p.name for p in SITE_DIR.glob("*.html")}
    assert pages >= {"index.html", "utils.html"} | {f"{path.stem}.html" for path in PATHS}
    assert (SITE_DIR / "_static" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    assert not (SITE_DIR / "screenshots").exists()


def test_every_page_shows_everything_offline_and_axe_finds_nothing_serious(series, series_visits):
    check_page("index.html", series_visits["index.html"], None)
    check_page("utils.html", series_visits["utils.html"], None)
    for path in PATHS:
        check_page(f"{path.stem}.html", series_visits[f"{path.stem}.html"], series[path.stem])


def test_the_index_lists_every_notebook_in_order_with_its_picture(series, series_visits):
    shown = series_visits["index.html"].shown
    assert [href for href, _ in shown["links"]] == [f"{path.stem}.html" for path in PATHS]
    for href, text in shown["links"]:
        assert series_visits[href].shown["headings"] == [text], "the link names the notebook's title"
        assert series_visits[href].shown["title"].startswith(text)
    thumbs = sorted(p.stem for p in (SITE_DIR / "_static" / "thumbs").glob("*.png"))
    assert thumbs == [path.stem for path in PATHS if figures(series[path.stem])]


def test_every_page_shows_the_series_and_links_its_neighbours(series, series_visits):
    hrefs = [f"{path.stem}.html" for path in PATHS]
    titles = [series_visits[href].shown["headings"][0] for href in hrefs]
    check_navigation(hrefs, titles, series_visits, SITE_DIR)


def test_each_page_offers_its_notebook_and_the_index_the_series(series, series_visits):
    for path in PATHS:
        href = series_visits[f"{path.stem}.html"].shown["download"]
        assert href == f"_sources/{path.name}"
        check_download(SITE_DIR, href)
    with zipfile.ZipFile(SITE_DIR / series_visits["index.html"].shown["zip"]) as archive:
        names = set(archive.namelist())
    folder = ZIP_NAME.removesuffix(".zip")
    assert {f"{folder}/{path.name}" for path in PATHS} | {f"{folder}/utils.py"} <= names


def test_utils_py_has_a_page_linked_from_the_notebooks(series, series_visits):
    assert '<span class="nf">conv2d_im2col</span>' in (SITE_DIR / "utils.html").read_text(encoding="utf-8")
    for path in PATHS:
        prose = [c.source for c in series[path.stem].cells if c.cell_type == "markdown"]
        mentions = sum(len(re.findall(r"`utils(?:\.\w+)?`", text)) for text in prose)
        links = series_visits[f"{path.stem}.html"].shown["utils_links"]
        assert links.count("utils.html") == mentions, path.name


def test_search_works_offline_from_disk(series, browser):
    page = browser.new_page()
    errors, blocked = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("file:")
            else (blocked.append(route.request.url), route.abort())
        ),
    )
    page.goto((SITE_DIR / "search.html").as_uri() + "?q=im2col")
    page.wait_for_selector("ul.search li", timeout=10_000)
    found = page.evaluate(
        "() => [...document.querySelectorAll('ul.search li > a')].map(a => a.getAttribute('href'))"
    )
    page.close()
    assert "utils.html" in found and any(href.startswith(path.stem) for path in PATHS for href in found), (
        found
    )
    assert errors == [] and blocked == [], (errors, blocked)


def test_screenshots_light_and_dark_are_not_blank(series_visits):
    shots = sorted((SHOTS / "site").glob("*.png"))
    assert len(shots) == 2 * len(series_visits)
    for shot in shots:
        check_screenshot(shot)


def test_no_nbgrader_marker_reaches_a_page(series):
    for page in SITE_DIR.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not [marker for marker in MARKERS if marker in html], page.name


def test_pages_are_light(series):
    for page in SITE_DIR.glob("*.html"):
        assert page.stat().st_size <= PAGE_BUDGET, f"{page.name}: smaller figures or fewer animation frames"


# --- a sample series with every kind of output, built by the command itself -------------------


def code(source: str, alt: str = "", **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    if alt:
        cell.metadata["mystnb"] = {"image": {"alt": alt}}
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False, **nbgrader}
    return cell


def write_notebook(path: Path, title: str, *cells) -> Path:
    first = nbformat.v4.new_markdown_cell(f"# {title}\n\nA sample notebook of the site's tests.\n")
    nb = nbformat.v4.new_notebook(cells=[first, *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}  # as an executed notebook has it
    nbformat.write(nb, path)
    return path


# The sample notebooks' cells: a figure, a table, an animation, formulas, an nbgrader exercise.
IMPORTS = """import utils
utils.use_series_style()
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib import animation"""
FORMULAS = r"""Inline $o = \sum_{c,i,j} x_{c,i,j}\, w_{c,i,j} + b$ and displayed:

$$H_{out} = \left\lfloor \frac{H + 2p - d(k-1) - 1}{s} \right\rfloor + 1$$

A price of \$5 and `$x$` are no math."""
FIGURE = """fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
ax.plot([1, 2, 3])
ax.set_title("a line")
plt.show()"""
ANIMATION = """fig, ax = plt.subplots(figsize=(2, 2), dpi=60)
image = ax.imshow(np.zeros((4, 4)), vmin=0, vmax=1)
def step(i):
    image.set_data(np.eye(4)[[i]] * np.ones((4, 1)))
    return [image]
movie = animation.FuncAnimation(fig, step, frames=4)
plt.close(fig)
HTML(movie.to_jshtml())"""
ANSWER = """def square(x):
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION"""
CHECK = """assert square(3) == 9
print("visible check passed")
### BEGIN HIDDEN TESTS
assert square(-4) == 16
### END HIDDEN TESTS"""
BARS = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
ax.bar(["a", "b"], [1, 2])
ax.set_title("bars")
plt.show()"""


def write_sample_series(folder: Path) -> None:
    md = nbformat.v4.new_markdown_cell
    write_notebook(
        folder / "01_everything.ipynb",
        "01 · Everything",
        code(IMPORTS),
        md(FORMULAS),
        code(FIGURE),
        code("pd.DataFrame({'n': [1, 2], 'square': [1, 4]})"),
        code(ANIMATION, alt="A bright row moving down a 4 x 4 square"),
        md("## Exercises"),
        code(ANSWER, solution=True, grade_id="ex1-answer"),
        code(CHECK, grade=True, points=10, locked=True, grade_id="ex1-check"),
    )
    write_notebook(
        folder / "02_second.ipynb", "02 · Second", code(IMPORTS), code(BARS), md(r"Only $k^2$ here.")
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A two-notebook series with a figure, an animation, a table, formulas and an exercise."""
    folder = tmp_path_factory.mktemp("sample")
    write_sample_series(folder)
    out = folder / "site"
    run = subprocess.run(
        [*BUILD, "--notebooks", str(folder), "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    return out, run.stdout


def test_the_command_says_where_the_site_is_and_how_big(sample):
    out, stdout = sample
    assert "01_everything.ipynb: executed in" in stdout and "02_second.ipynb: executed in" in stdout
    assert f"The site is in {out}/ (6 pages, " in stdout  # with utils, search, genindex
    assert re.search(r"largest page \S+\.html, \d+\.\d MB\), built in \d+ s", stdout)
    assert f"Open {out / 'index.html'} in a browser" in stdout


def test_the_sample_shows_figures_animations_tables_and_formulas_offline(sample, browser):
    out, _ = sample
    hrefs = ["01_everything.html", "02_second.html"]
    visits = {name: visit(browser, out / name, out.parent / "shots") for name in ["index.html", *hrefs]}
    expected = {"01_everything.html": (1, 1, 2), "02_second.html": (1, 0, 1)}  # figures, animations, formulas
    for name in ["index.html", *hrefs]:
        check_page(name, visits[name], None)
    for name, counts in expected.items():
        shown = visits[name].shown
        assert (shown["figures"], shown["animations"], shown["typeset"]) == counts, name
    assert visits["01_everything.html"].advances == [True, True]
    assert visits["01_everything.html"].shown["icons"] == 9, "the player's buttons show their icons"
    assert visits["index.html"].shown["links"] == [
        ["01_everything.html", "01 · Everything"],
        ["02_second.html", "02 · Second"],
    ]
    check_navigation(hrefs, ["01 · Everything", "02 · Second"], visits, out)
    for shot in (out.parent / "shots").glob("*.png"):
        check_screenshot(shot)
    page = (out / "01_everything.html").read_text(encoding="utf-8")
    assert 'class="dataframe' in page
    assert 'alt="a line."' in page and 'alt="A bright row moving down a 4 x 4 square"' in page


def test_markers_and_hidden_tests_stay_off_the_site_but_solutions_show(sample):
    out, _ = sample
    page = (out / "01_everything.html").read_text(encoding="utf-8")
    assert not [marker for marker in MARKERS if marker in page]
    assert "square(-4)" not in page  # the hidden test
    assert "visible check passed" in page and "square" in page and 'x</span> <span class="o">*</span>' in page


def test_without_solutions_the_exercises_look_like_the_release(tmp_path):
    path = write_notebook(
        tmp_path / "01_ex.ipynb",
        "01 · Ex",
        code(ANSWER, solution=True),
        code(CHECK, grade=True),
    )
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="output of the check\n")]
    pages = {}
    for solutions in (True, False):
        build_site([(path, nb)], tmp_path / "site", solutions=solutions)
        pages[solutions] = (tmp_path / "site" / "01_ex.html").read_text(encoding="utf-8")
    solution, stub = '<span class="n">x</span> <span class="o">*</span>', "YOUR CODE HERE"
    assert solution in pages[True] and "output of the check" in pages[True] and stub not in pages[True]
    assert solution not in pages[False] and "output of the check" not in pages[False] and stub in pages[False]
    assert 'raise</span> <span class="ne">NotImplementedError' in pages[False]
    for page in pages.values():
        assert "square(4)" not in page and not [marker for marker in MARKERS if marker in page]
    assert nb.cells[1].source.count("SOLUTION") == 2, "the caller's notebook is left as it was"


# --- a build that must fail -------------------------------------------------------------------


def test_a_cell_that_raises_stops_the_build_naming_notebook_and_cell(tmp_path):
    write_notebook(tmp_path / "01_fine.ipynb", "01 · Fine", code("x = 1"))
    write_notebook(
        tmp_path / "02_broken.ipynb", "02 · Broken", code("y = 2"), code("raise ValueError('no good')")
    )
    out = tmp_path / "site"
    run = subprocess.run(
        [*BUILD, "--notebooks", str(tmp_path), "--out", str(out)], capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "FAILED: 02_broken.ipynb, cell 2 (\"raise ValueError('no good')\")" in run.stderr
    assert "no good" in run.stderr
    assert not out.exists(), "nothing is published"


def test_a_warning_stops_the_build_naming_notebook_and_cell_and_keeps_the_old_site(tmp_path):
    write_notebook(
        tmp_path / "01_warns.ipynb", "01 · Warns", code("import warnings\nwarnings.warn('careful')")
    )
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("the previous site")
    run = subprocess.run(
        [*BUILD, "--notebooks", str(tmp_path), "--out", str(out)], capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "FAILED: Sphinx refused the site" in run.stderr
    assert "01_warns.ipynb" in run.stderr and "stderr was found in the cell outputs of cell 2" in run.stderr
    assert (out / "index.html").read_text() == "the previous site"


def executed_by_hand(path: Path, *outputs):
    """A one-code-cell notebook that looks executed, with the given outputs (no kernel needed)."""
    write_notebook(path, "01 · By hand", code("show()"))
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = list(outputs)
    return nb


def test_a_figure_without_a_description_is_refused(tmp_path):
    png = base64.b64encode(Image.new("RGB", (4, 4)).tobytes()).decode()  # any bytes will do
    figure = nbformat.v4.new_output("display_data", data={"image/png": png})
    nb = executed_by_hand(tmp_path / "01_mute.ipynb", figure)
    with pytest.raises(SiteError, match=r"01_mute.ipynb, cell 1 \('show\(\)'\) shows a figure with nothing"):
        build_site([(tmp_path / "01_mute.ipynb", nb)], tmp_path / "site")


def test_a_page_that_would_load_from_the_internet_is_refused(tmp_path):
    html = nbformat.v4.new_output(
        "display_data", data={"text/html": '<script src="https://cdn.example/x.js"></script>'}
    )
    nb = executed_by_hand(tmp_path / "01_cdn.ipynb", html)
    with pytest.raises(SiteError, match=r"01_cdn.html would load a file from the internet"):
        build_site([(tmp_path / "01_cdn.ipynb", nb)], tmp_path / "site")


def test_a_notebook_without_its_title_cell_is_refused(tmp_path):
    path = tmp_path / "01_untitled.ipynb"
    for first in (
        "Some prose without a title.",
        "# 01 · Goals only\n\nAfter this notebook you will be able to:",
    ):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(first)])
        with pytest.raises(SiteError, match=r"01_untitled.ipynb, cell 0: the index needs .* '# NN · Title'"):
            build_site([(path, nb)], tmp_path / "site")


def test_the_description_is_the_sentence_under_the_title(tmp_path):
    path = tmp_path / "01_described.ipynb"
    first = (
        "# 01 · Described\nWhere this one sits,\nover two lines.\n\nAfter this notebook you will be able to:"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(first)])
    build_site([(path, nb)], tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert (
        '<a href="01_described.html"><strong>01 · Described</strong></a><br>'
        "Where this one sits, over two lines." in index
    )
