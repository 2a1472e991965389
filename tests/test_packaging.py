"""Packaging: what a non-editable install ships."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = {"repro"} | {
        "repro." + p.parent.relative_to(ROOT / "repro").as_posix().replace("/", ".")
        for p in (ROOT / "repro").glob("*/__init__.py")
    }
    assert found <= listed, (
        f"Subpackages {sorted(found - listed)} are not in [tool.setuptools] packages of "
        "pyproject.toml: a pip install would leave them out. Add them to the list.")
    assert "repro._configs" in listed, "The mmseg configs must ship as repro._configs."
