"""The repository itself: pinned environment, clean notebooks, lint, documented commands, and
config files whose every setting takes effect."""

import ast
import json
import re
import subprocess
import sys

import pytest
import yaml

from tools.project import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r "):
            match = PIN.match(line)
            assert match, f"not pinned with ==: {line!r}"
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def test_environment_yml_and_requirements_agree():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] and env["channels"]
    deps = env["dependencies"]
    assert any(str(d).startswith("python=3.11") for d in deps)
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pins(pip_section) == requirements
    assert requirements["torch"] == "2.14.1" and requirements["torchvision"] == "0.29.1"


def read_pins(name: str) -> dict[str, str]:
    return pins((ROOT / name).read_text().splitlines())


def test_constraints_pin_the_requirements_to_the_same_versions():
    constraints = read_pins("constraints.txt")
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for name, version in read_pins(requirements).items():
            assert constraints.get(name) == version, f"{requirements}: {name}"
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_students_pins_are_the_maintainers_without_their_tools():
    """constraints-students.txt (the release's constraints.txt) pins what requirements.txt pulls in."""
    students, everything = read_pins("constraints-students.txt"), read_pins("constraints.txt")
    for name, version in students.items():
        assert everything.get(name) == version, f"constraints-students.txt: {name}=={version}"
    for name, version in read_pins("requirements.txt").items():
        assert students.get(name) == version, f"constraints-students.txt does not pin {name}=={version}"
    # (nbclient, nbconvert, nbformat and pyyaml are JupyterLab's own dependencies too.)
    tools = {"pytest", "pytest-xdist", "ruff", "playwright", "sphinx", "myst-nb", "nbgrader", "distributed"}
    tools |= {"psycopg", "django-static-mathjax"}
    assert tools <= set(read_pins("requirements-dev.txt"))
    assert not tools & set(students), (
        f"maintainers' tools pinned for students: {sorted(tools & set(students))}"
    )


def test_notebook_tooling_starts_without_the_iri_parser_it_does_not_use():
    """The Makefile's SLOW_IMPORTS are out of .venv: jsonschema (through nbformat) would build
    rfc3987-syntax's IRI parser in every Jupyter, nbgrader and grading process, 1.4 s each."""
    probe = "import sys, nbformat, jupyter_server; print(*{m.split('.')[0] for m in sys.modules})"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert not loaded & {"rfc3987_syntax", "lark"}, "run `make test`: its install removes them"


def test_committed_notebooks_carry_no_outputs():
    for path in sorted((ROOT / "notebooks").glob("**/*.ipynb")):
        nb = json.loads(path.read_text())
        for index, cell in enumerate(nb["cells"]):
            assert not cell.get("outputs"), f"{path.name} cell {index} has outputs"
            assert not cell.get("execution_count"), f"{path.name} cell {index} has an execution count"


def test_ruff_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 120, f"README.md has {len(lines)} lines: move details to docs/"


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_in_readme_and_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            for target in MARKDOWN_LINK.findall(line):
                path = target.split("#")[0]
                if re.match(r"[a-z]+:", target) or not path:  # a URL, or an anchor on the page
                    continue
                if not (page.parent / path).exists():
                    broken.append(f"{page.relative_to(ROOT)}, line {number}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make html" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_public_helper_in_utils_is_used_by_a_notebook():
    """utils.py holds what the notebooks share, and nothing they do not use."""
    tree = ast.parse((ROOT / "utils.py").read_text())
    public = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name[0] != "_"]
    notebooks = "".join(path.read_text() for path in sorted((ROOT / "notebooks").glob("*.ipynb")))
    unused = [name for name in public if not re.search(rf"\butils\.{name}\(", notebooks)]
    assert len(public) >= 10 and not unused, f"no notebook calls utils.{unused}"


def test_utils_stays_small_and_documents_every_public_function():
    """A helper module a student reads top to bottom (issue 17: at most 450 lines)."""
    source = (ROOT / "utils.py").read_text()
    assert len(source.splitlines()) <= 450
    tree = ast.parse(source)
    public = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name[0] != "_"]
    for node in public:
        docstring = ast.get_docstring(node) or ""
        assert len(docstring) > 40, f"utils.{node.name} needs a docstring"
    shapes = [node.name for node in public if "(N, " in (ast.get_docstring(node) or "")]
    assert {"conv2d_naive", "im2col", "conv2d_im2col", "col2im"} <= set(shapes), "docstrings give shapes"


def configurables() -> dict[str, list[type]]:
    """Class name -> the classes of that name that a configuration of the project can reach."""
    import jupyterhub.app  # noqa: F401 (loads the hub's classes: spawners, authenticators, proxy)
    import nbgrader.apps  # noqa: F401 (and nbgrader's, nbconvert's, nbclient's, jupyter_client's)
    from traitlets.config import Configurable

    found, todo = {}, [Configurable]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, []).append(cls)
        todo += cls.__subclasses__()
    return found


@pytest.mark.parametrize(
    "config_file", ["nbgrader_config.py", "tools/hub/nbgrader_config.py", "tools/hub/jupyterhub_config.py"]
)
def test_every_setting_of_a_config_file_is_one_its_class_reads(config_file):
    """traitlets ignores a value given to a trait that is not configurable, with one log line at
    most: nbclient's coalesce_streams and nbgrader's Validator.preprocessors were two such
    settings here, silently doing nothing. Each setting must name a configurable trait."""
    from traitlets.config.loader import PyFileConfigLoader

    path = ROOT / config_file
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    classes = configurables()
    ignored = [
        f"c.{section}.{name}"
        for section, values in config.items()
        for name in values
        if not any(
            cls.class_traits().get(name) is not None and cls.class_traits()[name].metadata.get("config")
            for cls in classes.get(section, [])
        )
    ]
    assert not ignored, f"{config_file} sets what no class reads: {ignored}"
