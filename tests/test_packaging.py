"""What a user sees before running anything: package metadata, ``help()``, test extras."""

from __future__ import annotations

import importlib.util
import pydoc
import sys
from pathlib import Path

import pytest

import xarray_focal

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_metadata_has_no_placeholder_urls_and_names_the_python_versions(pyproject):
    project = pyproject["project"]
    text = (ROOT / "pyproject.toml").read_text()
    assert "example.invalid" not in text and "example.com" not in text
    for url in project.get("urls", {}).values():
        assert url.startswith("https://") and "invalid" not in url
    classifiers = set(project["classifiers"])
    low = project["requires-python"].lstrip(">=")
    assert f"Programming Language :: Python :: {low}" in classifiers
    assert "Programming Language :: Python :: 3 :: Only" in classifiers


def test_the_test_extra_installs_what_the_netcdf_round_trips_need(pyproject):
    # The README's test command installs the `test` extra: the NetCDF round trips in
    # tests/test_io.py must then run, not skip.
    extra = " ".join(pyproject["project"]["optional-dependencies"]["test"])
    for name in ("netCDF4", "h5netcdf", "h5py"):
        assert name in extra
        assert importlib.util.find_spec(name) is not None, f"{name} is not installed"


def test_help_opens_with_what_the_package_is_and_an_example():
    text = pydoc.render_doc(xarray_focal, renderer=pydoc.plaintext)
    description = text.split("DESCRIPTION", 1)[1].split("PACKAGE CONTENTS", 1)[0]
    lines = description.strip().splitlines()
    assert "focal statistics" in " ".join(line.strip() for line in lines[:3])  # what it is, first
    # ...then a runnable example within the first screen.
    assert any(line.strip().startswith(">>> import xarray_focal") for line in lines[:12])


def test_only_the_public_modules_have_public_names():
    import pkgutil

    public = {"api", "kernels", "errors", "demo", "__main__"}
    found = {m.name for m in pkgutil.iter_modules(xarray_focal.__path__)}
    assert public <= found
    assert all(name in public or name.startswith("_") for name in found), sorted(found)
