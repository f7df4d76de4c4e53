"""The student's path: the release unpacked, its requirements only, notebook 01 in JupyterLab.

A student gets the release zip (`make assignment`), installs its ``requirements.txt`` into a
fresh virtualenv, starts JupyterLab and works in Chromium. This module does the same:

- ``build/student-venv`` holds exactly the release's requirements (made once, then reused while
  its stamp matches the requirements and ``pip freeze``); ``STUDENT_VENV=/path/to/venv`` uses
  another environment as it is, e.g. to try the browser part quickly (the first test then
  fails if it lacks a pinned version or holds course tooling);
- JupyterLab from that environment serves the unpacked release on a local port, with every
  setting that would reach the network switched off; Chromium (Debian's, driven by Playwright;
  ``CHROMIUM=/path/to/chrome`` points elsewhere) aborts and counts any request that leaves it;
- in notebook 01 the student runs *Run > Run All Cells* (it stops at the first exercise not
  answered yet), looks at the figures and steps the animation, types each answer, runs it and
  its check cell, sees the tick and saves the notebook (*File > Save Notebook*).

It fails, naming the cell, on any error or stderr output (but the stub of an exercise not
answered yet), on a picture the browser cannot decode or does not draw, on an animation that
does not step; and on a JavaScript error or a request that would leave the machine.

Screenshots go to ``build/screenshots/student_path/``.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from tools.markup import is_grade, is_solution, without_solution_markers
from tools.project import ASSIGNMENT, ROOT

NOTEBOOK = "01_cs231n_worked_example.ipynb"
SCREENSHOTS = ROOT / "build" / "screenshots" / "student_path"
VENV = Path(os.environ.get("STUDENT_VENV", ROOT / "build" / "student-venv")).absolute()
STAMP = "student-requirements.json"  # in the venv: what it was made from, and what it holds
# Course tooling a student never runs: none of it may be importable in the students' environment.
TOOLING = ("nbgrader", "pytest", "ruff", "playwright", "sphinx")
TICK = "\N{CHECK MARK}"

# First install: a few minutes (PyTorch); later runs reuse the environment.
# The students' environment takes minutes to build the first time; then the test takes about a minute.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow(70)]


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail the test with its output."""
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))}: exit {result.returncode}\n{result.stdout}"
    return result


# --- The release, as a student unpacks it ------------------------------------------------------


@pytest.fixture(scope="module")
def release(assignment_course) -> Path:
    """The release zip of `make assignment`, unpacked: the folder a student works in."""
    unpacked = assignment_course.parent / "student"
    with zipfile.ZipFile(assignment_course / f"{ASSIGNMENT}.zip") as archive:
        archive.extractall(unpacked)
    return unpacked / ASSIGNMENT


# --- The students' environment -------------------------------------------------------------------


def install_command(venv: Path, release: Path) -> list:
    """The students' README's install: the requirements, under the constraints if the release has them."""
    command = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-r", release / "requirements.txt"]
    if (release / "constraints.txt").exists():
        command += ["-c", release / "constraints.txt"]
    return command


def fingerprint(release: Path) -> str:
    """What an environment is made from: the requirement files and the Python version."""
    digest = hashlib.sha256(sys.version.encode())
    for name in ("requirements.txt", "constraints.txt"):
        if (release / name).exists():
            digest.update(name.encode() + (release / name).read_bytes())
    return digest.hexdigest()


def freeze(venv: Path) -> list[str]:
    return run([venv / "bin" / "python", "-m", "pip", "freeze"]).stdout.splitlines()


def venv_env(venv: Path) -> dict[str, str]:
    """The environment of the students' processes: their venv first on PATH, nothing of ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    ours = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != ours]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    return env


def reusable(venv: Path, release: Path) -> bool:
    """True if ``venv`` was made from these requirements and still holds what it held then."""
    try:
        stamp = json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("made_from") != fingerprint(release) or not (venv / "bin" / "python").exists():
        return False
    check = subprocess.run([venv / "bin" / "python", "-m", "pip", "check"], capture_output=True)
    return check.returncode == 0 and freeze(venv) == stamp.get("freeze")


@pytest.fixture(scope="module")
def student_venv(release) -> Path:
    """A virtualenv with the release's requirements and nothing else (made once, then reused)."""
    if "STUDENT_VENV" not in os.environ and not reusable(VENV, release):
        shutil.rmtree(VENV, ignore_errors=True)
        run([sys.executable, "-m", "venv", VENV])
        run(install_command(VENV, release), cwd=release)
        run([VENV / "bin" / "python", "-m", "pip", "check"])
        stamp = {"made_from": fingerprint(release), "freeze": freeze(VENV)}
        (VENV / STAMP).write_text(json.dumps(stamp, indent=1))
    return VENV


def pins(lines: list[str]) -> dict[str, str]:
    """The ``name==version`` lines of a requirements file or of ``pip freeze``, named as pip does."""
    found = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;#]+)", line.split("#")[0].strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_the_students_environment_holds_their_requirements_and_no_course_tooling(release, student_venv):
    wanted = pins((release / "requirements.txt").read_text().splitlines())
    assert wanted, "the release's requirements.txt pins nothing"
    installed = pins(freeze(student_venv))
    wrong = {
        name: (version, installed.get(name))
        for name, version in wanted.items()
        if installed.get(name) != version
    }
    assert not wrong, f"{student_venv}: pinned (wanted, installed) differ: {wrong}"
    probe = f"import importlib.util; print([m for m in {TOOLING!r} if importlib.util.find_spec(m)])"
    found = run([student_venv / "bin" / "python", "-c", probe], env=venv_env(student_venv)).stdout.strip()
    assert found == "[]", f"{student_venv}: course tooling importable by a student: {found}"


# --- JupyterLab from the students' environment ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    """A JupyterLab server on a local port: its address, token and REST API."""

    def __init__(self, process: subprocess.Popen, port: int, token: str, log: Path):
        self.process, self.token, self.log = process, token, log
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernels_idle(self) -> bool:
        kernels = self.api("kernels")
        return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)

    def children(self) -> list[int]:
        """The processes the server started (its kernels), from /proc."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found


@pytest.fixture(scope="module")
def lab(release, student_venv, tmp_path_factory):
    """`jupyter lab` of the students' venv on the release; shut down with its kernels at the end.

    Jupyter, IPython and matplotlib keep their settings in a new folder, as on a student's machine.
    """
    home = tmp_path_factory.mktemp("jupyter")
    env = venv_env(student_venv)
    for name, folder in [
        ("MPLCONFIGDIR", "matplotlib"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[name] = str(home / folder)
    # The answer a student gives to JupyterLab's first question, "get notified about Jupyter news?"
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # matplotlib's first import builds its font cache, and says so on stderr if that is slow: once, here.
    run([student_venv / "bin" / "python", "-c", "import matplotlib.pyplot"], env=env)
    port, token, log = free_port(), secrets.token_hex(16), home / "jupyter.log"
    command = [
        student_venv / "bin" / "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={release}",
        # Nothing that reaches the network: no news, no update check, no extension listing.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # CI runs as root; jupyter refuses to unless told
        command.append("--allow-root")
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=release, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Lab(process, port, token, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"jupyter lab exited {process.returncode}:\n{log.read_text()}"
            try:
                server.api("status")
                break
            except OSError:
                assert time.monotonic() < deadline, f"jupyter lab does not answer:\n{log.read_text()}"
                time.sleep(0.5)
        yield server
    finally:
        kernels = server.children()
        try:
            server.api("shutdown", method="POST")  # stops the kernels, then the server
            process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in kernels:  # a kernel the server left behind
            try:
                if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except OSError:  # gone
                pass


# --- Notebook 01 in Chromium --------------------------------------------------------------------

# Every cell of the open notebook, as the page shows it.
CELLS = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')].map(cell => ({
  prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
  pictures: cell.querySelectorAll('.jp-OutputArea-output img').length,
  outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
    mime: o.dataset.mimeType || '', text: o.textContent,
  })),
}))"""
# The pictures in a cell's outputs: loaded (the browser decoded them) and drawn (a box on the page;
# JupyterLab lays out only the cells in view, so ask once the cell is scrolled into view).
PICTURES = """cell => [...cell.querySelectorAll('.jp-OutputArea-output img')].map(img => ({
  animation: !!img.closest('.animation'),
  loaded: img.complete && img.naturalWidth > 0,
  drawn: img.getBoundingClientRect().width > 0 && img.getBoundingClientRect().height > 0,
}))"""
# True while a cell is queued or running: its prompt shows [*].
BUSY = """() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]
  .some(p => p.textContent.includes('*'))"""


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def look_at(page, index: int):
    """Scroll cell ``index`` to the top of the notebook, as a student reading it; return the cell."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.evaluate("cell => cell.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)  # JupyterLab lays the cell out
    return cell


def settle(page, lab: Lab, timeout: float = 180) -> None:
    """Wait until no cell is queued or running and the kernel is idle (twice in a row)."""
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 2:
        assert time.monotonic() < deadline, f"the notebook still runs after {timeout} s"
        page.wait_for_timeout(300)
        calm = calm + 1 if not page.evaluate(BUSY) and lab.kernels_idle() else 0


def cell_name(nb: dict, index: int) -> str:
    first = "".join(nb["cells"][index]["source"]).strip().splitlines()[0]
    return f"cell {index} ({first[:60]!r})"


def code_cells(nb: dict) -> list[int]:
    return [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"]


def first_answer(nb: dict) -> int:
    """The first exercise's answer cell."""
    answers = [i for i, cell in enumerate(nb["cells"]) if role(cell) == "answer"]
    assert answers, f"{NOTEBOOK} has no exercise"
    return answers[0]


def first_check(nb: dict) -> int:
    """The first exercise's check cell: where Run All Cells stops while the answer is not written
    (the answer cell defines a function that raises NotImplementedError; its check calls it)."""
    return next(i for i in range(first_answer(nb), len(nb["cells"])) if role(nb["cells"][i]) == "check")


def role(cell: dict) -> str | None:
    cell = nbformat.from_dict(cell)
    return "check" if is_grade(cell) else "answer" if is_solution(cell) else None


def problems(nb: dict, cells: list[dict], allowed: set[int] = frozenset()) -> list[str]:
    """Error or stderr outputs of the page's cells, except an unanswered exercise's stub in ``allowed``."""
    found = []
    for index, cell in enumerate(cells):
        for out in cell["outputs"]:
            if out["mime"] == "application/vnd.jupyter.stderr" and not (
                index in allowed and "NotImplementedError" in out["text"]
            ):
                found.append(f"{cell_name(nb, index)}: {out['text'][-600:]}")
    return found


@dataclass
class Session:
    page: Page
    nb: dict  # the notebook as released
    cells: list[dict]  # the page's cells (CELLS) after Run All
    outside: list[str]  # requests to outside the machine, aborted
    errors: list[str]  # JavaScript errors and error messages in the page's console


@pytest.fixture(scope="module")
def lab_page(lab, browser, release):
    """Notebook 01 open in JupyterLab after *Run > Run All Cells*."""
    nb = json.loads((release / NOTEBOOK).read_text())
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # this run's only
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside = []  # requests that would leave the machine, aborted

    def local_only(route):
        if route.request.url.startswith(lab.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    settle(page, lab)  # the kernel has started
    shoot(page, "1_opened")

    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    page.wait_for_function(BUSY, timeout=10_000)
    settle(page, lab)
    yield Session(page, nb, page.evaluate(CELLS), outside, errors)
    context.close()


def test_the_notebook_runs_in_the_students_own_kernel(lab_page, lab, student_venv):
    kernels = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in lab.children()]
    kernels = [argv for argv in kernels if b"ipykernel_launcher" in argv]
    assert len(kernels) == 1, f"kernels running: {kernels}"
    assert Path(kernels[0][0].decode()).parent == student_venv / "bin", f"the kernel: {kernels[0]}"


def test_run_all_runs_the_lesson_clean_and_stops_at_the_first_exercise(lab_page):
    page, nb, cells = lab_page.page, lab_page.nb, lab_page.cells
    assert len(cells) == len(nb["cells"]), "the page does not show every cell of the notebook"
    first = first_check(nb)
    found = problems(nb, cells, allowed={first})
    assert not found, "error or stderr output:\n" + "\n".join(found)
    code = code_cells(nb)
    not_run = [cell_name(nb, i) for i in code if i <= first and not re.search(r"\[\d+\]", cells[i]["prompt"])]
    assert not not_run, f"Run All did not run: {not_run}"
    errors = [o["text"] for o in cells[first]["outputs"] if "NotImplementedError" in o["text"]]
    assert errors, f"{cell_name(nb, first)}: the unanswered exercise's check does not say NotImplementedError"
    ran_after = [cell_name(nb, i) for i in code if i > first and re.search(r"\[\d+\]", cells[i]["prompt"])]
    assert not ran_after, f"Run All went on past the unanswered exercise: {ran_after}"
    look_at(page, first - 2)  # the task, the unanswered exercise and its check
    shoot(page, "2_run_all_stops_at_exercise")
    assert not lab_page.outside, f"requests to outside the machine: {lab_page.outside}"
    assert not lab_page.errors, f"errors in the page: {lab_page.errors}"


def test_every_figure_and_the_animation_render(lab_page):
    page, nb = lab_page.page, lab_page.nb
    lesson = [i for i in code_cells(nb) if i < first_answer(nb)]  # what Run All has run
    figures = [i for i in lesson if "plt.show()" in "".join(nb["cells"][i]["source"])]
    players = [i for i in lesson if "animation_html" in "".join(nb["cells"][i]["source"])]
    assert figures and players, f"{NOTEBOOK}: figures in cells {figures}, animations in cells {players}"
    with_pictures = [i for i, cell in enumerate(lab_page.cells) if cell["pictures"]]
    for index in sorted(set(figures + players) | set(with_pictures)):
        pictures = look_at(page, index).evaluate(PICTURES)
        shoot(page, f"3_pictures_of_cell_{index:02}")
        if index in figures:
            assert any(not p["animation"] for p in pictures), f"{cell_name(nb, index)}: no figure"
        if index in players:
            assert any(p["animation"] for p in pictures), f"{cell_name(nb, index)}: no animation player"
        for p in pictures:
            what = "the animation's frame" if p["animation"] else "a figure"
            assert p["loaded"], f"{cell_name(nb, index)}: {what} is not a picture the browser can decode"
            assert p["drawn"], f"{cell_name(nb, index)}: {what} is decoded but not drawn (no box on the page)"

    for index in players:
        player = look_at(page, index).locator(".animation")
        for button in ("Play", "Pause", "Previous frame", "Next frame"):
            assert player.get_by_role("button", name=button, exact=True).is_visible(), (
                f"{cell_name(nb, index)}: no {button}"
            )
        frame = player.locator("img").first
        before = frame.get_attribute("src")
        shoot(page, f"4_animation_of_cell_{index:02}")
        player.get_by_role("button", name="Next frame", exact=True).click()
        page.wait_for_function("([img, src]) => img.src !== src", arg=[frame.element_handle(), before])
        (picture,) = player.evaluate(PICTURES.replace(".jp-OutputArea-output img", "img"))
        assert picture["loaded"] and picture["drawn"], f"{cell_name(nb, index)}: the next frame is blank"
        shoot(page, f"5_animation_of_cell_{index:02}_next_frame")


def solution(index: int) -> str:
    """What a student writes into answer cell ``index`` of notebook 01: the maintainers' answer
    cell (the function's first line and its solution), without the solution's markers."""
    source = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())["cells"][index]["source"]
    written = without_solution_markers("".join(source))
    assert len(written.splitlines()) > 1, f"notebooks/{NOTEBOOK} cell {index}: no solution"
    return written


def test_each_answer_typed_in_shows_the_tick_and_is_saved(lab_page, lab, release):
    page, nb = lab_page.page, lab_page.nb
    cells = page.locator(".jp-Notebook .jp-Cell")
    typed = {}
    for index, cell in enumerate(nb["cells"]):
        if role(cell) != "answer":
            continue
        editor = cells.nth(index).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(solution(index))  # as pasted: the editor's auto-indent stays out
        shown = editor.evaluate(
            "e => [...e.querySelectorAll('.cm-line')].map(l => l.textContent).join('\\n')"
        )
        assert shown == solution(index), f"{cell_name(nb, index)}: the editor holds {shown!r}"
        typed[index] = shown
        page.keyboard.press("Shift+Enter")  # runs the answer, selects the check cell below
        checks = []
        for below in range(index + 1, len(nb["cells"])):  # the check cells of this answer
            if role(nb["cells"][below]) != "check":
                break
            page.keyboard.press("Shift+Enter")
            checks.append(below)
        assert checks, f"{cell_name(nb, index)}: no check cell below"
        prompt = cells.nth(checks[-1]).locator(".jp-InputPrompt")
        page.wait_for_function("p => /\\[\\d+\\]/.test(p.textContent)", arg=prompt.element_handle())
        settle(page, lab)
        for below in checks:
            text = " ".join(o["text"] for o in page.evaluate(CELLS)[below]["outputs"])
            assert TICK in text, f"{cell_name(nb, below)} shows no {TICK}: {text[-600:]}"
        look_at(page, index)
        shoot(page, f"6_exercise_of_cell_{index:02}_checked")

    shown = page.evaluate(CELLS)
    found = problems(nb, shown)
    assert not found, "error or stderr output:\n" + "\n".join(found)
    unrun = [
        cell_name(nb, i)
        for i, c in enumerate(shown)
        if nb["cells"][i]["cell_type"] == "code" and not re.search(r"\[\d+\]", c["prompt"])
    ]
    assert not unrun, f"cells never run: {unrun}"

    # File > Save Notebook: what the student hands in.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Save Notebook$")).click()
    page.locator(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)").wait_for(timeout=20_000)
    shoot(page, "7_saved")
    saved = nbformat.read(release / NOTEBOOK, as_version=4)
    nbformat.validate(saved)
    for index, cell in enumerate(saved.cells):
        if index in typed:
            assert cell.source == typed[index], f"saved {cell_name(nb, index)} is not the answer typed"
        outputs = cell.get("outputs", [])
        assert all(o.output_type != "error" and o.get("name") != "stderr" for o in outputs), (
            f"saved {cell_name(nb, index)}: error or stderr output"
        )
        if role(cell) == "check":
            assert any(TICK in o.get("text", "") for o in outputs), f"saved {cell_name(nb, index)}: no {TICK}"
    assert not lab_page.outside, f"requests to outside the machine: {lab_page.outside}"
    assert not lab_page.errors, f"errors in the page: {lab_page.errors}"
