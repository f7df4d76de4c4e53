"""tools/grading/sandbox.py: what a student kernel can see, reach and use while it is graded.

Each test starts real sandboxed kernels (bubblewrap) on a small course-like folder; the
attacks through nbgrader itself are in tests/test_assignment.py.
"""

import ast
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_notebooks import PRINTS_IN_PIECES
from traitlets.config import Config

from attacks import processes_with
from tools.grading.grade import load_config
from tools.grading.sandbox import SandboxedKernelManager, sandbox_problem
from tools.series import ROOT, kernel_config

TOKEN = "sandbox-test-survivor"  # in the command line of a process a kernel leaves behind


def run(folder: Path, *sources: str, timeout: int = 60, **limits) -> list[str]:
    """Run each source as a cell of a sandboxed kernel working in ``folder``; return what each printed.

    A cell that runs longer than ``timeout`` seconds is interrupted, as nbgrader does it.
    """
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    config = kernel_config()  # as grading starts its kernels (nbgrader_config.py)
    config.merge(Config({"SandboxedKernelManager": limits}))
    client = NotebookClient(
        nb,
        config=config,
        kernel_name="python3",
        kernel_manager_class=SandboxedKernelManager,
        resources={"metadata": {"path": str(folder)}},
        timeout=timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
    )
    client.execute()
    printed = []
    for cell in nb.cells:
        texts = [o.get("text", "") for o in cell.outputs]
        texts += [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        printed.append("".join(texts))
    return printed


@pytest.fixture
def course(tmp_path) -> Path:
    """A course folder as nbgrader leaves it while it grades student 'me'; returns me's folder."""
    (tmp_path / "gradebook.db").write_text("grades")
    (tmp_path / "source" / "a").mkdir(parents=True)
    (tmp_path / "source" / "a" / "01.ipynb").write_text("BEGIN HIDDEN TESTS")
    (tmp_path / "submitted" / "other" / "a").mkdir(parents=True)
    (tmp_path / "submitted" / "other" / "a" / "01.ipynb").write_text("the other student's work")
    work = tmp_path / "autograded" / "me" / "a"
    (work / "data").mkdir(parents=True)
    (work / "01.ipynb").write_text("BEGIN HIDDEN TESTS (restored by nbgrader)")
    (work / "utils.py").write_text("VALUE = 1\n")
    (work / "data" / "sample.txt").write_text("images")
    (work / "notes.txt").write_text("mine")
    return work


def test_the_kernel_sees_a_copy_of_its_own_folder_without_notebooks_and_nothing_of_the_course(course):
    listing, writes, escape = run(
        course,
        "import os; print(sorted(os.listdir('.')), os.getcwd())",
        "open('notes.txt', 'w').write('changed'); print(open('notes.txt').read())\n"
        "for name in ('utils.py', 'data/sample.txt', 'data/new.txt'):\n"
        "    try:\n"
        "        open(name, 'a').write('x'); print(name, 'written')\n"
        "    except OSError as error:\n"
        "        print(name, 'refused', error.errno)",
        f"import os; print([p for p in {[str(p) for p in course.parents]!r} if os.path.exists(p)])\n"
        "print(os.listdir('/tmp'))\nprint(os.path.exists(os.path.expanduser('~root/.bashrc')))\n"
        f"print(os.listdir({str(ROOT)!r}))",
    )
    assert listing.startswith("['data', 'notes.txt', 'utils.py'] /home/student/a")
    assert writes.startswith("changed")
    assert (course / "notes.txt").read_text() == "mine"  # the kernel wrote its private copy
    for name in ("utils.py", "data/sample.txt", "data/new.txt"):
        assert f"{name} refused" in writes  # the originals are read-only
    assert (course / "utils.py").read_text() == "VALUE = 1\n"
    parents, tmp, home, repository = escape.splitlines()
    assert parents == "['/tmp', '/']", "no folder of the course is visible"
    # A /tmp of its own: the kernel's socket folder, and the Python environment if it lives in /tmp.
    python = {Path(p).parts[2] for p in (sys.prefix, sys.base_prefix) if p.startswith("/tmp/")}
    assert all(name.startswith("sandbox-") or name in python for name in ast.literal_eval(tmp)), tmp
    assert home == "False", "no home folder of the grader"
    assert repository == "['.venv']", "of the repository, only the Python environment"


def test_the_kernel_has_no_network_and_no_secrets_of_the_grader(course, monkeypatch):
    monkeypatch.setenv("GRADER_TOKEN", "s3cret")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(listener.accept())
        except OSError:  # closed by the test
            pass

    threading.Thread(target=accept, daemon=True).start()
    (result,) = run(
        course,
        "import os, socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')\n"
        "except OSError as error:\n"
        "    print('refused', type(error).__name__)\n"
        "print(os.environ.get('GRADER_TOKEN'), sorted(os.environ))",
    )
    listener.close()
    assert result.startswith("refused ConnectionRefusedError") and not accepted
    assert "s3cret" not in result and "GRADER_TOKEN" not in result


def test_nothing_a_kernel_starts_outlives_it(course):
    (started,) = run(
        course,
        "import subprocess\n"
        f"for _ in range(3):\n"
        f"    subprocess.Popen(['sh', '-c', 'sleep 600; : {TOKEN}'], start_new_session=True)\n"
        f"print(subprocess.run(['pgrep', '-fc', '{TOKEN}'], capture_output=True, text=True).stdout)",
    )
    assert started.strip() == "3"
    assert processes_with(TOKEN) == []


# A grader process: starts one sandboxed kernel working in argv[1], then waits to be killed.
GRADER = """
import asyncio, sys, time
from tools.grading.sandbox import SandboxedKernelManager
asyncio.run(SandboxedKernelManager(kernel_name="python3").start_kernel(cwd=sys.argv[1]))
time.sleep(600)
"""


# Seconds between the sandbox's first process and the kill; most at once, where the race was
# (before the fix, 13 kills of 15 at 0.0 left a sandbox running).
@pytest.mark.parametrize("delay", [0.0] * 10 + [0.01, 0.1, 1.0])
def test_a_sandbox_ends_with_its_grader_even_one_killed_as_the_sandbox_starts(course, delay):
    """A grading worker can die at any moment (killed for its memory, say): its kernel's sandbox
    must end with it, or it runs for ever, holding the grader's output open (a `make test` hung
    on that). bwrap's own --die-with-parent misses a grader killed while bwrap sets up; the
    sandbox's lifeline does not. Here the grader is killed ``delay`` s after its sandbox's first
    process appears."""
    sandbox = f"{course}/utils.py"  # in the command line of the sandbox's processes, not the grader's
    grader = subprocess.Popen([sys.executable, "-c", GRADER, str(course)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not processes_with(sandbox):
            assert grader.poll() is None and time.monotonic() < deadline, "no sandbox started"
            time.sleep(0.005)
        time.sleep(delay)
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while processes_with(sandbox) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = processes_with(sandbox)
    for pid in left:  # so that a failure leaves nothing behind either
        os.kill(pid, 9)
    assert left == [], f"the sandbox outlived its grader (killed {delay} s after it started)"


def test_memory_processes_and_file_size_are_limited(course):
    memory, processes, files = run(
        course,
        "import numpy as np\ntry:\n    np.ones(2**28)\nexcept MemoryError:\n    print('no memory')",
        "import threading, time\nstarted = 0\ntry:\n"
        "    for _ in range(200):\n"
        "        threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); started += 1\n"
        "except RuntimeError:\n    print('stopped at', started)",
        "try:\n    open('big', 'wb').write(bytes(2**21))\n"
        "except OSError as error:\n    print('refused', error.errno)",
        memory_limit=2**30,
        max_processes=64,
        max_file_size=2**20,
    )
    assert memory.startswith("no memory")  # 2 GiB of float64 > the 1 GiB limit
    assert processes.startswith("stopped at") and 0 < int(processes.split()[-1]) < 64
    assert files.startswith("refused 27")  # EFBIG


def test_a_cell_that_never_ends_is_interrupted_at_its_timeout_and_the_next_one_runs(course):
    """nbgrader's per-cell timeout interrupts the kernel: through the sandbox, by a message."""
    endless, after = run(course, "while True:\n    pass", "print('next cell')", timeout=3)
    assert endless == "KeyboardInterrupt: "
    assert after == "next cell\n"


def test_without_bwrap_grading_is_refused_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "Install the package 'bubblewrap'" in sandbox_problem()


def test_without_user_namespaces_grading_is_refused_with_the_setting_to_change(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    problem = sandbox_problem()
    assert "No permissions to create new namespace" in problem and "sysctl" in problem


def test_bwrap_works_here():
    assert sandbox_problem() is None, "make test needs bubblewrap (.ci/run installs it)"


def test_make_autograde_grades_nobody_without_a_sandbox(tmp_path):
    course = tmp_path / "course"
    command = ["/usr/bin/make", "-o", ".venv/installed", "autograde", f"COURSE={course}"]
    environment = {**os.environ, "PATH": str(tmp_path)}  # no bwrap on it
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Install the package 'bubblewrap'" in result.stdout + result.stderr
    assert not course.exists(), "nbgrader never ran"


def test_no_file_in_the_students_folder_can_replace_the_kernel_or_the_modules_it_imports(course):
    """Files named like the module that starts the kernel, like numpy and like utils, in the
    working folder or written there by a cell: the kernel starts and imports the real ones."""
    for name in ("ipykernel_launcher.py", "numpy.py"):
        (course / name).write_text(f"print('{TOKEN}: {name} ran')\nraise SystemExit(3)\n")
    (course / "secret-link").symlink_to("/etc/hostname")
    imported, reloaded, listing = run(
        course,
        "import numpy, utils\nprint(numpy.__file__, utils.__file__)",
        "import importlib, os, sys\nos.makedirs('utils', exist_ok=True)\n"
        "open('utils/__init__.py', 'w').write('VALUE = 2')\n"
        "print(importlib.reload(sys.modules['utils']).VALUE)",
        "import os; print(sorted(os.listdir('.')))",
    )
    assert TOKEN not in imported and "site-packages/numpy" in imported, imported
    assert imported.split()[1] == "/course/utils.py"
    assert reloaded.strip() == "1", "the original utils, not the package the cell wrote"
    assert "secret-link" not in listing, "a link is not copied into the sandbox"


def test_tmp_and_home_are_capped_in_size(course):
    tmp, home = run(
        course,
        "try:\n    open('/tmp/big', 'wb').write(bytes(48 * 2**20)); print('written')\n"
        "except OSError as error:\n    print('refused', error.errno)",
        "try:\n    open('big', 'wb').write(bytes(48 * 2**20)); print('written')\n"
        "except OSError as error:\n    print('refused', error.errno)",
        tmp_size=32 * 2**20,
        home_size=32 * 2**20,
    )
    assert tmp.startswith("refused 28") and home.startswith("refused 28")  # ENOSPC


IGNORES_INTERRUPT = """import time
while True:
    try:
        while True:
            time.sleep(0.01)
    except KeyboardInterrupt:
        print("ignored")
"""


def test_a_cell_that_ignores_the_interrupt_costs_only_itself_and_what_follows(course):
    """After the timeout and the grace period the kernel is stopped; the cell and those after it
    get an error output that says why (so a check among them scores zero); the run ends."""
    from tools.grading.execute import STOPPED, StoppingExecute

    cells = ["print('before')", IGNORES_INTERRUPT, "print('after')"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    step = StoppingExecute(
        kernel_manager_class=SandboxedKernelManager, timeout=3, iopub_timeout=3, shutdown_kernel="immediate"
    )
    start = time.monotonic()
    nb, _ = step.preprocess(nb, {"metadata": {"path": str(course)}})
    assert time.monotonic() - start < 60
    before, ignoring, after = nb.cells
    assert before.outputs[0].text == "before\n"
    assert ignoring.outputs[-1].ename == STOPPED and "ignored the interrupt" in ignoring.outputs[-1].evalue
    assert [o.ename for o in after.outputs] == [STOPPED] and "cell 1 stopped the kernel" in after.outputs[
        0
    ].evalue
    assert processes_with("time.sleep(0.01)") == []


def test_the_grading_step_merges_what_a_cell_prints_into_one_output_per_stream(course):
    """ipykernel sends what a cell prints in as many pieces as it flushed, more on a busy
    machine; merged, a student's feedback page is the same on every run. The step and its
    settings as nbgrader_config.py gives them (a config file cannot set this one)."""
    from nbgrader.preprocessors import Execute

    config = load_config(ROOT / "nbgrader_config.py", course, None)  # as the grader loads it
    (step,) = [s for s in config.Autograde.autograde_preprocessors if issubclass(s, Execute)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PRINTS_IN_PIECES)])
    nb, _ = step(config=config).preprocess(nb, {"metadata": {"path": str(course)}})
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stdout", "a\nb\n"), ("stderr", "c\nd\n")]


def test_nbgrader_validate_runs_the_notebook_in_the_sandbox_too(course):
    """`nbgrader validate` on a submission runs the student's code, as grading does: in the
    sandbox too, where the course's other files are out of sight."""
    from nbgrader.validator import Validator

    config = load_config(ROOT / "nbgrader_config.py", course, None)
    gradebook = course.parents[2] / "gradebook.db"
    check = nbformat.v4.new_code_cell(
        f"import os\nassert not os.path.exists({str(gradebook)!r}), 'the gradebook is in sight'",
        metadata={"nbgrader": {"grade": True, "solution": False, "locked": True, "task": False,
                               "grade_id": "c", "points": 1,
                               "schema_version": 3}},
    )  # fmt: skip
    nbformat.write(nbformat.v4.new_notebook(cells=[check]), course / "validated.ipynb")
    assert gradebook.exists()
    assert Validator(config=config).validate(str(course / "validated.ipynb")) == {}


HOG = "b = bytearray(600 * 2**20); b[::4096] = bytes(len(b[::4096])); import time; time.sleep(60)"


def test_memory_is_limited_for_the_whole_sandbox_not_per_process(course):
    """Three children of 600 MiB each, each under the per-process limit: together they pass the
    sandbox's 1 GiB, and the cgroup stops all but one."""
    from tools.grading.sandbox import Cgroup

    probe = Cgroup.create(f"sandbox-probe-{os.getpid()}", 2**30, 64)
    if probe is None:
        pytest.skip("no cgroup can be made here: only the per-process limits hold (docs/grading.md)")
    probe.remove()
    (alive,) = run(
        course,
        "import subprocess, sys, time\n"
        f"children = [subprocess.Popen([sys.executable, '-c', {HOG!r}]) for _ in range(3)]\n"
        "time.sleep(10)\nprint(sum(child.poll() is None for child in children))",
        sandbox_memory=2**30,
        memory_limit=2**30,
    )
    assert alive.strip() in ("0", "1"), alive
