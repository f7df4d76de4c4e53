"""Sphinx settings of the series' site (tools/site/build.py copies this folder into its source).

MyST-NB renders the notebooks that tools/site/build.py has already run and prepared; the
sphinx-book-theme gives the series' contents on every page, previous/next links, a download
button, search and a dark mode that follows the reader's system setting.
"""

import json
from pathlib import Path

from docutils import nodes

project = "How a 2-D convolution is really computed"  # tools/site/build.py sets the README's title
html_title = project
language = "en"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
master_doc = "index"

# The notebooks arrive executed: render them as they are, never run them again.
nb_execution_mode = "off"
# A cell that wrote to stderr (a warning) stops the build (sphinx runs with warnings as errors).
nb_output_stderr = "severe"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# MathJax from the site itself (the builder copies it into _static/): the site works offline.
mathjax_path = "mathjax/tex-svg-full.js"
mathjax3_config = {"tex": {"tags": "ams"}, "svg": {"fontCache": "global"}}

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
templates_path = ["_templates"]
# Light or dark as the reader's system is set (a reader can switch; the choice is kept).
html_context = {"default_mode": "auto"}
html_css_files = ["series.css"]
html_last_updated_fmt = None
html_copy_source = True  # _sources/NN.ipynb: the download button's notebook
html_show_sourcelink = False
# Search works from file:// too; only the summaries under its results would need a web server.
html_show_search_summary = False
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "footer_content_items": [],  # no author or copyright line: the README says who and how
    "navigation_with_keys": False,  # arrow keys stay the reader's (sliders, scrolling)
    "pygments_light_style": "a11y-high-contrast-light",
    "pygments_dark_style": "a11y-high-contrast-dark",
}
# "Open in Colab" and "Launch on Binder" on each notebook's page when the repository is set
# (tools/site/build.py writes launch.json from pyproject.toml; empty: no button).
html_theme_options |= json.loads((Path(__file__).parent / "launch.json").read_text())
html_sidebars = {"**": ["navbar-logo.html", "sbt-sidebar-nav.html"]}


def describe_figures(app, doctree) -> None:
    """Give each notebook figure its description: alt_text.json maps the PNG's hash (the name
    MyST-NB gives the image) to the text tools/site/build.py found for it. A cell's own
    ``mystnb: image: alt:`` metadata, which MyST-NB applies itself, stays as it is."""
    described = json.loads((Path(app.srcdir) / "alt_text.json").read_text())
    for image in doctree.findall(nodes.image):
        stem = Path(image["uri"]).stem
        if "alt" not in image and stem in described:
            image["alt"] = described[stem]


def setup(app) -> None:
    app.connect("doctree-read", describe_figures)
