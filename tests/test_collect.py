"""tools/grading/collect.py (`make collect`): one bad archive cannot break or bend the collect.

A course's archive folder is planted with honest archives and one of each kind of bad one; one
`make collect` must collect every honest student, skip and name every bad archive, file each
notebook under the student whose archive held it, and write plain files only.
"""

import stat
import subprocess
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest

from tools.series import ROOT

ASSIGNMENT = "a"
NOTEBOOKS = ["01_first.ipynb", "02_second.ipynb"]


def notebook(text: str) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)]))


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, str | bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)


def with_mode(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


# archive name -> why it is skipped (a piece of the summary's line), for each bad kind
BAD = {
    "corrupt.zip": "not a readable zip",
    "nested.zip": "an archive inside the archive",
    "big.zip": "bytes uncompressed, more than",
    "many.zip": "entries, more than 1000",
    "escape.zip": "an entry outside the archive's folder",
    "dupentry.zip": "two entries named",
    "twonotebooks.zip": "two notebooks named '01_first.ipynb'",
    "link.zip": "a symbolic link",
    "eve,x.zip": "the student ID 'eve,x' holds more than",
    "dan.zip": "2 archives of dan",
    "dan_again.zip": "2 archives of dan",
    "notes.txt": "not a zip archive or a folder",
}


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    course = tmp_path_factory.mktemp("collect") / "course"
    release = course / "release" / ASSIGNMENT
    release.mkdir(parents=True)
    for name in NOTEBOOKS:
        (release / name).write_text(notebook("released"))
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    write_zip(archive / "ada.zip", [(f"{ASSIGNMENT}/{n}", notebook(f"ada {n}")) for n in NOTEBOOKS]
              + [(f"{ASSIGNMENT}/.ipynb_checkpoints/01_first.ipynb", notebook("checkpoint"))])  # fmt: skip
    write_zip(archive / "bob_homework.zip", [(NOTEBOOKS[0], notebook("bob"))])
    (archive / "carol").mkdir()
    (archive / "carol" / NOTEBOOKS[1]).write_text(notebook("carol"))
    # Mallory's entry carries another student's path: it is still Mallory's.
    write_zip(archive / "mallory.zip", [(f"x/extracted/ada/{NOTEBOOKS[0]}", notebook("mallory"))])
    write_zip(archive / "setuid.zip", [(with_mode(NOTEBOOKS[0], 0o104777), notebook("setuid"))])
    (archive / "corrupt.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    write_zip(archive / "nested.zip", [(NOTEBOOKS[0], notebook("n")), ("inner.zip", b"PK")])
    write_zip(archive / "big.zip", [(NOTEBOOKS[0], bytes(257 * 2**20))])
    write_zip(archive / "many.zip", [(f"f{i}.txt", "") for i in range(1001)])
    write_zip(archive / "escape.zip", [(f"../../{NOTEBOOKS[0]}", notebook("escape"))])
    with warnings.catch_warnings(action="ignore", category=UserWarning):  # zipfile: "Duplicate name"
        write_zip(archive / "dupentry.zip", [(NOTEBOOKS[0], notebook("1")), (NOTEBOOKS[0], notebook("2"))])
    write_zip(archive / "twonotebooks.zip", [(f"a/{NOTEBOOKS[0]}", "{}"), (f"b/{NOTEBOOKS[0]}", "{}")])
    write_zip(archive / "link.zip", [(with_mode(NOTEBOOKS[0], 0o120777), "/etc/shadow")])
    write_zip(archive / "eve,x.zip", [(NOTEBOOKS[0], notebook("eve"))])
    write_zip(archive / "dan.zip", [(NOTEBOOKS[0], notebook("dan"))])
    write_zip(archive / "dan_again.zip", [(NOTEBOOKS[1], notebook("dan"))])
    (archive / "notes.txt").write_text("hello")
    command = ["make", "-o", ".venv/installed", "collect", f"COURSE={course}", f"ASSIGNMENT={ASSIGNMENT}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return course, result


def test_collect_ends_well_and_names_every_skipped_archive_with_why(collected):
    _, result = collected
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("SKIPPED")]
    for name, why in BAD.items():
        assert any(name in line and why in line for line in skipped), (name, result.stdout)
    assert len(skipped) == len(BAD) - 1  # dan's two archives share one line


def test_every_honest_student_is_collected_each_from_their_own_archive(collected):
    course, _ = collected
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["ada", "bob", "carol", "mallory", "setuid"]
    ada = submitted / "ada" / ASSIGNMENT
    assert sorted(p.name for p in ada.iterdir()) == NOTEBOOKS
    assert "ada 01_first" in (ada / NOTEBOOKS[0]).read_text(), "Mallory's entry did not replace Ada's"
    assert "mallory" in (submitted / "mallory" / ASSIGNMENT / NOTEBOOKS[0]).read_text()


def test_collected_files_have_plain_modes(collected):
    course, _ = collected
    for path in (course / "submitted").rglob("*"):
        mode = path.stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), f"{path}: {oct(mode)}"
