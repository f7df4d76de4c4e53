"""Find and execute the notebooks of the series, headless (used by `make html` and the tests)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"


class NotebookError(RuntimeError):
    """A cell of a notebook raised: the message names the notebook and the cell."""


def notebook_paths(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The series in order: every ``NN_name.ipynb`` in ``folder``, sorted by name."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def _failed_cell(nb: nbformat.NotebookNode) -> tuple[int, str]:
    """Index and first source line of the cell that holds an error output."""
    for index, cell in enumerate(nb.cells):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return index, cell.source.splitlines()[0] if cell.source else ""
    return -1, ""


def execute(
    path: Path,
    probes: dict[str, str] | None = None,
    timeout: int = 300,
) -> tuple[nbformat.NotebookNode, dict]:
    """Run every cell of the notebook at ``path`` in a fresh kernel, in its own folder.

    ``probes`` maps names to Python expressions evaluated in the kernel after the last cell;
    their values come back JSON-decoded (anything JSON cannot hold comes back as its repr).
    The probe cell is not added to the returned notebook. Raises ``NotebookError`` naming the
    notebook and the cell if any cell raises.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    values: dict = {}
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            if probes:
                items = ", ".join(f"{json.dumps(name)}: ({expr})" for name, expr in probes.items())
                code = f"print(__import__('json').dumps({{{items}}}, default=repr))"
                nb.cells.append(nbformat.v4.new_code_cell(code))
                client.execute_cell(nb.cells[-1], len(nb.cells) - 1, store_history=False)
                probe = nb.cells.pop()
                values = json.loads("".join(out.get("text", "") for out in probe.outputs))
    except CellExecutionError as error:
        index, first_line = _failed_cell(nb)
        raise NotebookError(f"{path.name}, cell {index} ({first_line!r}) raised:\n{error}") from None
    return nb, values
