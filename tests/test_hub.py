"""The course on a real JupyterHub (tools/hub/, docs/jupyterhub.md), round trip in Chromium.

The hub, its proxy (configurable-http-proxy from package.json) and every user's JupyterLab run
on 127.0.0.1, started and stopped here. The instructor and three students are users of this
machine (made here, removed after: the test needs root, as CI runs it); each one's JupyterLab
runs as that user, and the only folder they share is nbgrader's exchange.

In the browser: each student fetches the assignment in the Assignments tab, one answers right,
one leaves it blank, both submit (the second twice, the second time after the deadline), the
third never logs in; the instructor opens the graded submissions in the formgrader, and one
of them; each student fetches feedback and
reads their own score. As commands, the instructor's side: nbgrader's
release, collect and release_feedback run as the instructor, and the project's sandboxed
grader (tools/grading/grade.py) as root, as `make autograde` runs. Screenshots: build/hub/, and
docs/jupyterhub.md says what each step checks.
"""

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from playwright.sync_api import Error as PlaywrightError

from tools.series import ROOT, notebook_paths

# Ranked first of the slow modules (the number only orders them, see conftest.py): the round trip
# took 61 s alone on 2 cores, 53 to 77 s inside five fresh clones' `make test` (2026-12-06; 87 to
# 124 s in three before the Makefile took out the IRI parser every Jupyter process used to build).
pytestmark = pytest.mark.slow(150)

ASSIGNMENT = "conv-im2col"
NOTEBOOK = notebook_paths()[0]  # the assignment holds one quick notebook
INSTRUCTOR, RIGHT, BLANK, ABSENT = "cimgrace", "cimada", "cimbob", "cimcy"
STUDENTS = (RIGHT, BLANK, ABSENT)
SHOTS = ROOT / "build" / "hub"
STARTED = time.monotonic()  # when this module was loaded: the timeline's zero
PORT = 18500
HUB_CONFIG = ROOT / "tools" / "hub" / "jupyterhub_config.py"
PASSWORDS = {user: secrets.token_urlsafe(12) for user in (INSTRUCTOR, *STUDENTS)}
URL = f"http://127.0.0.1:{PORT}"


def run_as(user: str, args: list[str], env: dict, cwd: Path | None = None) -> str:
    """``args`` run as the system user ``user`` (setuid, as the hub runs their servers); stdout."""
    entry = pwd.getpwnam(user)
    home = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user}
    done = subprocess.run(
        args, env=env | home, cwd=cwd or entry.pw_dir, user=entry.pw_uid, group=entry.pw_gid,
        extra_groups=[], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(args)} as {user}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@contextlib.contextmanager
def users_python() -> Iterator[Path]:
    """The venv's Python, runnable by every user while the module runs.

    A venv made from a Python in root's home (pyenv's, as on this machine and CI's) cannot be run
    by other users: root's home lets no one through. Here, it lets everyone through (o+x: pass,
    not list) until the module ends, and is then put back. (Debian's own Python 3.11 with the
    venv's packages is no stand-in: its `re` rejects a selector that nbconvert compiles, and the
    formgrader cannot show a submission.)"""
    venv_python = ROOT / ".venv" / "bin" / "python"
    opened = []
    for folder in {*venv_python.parents, *Path(os.path.realpath(venv_python)).parents}:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)
            opened.append((folder, mode))
    try:
        nobody = pwd.getpwnam("nobody")
        subprocess.run(
            [str(venv_python), "-c", ""], user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], check=True
        )
        yield venv_python
    finally:
        for folder, mode in opened:
            folder.chmod(mode)


@pytest.fixture(scope="module")
def machine() -> Iterator[dict]:
    """The course's users (system users, private homes) and its folders: the exchange, the
    hub's state. Everything made here is removed after."""
    if os.geteuid() != 0:
        pytest.skip("the hub's users are system users: run as root (CI does)")
    made = []
    for user in (INSTRUCTOR, *STUDENTS):
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
            made.append(user)
        Path(pwd.getpwnam(user).pw_dir).chmod(0o700)
        # A password of their own: the hub logs them in through PAM, as it would a class.
        subprocess.run(["chpasswd"], input=f"{user}:{PASSWORDS[user]}", text=True, check=True)
    folder = Path(tempfile.mkdtemp(prefix="hub-"))
    folder.chmod(0o755)
    exchange, state = folder / "exchange", folder / "state"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)  # as nbgrader's docs set it: everyone may create their course's folder
    state.mkdir(mode=0o700)
    try:
        with users_python() as python:
            yield {"folder": folder, "exchange": exchange, "state": state, "python": python}
    finally:
        for user in made:
            subprocess.run(["pkill", "--uid", user], capture_output=True)  # what the hub may have left
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def environment(machine: dict) -> dict:
    """What the hub, and the instructor's commands, run with."""
    return {
        "PATH": f"{machine['python'].parent}:{ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "COURSE_INSTRUCTORS": INSTRUCTOR,
        "COURSE_STUDENTS": ",".join(STUDENTS),
        "NBGRADER_EXCHANGE": str(machine["exchange"]),
        "COURSE_HUB_STATE": str(machine["state"]),
        "COURSE_HUB_PORT": str(PORT),
        "COURSE_HUB_PYTHON": str(machine["python"]),
        "LANG": "C.UTF-8",
        # As the hub sets them for each user's server, and so for the terminal an instructor types in.
        "JUPYTER_CONFIG_PATH": f"{ROOT / 'tools' / 'hub'}:{ROOT / '.venv' / 'etc' / 'jupyter'}",
        "JUPYTER_PATH": str(ROOT / ".venv" / "share" / "jupyter"),
    }


@pytest.fixture(scope="module")
def hub(machine) -> Iterator[str]:
    """JupyterHub with tools/hub/jupyterhub_config.py as it is (PAM logs the users in)."""
    log = (machine["state"] / "hub.log").open("w")
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "jupyterhub"), "-f", str(HUB_CONFIG)],
        cwd=machine["state"], env=environment(machine), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{URL}/hub/health", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (
                    machine["state"] / "hub.log"
                ).read_text()[-3000:]
                time.sleep(0.5)
        yield URL
    finally:
        process.send_signal(signal.SIGTERM)  # the hub stops the users' servers and its proxy
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(machine["state"] / "hub.log", SHOTS / "hub.log")  # the users' servers log there too


def log_in(browser, user: str, password: str | None = None, then: str = "lab"):
    """Log ``user`` in through the hub's login form, with their password unless another is given;
    the page, while their server starts (the hub starts it on login: several at once) to open
    ``then``, a path on that server."""
    page = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    after = urllib.parse.quote(f"/hub/spawn/{user}?next=/user/{user}/{then}")  # start the server, then open
    page.goto(f"{URL}/hub/login?next={after}")
    page.fill("#username_input", user)
    page.fill("#password_input", password or PASSWORDS[user])
    page.click("#login_submit", no_wait_after=True)
    return page


def lab(page, user: str):
    """``page`` once the user's JupyterLab has loaded in it."""
    page.wait_for_url(f"**/user/{user}/lab**", timeout=90_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    with contextlib.suppress(PlaywrightError):  # JupyterLab asks once whether to fetch its news
        page.get_by_role("button", name="No", exact=True).click(timeout=5_000)
    return page


def assignments_tab(page):
    """Open nbgrader's Assignments tab from the Nbgrader menu; the tab's element."""
    page.click("#jp-MainMenu >> text=Nbgrader")
    page.click("#jp-mainmenu-nbgrader >> text=Assignment List")
    return page.wait_for_selector("#nbgrader-assignment-list")


def refresh(page) -> None:
    """Press the tab's refresh button and let the lists load."""
    page.click("#refresh_assignments_list")
    page.wait_for_timeout(1500)


def mark(step: str) -> None:
    """Note in build/hub/timeline.txt when ``step`` ended."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (SHOTS / "timeline.txt").open("a") as timeline:
        timeline.write(f"{time.monotonic() - STARTED:6.1f} s  {step}\n")


def shot(page, name: str) -> None:
    """A screenshot of ``page`` in build/hub/, and when it was taken in build/hub/timeline.txt."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")
    mark(f"{name}.png")


def fetch_and_submit(page, user: str, answer: dict | None) -> None:
    """In the Assignments tab: fetch, write ``answer`` (grade_id -> source) into the notebook
    through the user's Jupyter server, submit."""
    assignments_tab(page)
    page.wait_for_selector(f"#released_assignments_list >> text={ASSIGNMENT}", timeout=30_000)
    shot(page, f"2-{user}-released")
    page.click("#released_assignments_list >> button:has-text('Fetch')")
    page.wait_for_selector(f"#fetched_assignments_list >> text={ASSIGNMENT}", timeout=30_000)
    if answer:
        api = f"{URL}/user/{user}/api/contents/{ASSIGNMENT}/{NOTEBOOK.name}"
        xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
        nb = page.request.get(api, headers={"X-XSRFToken": xsrf}).json()["content"]
        for cell in nb["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in answer:
                cell["source"] = answer[grade_id]
        reply = page.request.put(
            api, headers={"X-XSRFToken": xsrf}, data=json.dumps({"type": "notebook", "content": nb})
        )
        assert reply.ok, reply.text()
    page.click("#fetched_assignments_list >> button:has-text('Submit')")
    page.wait_for_selector(f"#submitted_assignments_list >> text={ASSIGNMENT}", timeout=30_000)
    shot(page, f"3-{user}-submitted")


def right_answers() -> dict:
    """grade_id -> the source notebook's solution, markers removed."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return {
        c.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in c.source.splitlines() if line.strip() not in markers
        )
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def test_a_course_round_trip_on_the_hub(machine, hub, browser):
    (SHOTS / "timeline.txt").unlink(missing_ok=True)
    mark("the test starts (the users made, the hub and Chromium up)")
    env = environment(machine)
    python = str(machine["python"])
    course = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / "course"
    nbgrader = [python, "-m", "nbgrader"]

    def instructor(*args: str) -> str:
        out = run_as(INSTRUCTOR, [*nbgrader, *args], env | {"NBGRADER_COURSE_ROOT": str(course)}, cwd=course)
        mark(f"nbgrader {' '.join(args[:2])}")
        return out

    # A wrong password is refused, and starts no server.
    intruder = log_in(browser, RIGHT, password="not-" + PASSWORDS[RIGHT])
    intruder.wait_for_selector("text=Invalid username or password", timeout=30_000)
    shot(intruder, "0-wrong-password")
    intruder.context.close()

    # Everyone logs in first: their servers start while the instructor works in the terminal.
    # The instructor goes straight to the formgrader: the test has no use for their JupyterLab,
    # whose page costs Chromium seconds of CPU while the students' servers start.
    pages = {user: log_in(browser, user) for user in (RIGHT, BLANK)}
    pages[INSTRUCTOR] = log_in(browser, INSTRUCTOR, then="formgrader")

    # The instructor lays out the course and releases the assignment (one notebook of the series).
    one = machine["folder"] / "one"
    one.mkdir(mode=0o755)
    shutil.copy(NOTEBOOK, one)
    run_as(INSTRUCTOR, [python, "-m", "tools.grading.course", f"{course}/source/{ASSIGNMENT}",
                        "--notebooks", str(one)], env)  # fmt: skip
    mark("course laid out (tools.grading.course)")
    roster = machine["folder"] / "students.csv"
    roster.write_text("id\n" + "\n".join(STUDENTS) + "\n")
    roster.chmod(0o644)
    instructor("db", "student", "import", str(roster))
    instructor("generate_assignment", ASSIGNMENT, "--force")
    instructor("release_assignment", ASSIGNMENT)

    # Two students fetch it in the Assignments tab; one answers right, one leaves it blank.
    lab(pages[BLANK], BLANK)
    shot(lab(pages[RIGHT], RIGHT), "1-student-lab")
    fetch_and_submit(pages[RIGHT], RIGHT, right_answers())
    fetch_and_submit(pages[BLANK], BLANK, None)
    # The deadline passes; the blank student submits again, late: nbgrader keeps both, collect
    # takes the newest, and autograde records it as late.
    deadline = datetime.now(UTC).replace(tzinfo=None)
    instructor("db", "assignment", "add", ASSIGNMENT, f"--duedate={deadline.isoformat()} UTC")
    time.sleep(1.1)
    pages[BLANK].click("#fetched_assignments_list >> button:has-text('Submit')")
    pages[BLANK].wait_for_selector("#fetched_assignments_list >> button:text-is('Submit')", timeout=30_000)
    pages[BLANK].wait_for_function(
        "document.querySelector('#submitted_assignments_list').innerText.split('UTC').length > 2",
        timeout=30_000,
    )
    shot(pages[BLANK], f"4-{BLANK}-resubmitted")

    # What a student can reach of another: not their home, not the submissions in the exchange.
    for path in (Path(pwd.getpwnam(RIGHT).pw_dir), machine["exchange"] / ASSIGNMENT / "inbound"):
        listing = subprocess.run(["ls", str(path)], user=BLANK, capture_output=True, text=True)
        assert listing.returncode != 0 and "Permission denied" in listing.stderr, path

    # The instructor collects; the project's grader grades every submission in its sandbox.
    collected = instructor("collect", ASSIGNMENT)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted([RIGHT, BLANK]), collected
    grade = [sys.executable, "-m", "tools.grading.grade", ASSIGNMENT, "--course", str(course)]
    grading = subprocess.run(
        [*grade, "--jobs", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env=os.environ | {"PATH": env["PATH"]},
    )  # fmt: skip
    assert grading.returncode == 0, grading.stdout + grading.stderr
    phases = grading.stdout.split("\n  ", 1)[1].split("\n", 1)[0]  # "start-up 9 s, grading 40 s, ..."
    mark(f"graded (tools.grading.grade --jobs 2: {phases})")
    subprocess.run(["chown", "-R", f"{INSTRUCTOR}:{INSTRUCTOR}", str(course)], check=True)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        right = gradebook.find_submission(ASSIGNMENT, RIGHT)
        blank = gradebook.find_submission(ASSIGNMENT, BLANK)
        scores = {RIGHT: right.score, BLANK: blank.score, "max": right.max_score}
        lateness = {RIGHT: right.total_seconds_late, BLANK: blank.total_seconds_late}
        absent = [s.student_id for s in gradebook.find_assignment(ASSIGNMENT).submissions]
    assert scores[RIGHT] == scores["max"] > 0 and scores[BLANK] == 0, scores
    assert lateness[RIGHT] == 0 and lateness[BLANK] > 0, lateness
    assert ABSENT not in absent, "a student who never submitted has no submission: nbgrader scores 0"

    # The instructor opens the assignment's submissions in the formgrader (Manual Grading), then
    # one submission.
    teacher = pages[INSTRUCTOR]
    teacher.wait_for_url(f"**/user/{INSTRUCTOR}/formgrader**", timeout=90_000)
    teacher.goto(f"{URL}/user/{INSTRUCTOR}/formgrader/gradebook/{ASSIGNMENT}/{NOTEBOOK.stem}")
    teacher.wait_for_selector("text=Submission #2", timeout=60_000)
    shot(teacher, "5-formgrader-submissions")
    rows = teacher.inner_text("table")
    full, none = f"{scores['max']:g} / {scores['max']:g}", f"0 / {scores['max']:g}"
    assert full in rows and none in rows, rows
    teacher.click("text=Submission #1")
    teacher.wait_for_selector("#notebook", state="attached", timeout=120_000)
    shot(teacher, "6-formgrader-one-submission")
    assert "SOLUTION" not in teacher.inner_text("body")

    instructor("release_feedback", ASSIGNMENT)
    released = machine["exchange"] / ASSIGNMENT / "feedback"
    listing = subprocess.run(["ls", str(released)], user=BLANK, capture_output=True, text=True)
    assert listing.returncode != 0 and "Permission denied" in listing.stderr, "feedback cannot be listed"

    # Each student fetches feedback in the Assignments tab and reads their own score only.
    for student, score in ((RIGHT, scores[RIGHT]), (BLANK, scores[BLANK])):
        page = pages[student]
        refresh(page)
        page.click("#submitted_assignments_list >> button:has-text('Fetch Feedback')")
        page.wait_for_selector("#submitted_assignments_list >> text=(view feedback)", timeout=30_000)
        shot(page, f"7-{student}-feedback-fetched")
        found = sorted((Path(pwd.getpwnam(student).pw_dir) / ASSIGNMENT / "feedback").glob("*/*.html"))
        assert found, f"{student}: no feedback fetched"
        relative = found[-1].relative_to(pwd.getpwnam(student).pw_dir)
        page.goto(f"{URL}/user/{student}/files/{relative}")
        text = page.inner_text("body")
        shot(page, f"8-{student}-feedback")
        assert f"(Score: {score:.1f} / {scores['max']:.1f})" in text, text[:500]
        other = BLANK if student == RIGHT else RIGHT
        assert other not in text
