"""Sphinx configuration for the xarray-focal documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (the ``docs`` extra installs what
it needs). Code blocks marked ``exec-code`` and figures marked ``exec-figure`` run at
build time (on synthetic terrain, no downloads), so no page can show an example, a number
or a picture that the code no longer produces; see ``_ext/focal_docs.py``.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Document the package of this checkout even when another copy is installed.
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "_ext"))

import xarray_focal  # noqa: E402

project = "xarray-focal"
author = "xarray-focal developers"
copyright = "xarray-focal developers"
version = release = xarray_focal.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx_autosummary_accessors",
    "numpydoc",
    "myst_parser",
    "focal_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "generated/**.ipynb", "README.md"]
templates_path: list[str] = []

# The performance pages are written in other branches and may not have landed yet: the
# toctree names them, and focal_docs drops the names of those that do not exist.
focal_optional_pages = ["performance", "performance-gpu"]

# --- API reference -------------------------------------------------------------------
import sphinx_autosummary_accessors  # noqa: E402

templates_path.append(sphinx_autosummary_accessors.templates_path)
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc renders the types from the docstrings
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_validation_checks: set[str] = set()

# --- markdown ------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# --- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"xarray-focal {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    # Every top-level page up to Performance in the header at 1280 px; the rest under "More".
    "header_links_before_dropdown": 6,
    # One sidebar (section links, then this page's headings) leaves the text room for
    # full-width code and figures on a laptop screen.
    "secondary_sidebar_items": [],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": ["sidebar-nav-bs", "page-toc"], "index": []}
html_show_sourcelink = False
