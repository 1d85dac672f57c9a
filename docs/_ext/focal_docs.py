"""Sphinx helpers for the xarray-focal docs.

``boundary-table``
    Renders :data:`xarray_focal.BOUNDARY_MODES` as a table, so the docs never restate the
    boundary names by hand (the code holds that fact once).
``exec-code``
    Runs its Python body at build time and shows the code followed by what it printed.
    Every page that uses it shares one namespace per document, top to bottom, so pages
    read like a session. An exception fails the build: a stale example cannot ship. The
    body runs in the docs source directory, so it can read committed data files by a path
    like ``_static/radius_sweep.csv``.
``exec-figure``
    The same, then saves each matplotlib figure the body opened as a PNG under
    ``generated/figures/`` and shows it. (matplotlib's own plot directive needs the
    reStructuredText state machine, which MyST pages do not have.)
Optional pages
    ``focal_optional_pages`` lists pages that other work streams write (the performance
    pages); a toctree line naming one that does not exist yet is dropped before parsing,
    so the build passes with or without them.
API check
    After reading the sources, warns (an error under ``-W``) when a name in
    ``xarray_focal.__all__`` or a public accessor method is missing from the API page.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import traceback

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Names in ``__all__`` that are documented in prose rather than by autodoc.
_DOCUMENTED_IN_PROSE = {"__version__"}


def _table(header: list, rows: list, widths: list, classes: list) -> nodes.table:
    """A docutils table built as nodes, so it renders the same from .rst and .md pages."""
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)

    def row(cells):
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            para = nodes.paragraph()
            para += cell if isinstance(cell, nodes.Node) else nodes.Text(str(cell))
            entry += para
            r += entry
        return r

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


class BoundaryTable(Directive):
    """A table of every boundary mode, built from ``xarray_focal.BOUNDARY_MODES``."""

    has_content = False

    def run(self):
        from xarray_focal import BOUNDARY_MODES

        def code(text):
            return nodes.literal(text, text)

        header = [
            code("boundary="), "a tap outside the array reads",
            "scipy.ndimage mode", "numpy.pad mode", "dask overlap boundary",
        ]
        rows = []
        for i, mode in enumerate(BOUNDARY_MODES.values()):
            name = nodes.inline()
            name += code(mode.name)
            if i == 0:
                name += nodes.Text(" (default)")
            # "-" in the table means dask has no such mode ("none" would read as dask's own
            # boundary="none").
            dask = mode.dask if mode.dask != "-" else "no equivalent"
            rows.append([name, mode.outside, mode.scipy, mode.numpy_pad, dask])
        return [_table(header, rows, [14, 40, 18, 16, 14], ["boundary-table"])]


_CR_LINE = re.compile(r"[^\n]*\r")


def _clean_output(text: str) -> str:
    # Progress bars redraw a line with carriage returns; keep what the terminal would show.
    text = _CR_LINE.sub("", text)
    return text.rstrip()


class ExecCode(Directive):
    """Run the body, then show it and its printed output."""

    has_content = True
    option_spec = {"hide-code": directives.flag, "hide-output": directives.flag}

    def _execute(self) -> tuple[str, str]:
        env = self.state.document.settings.env
        namespaces = env.temp_data.setdefault("exec_code_namespaces", {})
        namespace = namespaces.setdefault(env.docname, {"__name__": "__docs__"})
        code = "\n".join(self.content)
        buffer = io.StringIO()
        here = os.getcwd()
        try:
            os.chdir(env.srcdir)
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"<{env.docname}:{self.lineno}>", "exec"), namespace)
        except Exception:
            message = traceback.format_exc(limit=-3)
            raise self.error(f"{self.name} block failed:\n{code}\n\n{message}")
        finally:
            os.chdir(here)
        return code, _clean_output(buffer.getvalue())

    def _code_and_output(self, code: str, output: str) -> list:
        result = []
        if "hide-code" not in self.options:
            block = nodes.literal_block(code, code, language="python")
            block["classes"].append("exec-code")
            result.append(block)
        if output and "hide-output" not in self.options:
            out = nodes.literal_block(output, output, language="none")
            out["classes"].append("exec-output")
            result.append(out)
        return result

    def run(self):
        return self._code_and_output(*self._execute())


#: Look of every generated figure (the pages' defaults, not the reader's).
FIGURE_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 10,
    "image.cmap": "viridis",
    "image.interpolation": "nearest",
}


class ExecFigure(ExecCode):
    """Run the body and show the matplotlib figures it opened (code first, unless hidden)."""

    option_spec = {
        "hide-code": directives.flag,
        "hide-output": directives.flag,
        "alt": directives.unchanged,
        "width": directives.unchanged,
    }

    def run(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        env = self.state.document.settings.env
        plt.close("all")
        with matplotlib.rc_context(FIGURE_RC):
            code, output = self._execute()
            numbers = plt.get_fignums()
            if not numbers:
                raise self.error("exec-figure block opened no matplotlib figure")
            outdir = os.path.join(env.srcdir, "generated", "figures")
            os.makedirs(outdir, exist_ok=True)
            images = []
            for i, number in enumerate(numbers):
                name = f"{env.docname.replace('/', '-')}-{self.lineno}-{i}.png"
                plt.figure(number).savefig(os.path.join(outdir, name), bbox_inches="tight")
                image = nodes.image(
                    uri=f"/generated/figures/{name}",
                    alt=self.options.get("alt", "figure generated from the code above"),
                )
                if "width" in self.options:
                    image["width"] = self.options["width"]
                image["classes"].append("exec-figure")
                images.append(image)
            plt.close("all")
        return self._code_and_output(code, output) + images


def _check_api_page(app, env):
    """Every public name and accessor method must appear on the API page."""
    import xarray as xr

    import xarray_focal

    docname = "api"
    if docname not in env.found_docs:
        return
    with open(env.doc2path(docname), encoding="utf-8") as f:
        text = f.read()
    missing = []
    for name in xarray_focal.__all__:
        if name in _DOCUMENTED_IN_PROSE:
            continue
        if not re.search(rf"(^|\s|:: ){re.escape(name)}\s*$", text, re.M):
            missing.append(name)
    for cls_name, cls in (("DataArray", xr.DataArray), ("Dataset", xr.Dataset)):
        accessor = cls.focal  # on the class, xarray gives back the accessor class
        for attr in dir(accessor):
            if attr.startswith("_") or not callable(getattr(accessor, attr)):
                continue
            if not re.search(rf"^\s*{cls_name}\.focal\.{attr}\s*$", text, re.M):
                missing.append(f"{cls_name}.focal.{attr}")
    if missing:
        logger.warning(
            "api.rst does not document these public names: %s", ", ".join(missing),
            location=docname,
        )


def _toctree_target(line: str) -> str:
    """The page a toctree line names: ``page`` or ``Title <page>``."""
    match = re.fullmatch(r".*<(.+)>", line.strip())
    return match.group(1) if match else line.strip()


def _drop_missing_optional_pages(app, docname, source):
    missing = [
        page for page in app.config.focal_optional_pages
        if not any(
            os.path.exists(os.path.join(app.srcdir, page + suffix))
            for suffix in app.config.source_suffix
        )
    ]
    if missing:
        lines = source[0].split("\n")
        source[0] = "\n".join(line for line in lines if _toctree_target(line) not in missing)


def setup(app):
    app.add_config_value("focal_optional_pages", [], "env")
    app.connect("source-read", _drop_missing_optional_pages)
    app.add_directive("boundary-table", BoundaryTable)
    app.add_directive("exec-code", ExecCode)
    app.add_directive("exec-figure", ExecFigure)
    app.connect("env-updated", _check_api_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
