"""Collect the students' archives, trusting nothing in them: what `make collect` runs.

    python -m tools.grading.collect conv-im2col [--CourseDirectory.root=course ...]

nbgrader's ``zip_collect`` with two plugins of ours (``nbgrader_config.py`` sets them, so a bare
``nbgrader zip_collect`` uses them too):

- ``SafeExtractor`` handles each entry of ``course/downloaded/<assignment>/archive/`` on its own:
  a zip (``ada.zip``, ``ada_anything.zip``) or a folder (``ada/``) of one student, whose ID is
  the name up to its first ``_`` and must match ``STUDENT_ID``. An archive that is corrupt, too
  big (``MAX_MEMBERS`` entries, ``MAX_BYTES`` uncompressed), nested (an archive inside), has a
  link, two entries of one name or two notebooks of one name, or an entry that climbs out of
  its folder, is skipped whole and named; so is a student with two archives. From the others
  only the assignment's notebooks (``NN_name.ipynb``, checkpoints left out) are written, to
  ``extracted/<student>/<notebook>``, as plain files (mode 0644).
- ``SafeCollector`` files each extracted notebook under the student whose folder it is in,
  whatever path its entry carried in the archive.

At the end it prints who was collected and every archive skipped, with why.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path, PurePosixPath

from nbgrader.apps import ZipCollectApp
from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from nbgrader.utils import find_all_notebooks

# A student ID: it names folders, URLs and rows of grades.csv (grade.py checks it again).
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_MEMBERS = 1000  # entries in one archive
MAX_BYTES = 256 * 2**20  # uncompressed bytes of one archive (or folder)
NESTED = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".jar", ".whl")
CHECKPOINTS = ".ipynb_checkpoints"


class Refused(Exception):
    """An archive that is not collected; the message says why."""


def student_of(name: str) -> str:
    """The student ID an archive's or folder's name gives: up to its first ``_``, without ``.zip``."""
    return name.removesuffix(".zip").split("_")[0]


def _check_name(name: str) -> PurePosixPath:
    """An entry's path, or ``Refused`` if it climbs out of the archive's folder."""
    path = PurePosixPath(name)
    if name.startswith("/") or "\\" in name or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise Refused(f"an entry outside the archive's folder: {name!r}")
    return path


def _wanted(path: PurePosixPath, notebooks: set[str]) -> bool:
    return path.name in notebooks and CHECKPOINTS not in path.parts


def _notebooks_of(entries: list[tuple[PurePosixPath, int, bool]], notebooks: set[str]) -> list[PurePosixPath]:
    """From (path, size, is a link) of every entry: the notebooks to collect, or ``Refused``."""
    if len(entries) > MAX_MEMBERS:
        raise Refused(f"{len(entries)} entries, more than {MAX_MEMBERS}")
    total = sum(size for _, size, _ in entries)
    if total > MAX_BYTES:
        raise Refused(f"{total:,} bytes uncompressed, more than {MAX_BYTES:,}")
    seen: set[str] = set()
    for path, _, link in entries:
        if link:
            raise Refused(f"a symbolic link: {str(path)!r}")
        if path.name.lower().endswith(NESTED):
            raise Refused(f"an archive inside the archive: {str(path)!r}")
        if str(path) in seen:
            raise Refused(f"two entries named {str(path)!r}")
        seen.add(str(path))
    found = [path for path, _, _ in entries if _wanted(path, notebooks)]
    names = [path.name for path in found]
    for name in sorted(set(names)):
        if names.count(name) > 1:
            raise Refused(f"two notebooks named {name!r}")
    return found


def read_zip(path: Path, notebooks: set[str]) -> dict[str, bytes]:
    """The assignment's notebooks in the zip at ``path`` (name -> content), or ``Refused``."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            entries = [
                (_check_name(i.filename), i.file_size, stat.S_ISLNK(i.external_attr >> 16)) for i in infos
            ]
            found = {str(p) for p in _notebooks_of(entries, notebooks)}
            return {PurePosixPath(i.filename).name: archive.read(i) for i in infos if i.filename in found}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as error:
        raise Refused(f"not a readable zip ({type(error).__name__}: {error})") from None


def read_folder(path: Path, notebooks: set[str]) -> dict[str, bytes]:
    """The assignment's notebooks in the folder at ``path``, never following a link, or ``Refused``."""
    entries = []
    for root, folders, files in os.walk(path):
        for name in folders + files:
            full = Path(root, name)
            link = full.is_symlink()
            if not link and not full.is_dir() and not full.is_file():
                raise Refused(f"not a regular file: {str(full.relative_to(path))!r}")
            size = 0 if link or full.is_dir() else full.stat().st_size
            if not full.is_dir() or link:
                entries.append((PurePosixPath(full.relative_to(path).as_posix()), size, link))
    found = _notebooks_of(entries, notebooks)
    return {p.name: (path / p).read_bytes() for p in found}


class SafeExtractor(ExtractorPlugin):
    """Each archive or folder of one student on its own (see the module's text)."""

    def extract(self, archive_path: str, extracted_path: str) -> None:
        coursedir = self.parent.coursedir
        release = coursedir.format_path(coursedir.release_directory, ".", coursedir.assignment_id)
        notebooks = set(find_all_notebooks(release))
        self.skipped: list[str] = []
        self.collected: dict[str, list[str]] = {}
        by_student = defaultdict(list)
        for entry in sorted(os.scandir(archive_path), key=lambda e: e.name):
            by_student[student_of(entry.name)].append(entry)
        for student, entries in sorted(by_student.items()):
            names = ", ".join(e.name for e in entries)
            if not STUDENT_ID.fullmatch(student):
                self.skipped.append(
                    f"{names}: the student ID {student!r} holds more than {STUDENT_ID.pattern}"
                )
            elif len(entries) > 1:
                self.skipped.append(f"{names}: {len(entries)} archives of {student}, one expected")
            else:
                self._extract_one(entries[0], student, notebooks, Path(extracted_path))

    def _extract_one(self, entry: os.DirEntry, student: str, notebooks: set[str], extracted: Path) -> None:
        try:
            if entry.is_dir(follow_symlinks=False):
                files = read_folder(Path(entry.path), notebooks)
            elif entry.is_file(follow_symlinks=False) and entry.name.endswith(".zip"):
                files = read_zip(Path(entry.path), notebooks)
            else:
                raise Refused("not a zip archive or a folder")
            if not files:
                raise Refused("no notebook of the assignment in it")
        except Refused as why:
            self.skipped.append(f"{entry.name}: {why}")
            self.log.warning("Skipped %s: %s", entry.name, why)
            return
        folder = extracted / student
        folder.mkdir(mode=0o755)
        for name, content in files.items():
            descriptor = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
            os.chmod(folder / name, 0o644)  # whatever the umask
        self.collected[student] = sorted(files)


class SafeCollector(FileNameCollectorPlugin):
    """A notebook belongs to the student whose folder ``SafeExtractor`` wrote it to."""

    def collect(self, submitted_file: str) -> dict | None:
        app = self.parent
        extracted = Path(app._format_collect_path(app.extracted_directory))
        parts = Path(submitted_file).relative_to(extracted).parts
        if len(parts) != 2 or not STUDENT_ID.fullmatch(parts[0]):
            return None
        return {"student_id": parts[0], "file_id": parts[1]}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    app = ZipCollectApp.instance()
    app.initialize([*args, "--force"])
    app.start()
    extractor = app.extractor_plugin_inst
    if not isinstance(extractor, SafeExtractor):
        sys.exit("nbgrader_config.py does not set ZipCollectApp.extractor_plugin to SafeExtractor")
    print(f"\nCollected {len(extractor.collected)} students:")
    for student, names in extractor.collected.items():
        print(f"  {student}: {len(names)} notebooks")
    if extractor.skipped:
        print(f"Skipped {len(extractor.skipped)} (not collected; ask the student for a new archive):")
        for line in extractor.skipped:
            print(f"  SKIPPED {line}")
    return 0


if __name__ == "__main__":
    from tools.grading import collect  # the module nbgrader_config.py names, not this script's copy of it

    sys.exit(collect.main())
