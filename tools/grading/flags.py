"""Point the instructor at student cells that do what an answer has no reason to do.

    python -m tools.grading.flags course conv-im2col      # writes course/flags.csv, prints the count

The sandbox (tools/grading/sandbox.py) keeps student code away from the course, but inside its own
kernel a student can still try tricks: an object whose ``__eq__`` always says True, a patched
``utils.check``, a look at the file system. The checks are hardened against the known ones;
this makes every attempt visible. It reads each autograded notebook (what was really run),
takes the cells the student wrote (answer cells, and any other cell that is not the course's
own), and lists each line that

- defines ``__eq__`` or ``__ne__``;
- assigns to an attribute of ``utils``, ``checks``, ``builtins`` or ``sys.modules`` (or calls
  setattr on one);
- reaches for what the checks' guard (checks.py) stands on: a profile or trace function
  (``sys.setprofile``, ``settrace``), PyTorch's function and dispatch modes, the caller's frames
  (``sys._getframe``, ``inspect.currentframe``, ``gc.get_referrers``), IPython's hooks (events,
  input and AST transformers, the display publisher and hook, ``set_custom_exc``), or the
  results' MIME type (a forged result);
- imports os, subprocess, socket, sqlite3, ctypes or importlib;
- calls open, exec, eval, compile or __import__;
- runs a shell command or a magic (``!ls``, ``%%bash``).

A row is evidence for a person to read, not a penalty: a curious student may open a file.
"""

from __future__ import annotations

import argparse
import ast
import csv
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

import checks
from tools.markup import is_locked, is_solution

COMPARISONS = {"__eq__", "__ne__"}
PATCHED = {"utils", "checks", "builtins", "__builtins__"}
# Attributes that only an attempt on the checks' guard or on how results reach the grader uses.
GUARD = {
    "setprofile",
    "settrace",
    "_getframe",
    "currentframe",
    "get_referrers",
    "get_objects",
    "_current_frames",
    "_python_dispatch",
    "TorchDispatchMode",
    "TorchFunctionMode",
    "_pop_mode",
    "_push_mode",
    "_pop_torch_function_stack",
    "_pop_torch_dispatch_stack",
    "_DisableTorchDispatch",
    "DisableTorchFunction",
    "DisableTorchFunctionSubclass",
    "_disable_current_modes",
    "_get_current_dispatch_mode_stack",
    "events",
    "input_transformers_post",
    "input_transformers_cleanup",
    "ast_transformers",
    "display_pub",
    "displayhook",
    "set_custom_exc",
    "register_post_execute",
    "CustomTB",
}
# The results' MIME type (checks.MIME), as a cell would name it to forge a result.
RESULTS_MIME = checks.MIME.removeprefix("application/").removesuffix(".results+json")
IMPORTS = {"os", "subprocess", "socket", "sqlite3", "ctypes", "importlib"}
CALLS = {"open", "exec", "eval", "compile", "__import__"}
MAGICS = {"system", "getoutput", "run_line_magic", "run_cell_magic"}  # what ! and % become


@dataclass(frozen=True)
class Flag:
    """One suspicious line: who, where, why, and the line itself."""

    student_id: str
    notebook: str
    cell: str
    line: int
    reason: str
    code: str


def _root_name(node: ast.AST) -> str:
    """``utils`` for ``utils.check.x``; ``sys.modules`` for ``sys.modules["x"]``; else ''."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute) and ast.unparse(node) == "sys.modules":
            return "sys.modules"
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _patched(target: ast.AST) -> str | None:
    """What an assignment to ``target`` patches (``utils.check``), if it is one we flag."""
    if isinstance(target, ast.Tuple | ast.List):
        return next(filter(None, map(_patched, target.elts)), None)
    if isinstance(target, ast.Attribute | ast.Subscript) and _root_name(target) in PATCHED | {"sys.modules"}:
        return ast.unparse(target)
    return None


def _reasons(node: ast.AST) -> list[str]:
    """Why ``node`` is flagged (nothing for most nodes)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in COMPARISONS:
        return [f"defines {node.name}"]
    if isinstance(node, ast.ImportFrom) and GUARD & {
        *(a.name for a in node.names),
        *(node.module or "").split("."),
    }:
        return [f"imports from the guard's ground ({ast.unparse(node)[:80]})"]
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        return [f"imports {name}" for name in names if name.split(".")[0] in IMPORTS]
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
        targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        return [f"assigns to {patched}" for patched in map(_patched, targets) if patched]
    if isinstance(node, ast.Attribute) and node.attr in GUARD:
        return [f"touches the guard ({ast.unparse(node)})"]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if RESULTS_MIME in node.value or node.value in GUARD:
            return [f"names the guard or the results' type ({node.value[:40]!r})"]
    if isinstance(node, ast.Call):
        function = node.func
        if isinstance(function, ast.Name) and function.id in CALLS:
            return [f"calls {function.id}"]
        if isinstance(function, ast.Name) and function.id in ("setattr", "delattr") and node.args:
            if _root_name(node.args[0]) in PATCHED | {"sys.modules"}:
                return [f"calls {function.id} on {ast.unparse(node.args[0])}"]
        if isinstance(function, ast.Attribute) and function.attr in MAGICS:
            if _root_name(function.value) == "" and "get_ipython" in ast.unparse(function.value):
                return ["runs a shell command or magic"]
    return []


def suspicious_lines(source: str) -> list[tuple[int, str]]:
    """(line number, reason) for each flagged line of a cell's code; IPython syntax allowed."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:  # the cell fails when it runs; nothing of it ran
        return []
    found = {(node.lineno, reason) for node in ast.walk(tree) for reason in _reasons(node)}
    return sorted(found)


def _students_cells(autograded: nbformat.NotebookNode, source: nbformat.NotebookNode):
    """(label, code) of each cell the student wrote: answer cells, and cells the course lacks."""
    ours = {cell.source for cell in source.cells}
    for index, cell in enumerate(autograded.cells):
        if cell.cell_type != "code" or is_locked(cell):
            continue  # nbgrader put the course's own version of a locked cell back
        if is_solution(cell) or cell.source not in ours:
            yield cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}"), cell.source


def scan_notebook(student_id: str, autograded: Path, source: Path) -> list[Flag]:
    """The flags of one autograded notebook, against the course's ``source`` notebook."""
    ran, ours = nbformat.read(autograded, as_version=4), nbformat.read(source, as_version=4)
    flags = []
    for label, code in _students_cells(ran, ours):
        lines = code.splitlines()
        for number, reason in suspicious_lines(code):
            text = lines[number - 1].strip() if number <= len(lines) else ""
            flags.append(Flag(student_id, autograded.stem, label, number, reason, text))
    return flags


def write_flags(course: Path, assignment: str) -> list[Flag]:
    """Scan every autograded notebook of ``assignment``; write ``course/flags.csv``; return the rows."""
    flags = []
    for path in sorted((course / "autograded").glob(f"*/{assignment}/*.ipynb")):
        source = course / "source" / assignment / path.name
        if source.exists():
            flags += scan_notebook(path.parts[-3], path, source)
    with (course / "flags.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([field.name for field in fields(Flag)])
        writer.writerows(map(astuple, flags))
    return flags


def summary(flags: list[Flag], where: Path) -> str:
    """One line for the end of a grading run: how many cells and students were flagged."""
    cells = {(flag.student_id, flag.notebook, flag.cell) for flag in flags}
    students = {flag.student_id for flag in flags}
    return f"flagged: {len(cells)} cells of {len(students)} students ({len(flags)} lines, see {where})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, help="the course folder, e.g. course")
    parser.add_argument("assignment", help="the assignment, e.g. conv-im2col")
    args = parser.parse_args()
    print(summary(write_flags(args.course, args.assignment), args.course / "flags.csv"))


if __name__ == "__main__":
    main()
