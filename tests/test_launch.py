"""Launch buttons: with the repository set (pyproject.toml's [tool.conv-im2col]), each notebook's
page offers "Open in Colab" and "Launch on Binder" at that notebook's path on the branch, and
the README lists the same links; unset, no button and no link. Binder installs the CPU-only
PyTorch."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

from tools import setup_cell
from tools.series import ROOT, notebook_paths
from tools.site.build import build_site, launch_buttons

REPOSITORY = {"repository": "https://github.com/ada/conv-im2col", "branch": "main"}
NOTEBOOK = "01_launch.ipynb"


class Links(HTMLParser):
    """Every link of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def page_links(path: Path) -> list[str]:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.links


def one_page_site(folder: Path, launch: dict) -> Path:
    """A site of one notebook (already 'executed': no code), built with ``launch``."""
    first = nbformat.v4.new_markdown_cell("# 01 · Launch\n\nA notebook of the launch buttons' test.\n")
    nb = nbformat.v4.new_notebook(cells=[first, nbformat.v4.new_markdown_cell("Some text.")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    build_site([(folder / NOTEBOOK, nb)], folder / "site", launch=launch)
    return folder / "site" / NOTEBOOK.replace(".ipynb", ".html")


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> list[str]:
    return page_links(one_page_site(tmp_path_factory.mktemp("set"), launch_buttons(REPOSITORY)))


def test_with_the_repository_set_colab_opens_the_notebook_from_github(launched):
    colab = [href for href in launched if "colab.research.google.com" in href]
    assert colab == [
        f"https://colab.research.google.com/github/ada/conv-im2col/blob/main/notebooks/{NOTEBOOK}"
    ]


def test_with_the_repository_set_binder_opens_the_notebook_in_jupyterlab(launched):
    binder = [href for href in launched if "mybinder.org" in href]
    assert len(binder) == 1
    url = urlsplit(binder[0])
    assert (url.scheme, url.netloc, url.path) == ("https", "mybinder.org", "/v2/gh/ada/conv-im2col/main")
    assert parse_qs(url.query) == {"urlpath": [f"lab/tree/notebooks/{NOTEBOOK}"]}


def test_with_no_repository_no_launch_button_and_no_link_to_one(tmp_path):
    assert launch_buttons({"repository": "", "branch": "main"}) == {}
    links = page_links(one_page_site(tmp_path, launch_buttons({"repository": "", "branch": "main"})))
    assert links, "the page has its other links"
    assert not [href for href in links if re.search(r"colab|binder|github", href)]


def test_a_repository_that_is_not_on_github_is_refused():
    with pytest.raises(ValueError, match="github.com/OWNER/NAME"):
        launch_buttons({"repository": "https://gitlab.com/ada/conv-im2col", "branch": "main"})


def test_the_readme_links_follow_the_setting():
    readme = (ROOT / "README.md").read_text()
    assert setup_cell.readme_links(setup_cell.settings()) in readme, "run python -m tools.setup_cell --write"
    links = setup_cell.readme_links(REPOSITORY)
    for path in notebook_paths():
        colab = f"https://colab.research.google.com/github/ada/conv-im2col/blob/main/notebooks/{path.name}"
        binder = f"https://mybinder.org/v2/gh/ada/conv-im2col/main?urlpath=lab/tree/notebooks/{path.name}"
        assert f"({colab})" in links and f"({binder})" in links
    assert "colab" not in setup_cell.readme_links({"repository": "", "branch": "main"}).lower()
    with_links = setup_cell.with_readme_links(readme, links)
    assert len(with_links.splitlines()) < 120, "the README stays a front page (tests/test_repo.py)"


def test_binder_installs_the_cpu_only_pytorch_and_the_students_packages():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "-r ../requirements.txt" in lines and "-c ../constraints-students.txt" in lines
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
