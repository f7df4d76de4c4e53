"""Find and execute the notebooks of the series, headless (used by `make html` and the tests)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
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


@contextmanager
def kernel_settings(path: Path) -> Iterator[dict]:
    """Settings for an nbclient ``NotebookClient`` (or a testbook) that runs the notebook at ``path``.

    The kernel works in the notebook's folder and talks over local socket files, not TCP ports:
    nothing is reachable from the network, and ipykernel has no reason to warn about unencrypted
    TCP on stderr. The socket files live in a temporary folder while the context is open.
    """
    with tempfile.TemporaryDirectory() as sockets:
        yield {
            # The path is absolute: the kernel runs in the notebook's folder, this process not.
            "config": Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}}),
            "kernel_name": "python3",
            "resources": {"metadata": {"path": str(path.parent)}},
            # Stop the kernel at once when done: a polite shutdown of a kernel that imported
            # PyTorch takes 2 to 3 seconds, a quarter of a short notebook's run.
            "shutdown_kernel": "immediate",
        }


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel, in its own folder.

    Returns the executed notebook. Raises ``NotebookError`` naming the notebook and the cell if
    any cell raises.
    """
    nb = nbformat.read(path, as_version=4)
    with kernel_settings(path) as settings:
        try:
            NotebookClient(nb, timeout=timeout, **settings).execute()
        except CellExecutionError as error:
            raise NotebookError(f"{failed_cell(path, nb)} raised:\n{error}") from None
    return nb
