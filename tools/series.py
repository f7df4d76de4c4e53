"""Find and execute the notebooks of the series, headless (used by `make html` and the tests)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config

from tools.project import ROOT

if TYPE_CHECKING:
    import nbformat

NOTEBOOK_DIR = ROOT / "notebooks"


class NotebookError(RuntimeError):
    """A cell of a notebook raised: the message names the notebook and the cell."""


def notebook_paths(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The series in order: every ``NN_name.ipynb`` in ``folder``, sorted by name."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def cell_name(path: Path, index: int, cell: nbformat.NotebookNode) -> str:
    """How messages name a cell: ``02_x.ipynb, cell 7 ('its first line')``."""
    first_line = cell.source.splitlines()[0] if cell.source else ""
    return f"{path.name}, cell {index} ({first_line!r})"


def failed_cell(path: Path, nb: nbformat.NotebookNode) -> str:
    """The name of the cell that holds an error output (the notebook's, if none does)."""
    for index, cell in enumerate(nb.cells):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return cell_name(path, index, cell)
    return path.name


def kernel_config(sockets: Path | None = None) -> Config:
    """How every kernel of the project is started and stopped: by nbclient's ``NotebookClient``
    here (`make html`), testbook's in the tests, and nbgrader's Execute (a ``NotebookClient``)
    through ``nbgrader_config.py`` and ``tools/grading/grade.py``.

    With ``sockets`` (a folder), the kernel talks over local socket files there, not TCP ports:
    nothing is reachable from the network, parallel kernels share no port, and ipykernel has no
    reason to warn about unencrypted TCP on stderr.
    """
    config = Config()
    # Stop the kernel at once when done: a polite shutdown of a kernel that imported PyTorch
    # takes 2 to 3 seconds, a quarter of a short notebook's run, for every notebook of every student.
    config.NotebookClient.shutdown_kernel = "immediate"
    if sockets is not None:
        # The path is absolute: the kernel runs in the notebook's folder, this process not.
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(sockets) / "kernel")
    return config


@contextmanager
def kernel_settings(path: Path) -> Iterator[dict]:
    """Settings for an nbclient ``NotebookClient`` (or a testbook) that runs the notebook at ``path``:
    ``kernel_config`` with socket files in a temporary folder while the context is open, the
    notebook's folder as the kernel's working folder, and each cell's stream outputs merged."""
    with tempfile.TemporaryDirectory() as sockets:
        yield {
            "config": kernel_config(Path(sockets)),
            "kernel_name": "python3",
            "resources": {"metadata": {"path": str(path.parent)}},
            # One output per stream and cell, however often the busy kernel flushed what a cell
            # printed: the pages are the same on every run (not a configurable trait of nbclient's).
            "coalesce_streams": True,
        }


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel, in its own folder.

    Returns the executed notebook. Raises ``NotebookError`` naming the notebook and the cell if
    any cell raises.
    """
    # Imported here: nbformat's schema validation takes 2 s to import, and most users of this
    # module (the course's layout on a hub, say) only want the notebooks' paths.
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    with kernel_settings(path) as settings:
        try:
            NotebookClient(nb, timeout=timeout, **settings).execute()
        except CellExecutionError as error:
            raise NotebookError(f"{failed_cell(path, nb)} raised:\n{error}") from None
    return nb
