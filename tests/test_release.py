"""The students' release, the zip that `make assignment` writes for the course page.

It holds the students' files and nothing of the maintainers'; nothing in it refers to a file,
folder or command it does not hold; and its README's hand-in instruction, followed to the
letter, makes an archive that `make collect` files under the student's name.
"""

import fnmatch
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from scaffold import make

from tools.project import ASSIGNMENT
from tools.series import ROOT, notebook_paths

STUDENT = "ada"  # the example ID the README's hand-in instruction uses


@pytest.fixture(scope="module")
def course(assignment_course) -> Path:
    return assignment_course


@pytest.fixture(scope="module")
def release(course) -> Path:
    """The zip for the course page, unpacked as a student unpacks it."""
    with zipfile.ZipFile(course / f"{ASSIGNMENT}.zip") as archive:
        archive.extractall(course.parent / "student")
    return course.parent / "student" / ASSIGNMENT


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_the_release_holds_the_students_files_and_no_maintainers_file(release):
    notebooks = [p.name for p in notebook_paths()]
    students = ["README.md", "constraints.txt", "data/cifar10_test_first20.npz", "environment.yml"]
    students += ["checks.py", "requirements.txt", "utils.py"]
    assert files_in(release) == sorted(notebooks + students)
    readme = ROOT / "tools" / "grading" / "assignment_README.md"
    assert (release / "README.md").read_text() == readme.read_text()
    # The students' pins, not the maintainers' (which pin pytest, ruff, nbgrader, Sphinx ...).
    assert (release / "constraints.txt").read_text() == (ROOT / "constraints-students.txt").read_text()
    assert (release / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()


# --- Every reference resolves ----------------------------------------------------------------

URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)>\]`'\"]+")
# A word that may be a path: letters, digits, _ . - * and /, as long as it runs.
WORD = re.compile(r"(?<![\w./*~$-])[\w.*][\w.*/-]*|(?<![\w./*~$-])/[\w.*/-]+")
FILE_TYPES = "py|ipynb|md|txt|yml|yaml|toml|cfg|json|csv|npz|npy|zip|gz|tar|png|svg|html|pdf|db|log|sh"
FILE = re.compile(rf"[\w*-][\w.*-]*\.(?:{FILE_TYPES})")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?<![\w./-])(make|git)\s+([\w-]+)")

# Made by following the release itself, so not in the zip: the student's virtual environment
# (README.md: `python3 -m venv .venv`), the hand-in archive (README.md: `... -c ada.zip ...`).
MADE = {".venv": "-m venv .venv", f"{STUDENT}.zip": f"-c {STUDENT}.zip"}


def is_path(word: str) -> bool:
    """Whether a word names a file or folder: `data/`, `a/b/c`, `x/y.npz` or `file.ext`."""
    if "/" in word:
        last = word.rstrip("/").rsplit("/", 1)[-1]
        return word.endswith("/") or word.count("/") >= 2 or bool(FILE.fullmatch(last))
    return bool(FILE.fullmatch(word))


def references(text: str) -> list[tuple[int, str]]:
    """(line, reference) of every path, `make` target and git command a text refers to.

    Paths anywhere; commands between backticks (``commands_in_blocks`` reads ```-blocks).
    """
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = URL.sub(" ", line)
        for word in WORD.findall(line):
            word = word.rstrip(".")
            if not word.startswith("/") and is_path(word):  # an absolute path names no release file
                found.append((number, word))
        for span in CODE_SPAN.findall(line):
            found += [(number, " ".join(m)) for m in COMMAND.findall(span)]
    return found


def commands_in_blocks(text: str) -> list[tuple[int, str]]:
    """(line, command) of every `make` or `git` command in a markdown ``` block or a shell
    line of a code cell (`!make bench`)."""
    found, inside = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside or line.lstrip().startswith("!"):
            found += [(number, " ".join(m)) for m in COMMAND.findall(line)]
    return found


def resolves(reference: str, release: Path) -> bool:
    """Whether the release holds what a path names (globs: something it matches)."""
    if reference.split()[0] in ("make", "git"):
        return False  # the release has no Makefile and is no git repository
    path = reference.removeprefix("./").rstrip("/")
    if path.split("/")[0] in MADE:
        return True
    names = files_in(release)
    folders = {str(Path(name).parent) for name in names}
    candidates = set(names) | folders | {Path(name).name for name in names}
    return any(fnmatch.fnmatchcase(candidate, path) for candidate in candidates)


def texts(release: Path):
    """(where, text) for every text file of the release, and each notebook cell."""
    for path in sorted(release.rglob("*")):
        name = str(path.relative_to(release))
        if path.suffix == ".ipynb":
            for index, cell in enumerate(json.loads(path.read_text())["cells"]):
                yield f"{name} cell {index} ({cell['cell_type']})", "".join(cell["source"])
        elif path.is_file() and path.suffix in (".md", ".txt", ".yml", ".py"):
            yield name, path.read_text()


def test_the_things_the_release_makes_are_made_by_its_own_instructions(release):
    readme = (release / "README.md").read_text()
    for name, command in MADE.items():
        assert command in readme, f"{name}: README.md no longer says how it is made ({command!r})"


def test_nothing_in_the_release_refers_to_a_file_folder_or_command_it_does_not_hold(release):
    missing = []
    for where, text in texts(release):
        found = references(text) + commands_in_blocks(text)
        missing += [f"{where}, line {line}: {ref}" for line, ref in found if not resolves(ref, release)]
    assert not missing, "the release refers to what it does not hold:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("see data/README.md for how", ["data/README.md"]),
        ("Restore it with `git checkout data/`.", ["data/", "git checkout"]),
        ("that makes it faster (`make bench` measures it)", ["make bench"]),
        ("run tests/test_repo.py, then", ["tests/test_repo.py"]),
        ("```bash\nmake lock\n```", ["make lock"]),
        ("!git clone the-series", ["git clone"]),
        ("speed in GFLOP/s, C/g channels, dL/dy, 3.5 times, make sure", []),
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", []),
    ],
)
def test_the_scan_finds_references_and_only_references(text, expected):
    found = [ref for _, ref in references(text) + commands_in_blocks(text)]
    assert sorted(set(found)) == sorted(expected)


# --- Handing in as the README says ---------------------------------------------------------------


def hand_in_command(readme: str) -> str:
    """The command of the README's section "Hand in" (its one ```bash block)."""
    section = readme.split("## Hand in", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the hand-in section gives one command"
    return blocks[0].strip()


def test_the_readmes_hand_in_is_what_make_collect_files_under_the_students_name(course, release):
    command = hand_in_command((release / "README.md").read_text())
    work = course.parent / "handing-in"
    shutil.copytree(release, work)
    (work / ".ipynb_checkpoints").mkdir()  # as JupyterLab leaves the folder
    shutil.copy(work / notebook_paths()[0].name, work / ".ipynb_checkpoints" / "01-checkpoint.ipynb")
    subprocess.run(command, shell=True, cwd=work, check=True, executable="/bin/bash")

    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    shutil.move(work / f"{STUDENT}.zip", archive)
    make("collect", course)
    submitted = course / "submitted" / STUDENT / ASSIGNMENT
    assert files_in(submitted) == [p.name for p in notebook_paths()]
    for path in notebook_paths():
        assert (submitted / path.name).read_bytes() == (release / path.name).read_bytes()
