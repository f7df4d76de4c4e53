"""The set-up cell: the second cell of every notebook, the same in each, written by this tool
(with README.md's "Open in Colab" / "Launch on Binder" links, which depend on the same setting,
and the set-up commands of README.md and the release's README, from tools/templates/setup.md.j2).

A notebook opened on its own (in Colab, on Binder, downloaded from the site, fetched alone in a
JupyterHub) has no ``utils.py`` and no CIFAR-10 sample next to it. The set-up cell looks for
them; if any is missing, it downloads it from the series' published location and keeps it only
if its SHA-256 is the one the cell carries. When everything is there, it does nothing and prints
nothing. The files, the repository and its branch are settings of ``pyproject.toml``
(``[tool.conv-im2col]``); after changing one of the files, run

    python -m tools.setup_cell --write    # (re)write the cell in every notebook, the README's links
    python -m tools.setup_cell --check    # exit 1 if one of them is not current

The environment variable ``CONV_IM2COL_BASE_URL`` overrides the published location (the tests
serve the files from 127.0.0.1).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import nbformat

from tools import texts as texts_
from tools.project import ROOT, settings
from tools.series import notebook_paths

CELL_ID = "series-setup"
README_START = "<!-- launch links: tools/setup_cell.py writes them from pyproject.toml -->"
README_END = "<!-- end of launch links -->"
TAGS = ["remove-cell"]  # the site does not show the cell; the notebooks it offers for download keep it
ENV_VAR = "CONV_IM2COL_BASE_URL"
GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)/?$")

TEMPLATE = """\
# Set-up, the same in every notebook: fetches the helper files if missing (opened alone).
import hashlib
import importlib.util
import os
import urllib.request
from pathlib import Path

FILES = @FILES@
BASE_URL = os.environ.get("@ENV_VAR@", "@BASE_URL@")
spec = importlib.util.find_spec("utils")
home = Path(spec.origin).parent if spec and spec.origin else Path.cwd()
missing = [name for name in FILES if not (home / name).is_file()]
for name in missing:
    try:
        data = urllib.request.urlopen(BASE_URL + name, timeout=30).read()
    except (ValueError, OSError):  # no URL set, no network, no such file
        source = BASE_URL or "the series' repository"
        raise SystemExit(f"Missing {', '.join(missing)}: download them from {source} into {home}.") from None
    if hashlib.sha256(data).hexdigest() != FILES[name]:
        raise SystemExit(f"Refused {BASE_URL + name}: not the series' {name} (its SHA-256 differs).")
    (home / name).parent.mkdir(parents=True, exist_ok=True)
    (home / name).write_bytes(data)
if missing:
    importlib.invalidate_caches()  # utils.py is new: let import see it
    print(f"Fetched {', '.join(missing)} from {BASE_URL} into {home}: their SHA-256 checked.")
"""


def github_repository(url: str) -> tuple[str, str] | None:
    """``(owner, name)`` of a ``https://github.com/owner/name`` URL; None if ``url`` is empty.
    Any other URL is a ValueError: Colab, Binder and the raw files need a GitHub repository."""
    if not url:
        return None
    match = GITHUB.match(url)
    if match is None:
        raise ValueError(f"repository must be https://github.com/OWNER/NAME or empty, got {url!r}")
    return match.group(1), match.group(2)


def base_url(config: dict) -> str:
    """Where the helper files are published: the repository's raw files on its branch ('' if unset)."""
    repository = github_repository(config["repository"])
    if repository is None:
        return ""
    owner, name = repository
    return f"https://raw.githubusercontent.com/{owner}/{name}/{config['branch']}/"


def sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cell_source(root: Path = ROOT) -> str:
    """The set-up cell's code: the helper files with their SHA-256 and the published location."""
    config = settings(root)
    files = {name: sha256(root / name) for name in config["helper-files"]}
    listed = "{\n" + "".join(f'    "{name}": "{digest}",\n' for name, digest in files.items()) + "}"
    filled = TEMPLATE.replace("@FILES@", listed).replace("@ENV_VAR@", ENV_VAR)
    return filled.replace("@BASE_URL@", base_url(config)).rstrip("\n")


def launch_links(config: dict, notebook: str) -> tuple[str, str] | None:
    """The "Open in Colab" and "Launch on Binder" URLs of ``notebook`` (a name in notebooks/)
    on the repository's branch, as sphinx-book-theme makes them; None while no repository is set."""
    repository = github_repository(config["repository"])
    if repository is None:
        return None
    owner, name = repository
    path = f"notebooks/{notebook}"
    return (
        f"https://colab.research.google.com/github/{owner}/{name}/blob/{config['branch']}/{path}",
        f"https://mybinder.org/v2/gh/{owner}/{name}/{config['branch']}?urlpath=lab/tree/{path}",
    )


def readme_links(config: dict, paths: list[Path] | None = None) -> str:
    """README.md's block of launch links (between its markers): a line of Colab links and one
    of Binder links, one per notebook; nothing but the markers while no repository is set."""
    links = {path.stem[:2]: launch_links(config, path.name) for path in paths or notebook_paths()}
    body = ""
    if all(links.values()) and links:
        colab = " · ".join(f"[{number}]({urls[0]})" for number, urls in links.items())
        binder = " · ".join(f"[{number}]({urls[1]})" for number, urls in links.items())
        body = f"\nNothing to install: **Open in Colab** {colab}; **Launch on Binder** {binder}.\n"
    return f"{README_START}{body}{README_END}"


def with_readme_links(text: str, block: str) -> str:
    """README.md's ``text`` with its launch-link block replaced by ``block``."""
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    return text[:start] + block + text[end:]


def with_setup_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """``nb`` with the set-up cell as its second cell: replaced if there, inserted after the title if not."""
    cell = nbformat.v4.new_code_cell(source)
    cell.id = CELL_ID
    cell.metadata = {"tags": TAGS}
    cells = [c for c in nb.cells if c.get("id") != CELL_ID]
    nb.cells = [cells[0], cell, *cells[1:]]
    return nb


def stale(paths: list[Path], source: str) -> list[Path]:
    """The notebooks whose second cell is not the set-up cell ``source``."""
    cells = {path: nbformat.read(path, as_version=4).cells[1] for path in paths}
    wanted = (CELL_ID, source, TAGS)
    return [path for path, c in cells.items() if (c.get("id"), c.source, c.metadata.get("tags")) != wanted]


def main(argv: list[str] | None = None) -> int:
    """``--write`` the set-up cell into every notebook, or ``--check`` that each has it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the current cell into every notebook")
    mode.add_argument("--check", action="store_true", help="exit 1 if a notebook lacks the current cell")
    parser.add_argument("--print", action="store_true", help="also print the cell")
    args = parser.parse_args(argv)
    source, paths = cell_source(), notebook_paths()
    if args.print:
        print(source)
    outdated = stale(paths, source)
    # README.md's launch links, and the set-up commands of both READMEs (tools/texts.py).
    texts = {ROOT / name: (ROOT / name).read_text() for name in texts_.SETUP_COPIES}
    current = {path: texts_.with_setup_commands(text, texts_.SETUP_COPIES[path.relative_to(ROOT).as_posix()])
               for path, text in texts.items()}  # fmt: skip
    readme = ROOT / "README.md"
    current[readme] = with_readme_links(current[readme], readme_links(settings(), paths))
    if args.check:
        for path in outdated:
            print(f"{path.name}: its set-up cell is not current: run python -m tools.setup_cell --write")
        for path in [path for path in texts if current[path] != texts[path]]:
            print(
                f"{path.relative_to(ROOT)}: its launch links or set-up commands are not current: "
                "run python -m tools.setup_cell --write"
            )
        return 1 if outdated or current != texts else 0
    for path in outdated:
        nbformat.write(with_setup_cell(nbformat.read(path, as_version=4), source), path)
        print(f"{path.name}: set-up cell written")
    for path, text in current.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
