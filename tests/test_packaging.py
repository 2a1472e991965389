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


CV2_DISTRIBUTIONS = {"opencv-python", "opencv-python-headless", "opencv-contrib-python",
                     "opencv-contrib-python-headless"}


def _names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_one_cv2_distribution_and_the_contrib_build_as_an_extra():
    """onedl-mmcv / onedl-mmsegmentation require opencv-python: any other cv2 distribution in the
    dependencies is a second package writing cv2/ (measured: uninstalling either one of two then
    leaves no importable cv2; benchmarks/opencv_packaging.sh)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = _names(project["dependencies"]) & CV2_DISTRIBUTIONS
    assert deps == {"opencv-python"}, (
        f"pyproject.toml depends on {sorted(deps)}: depend on opencv-python only (the one mmcv "
        "and mmseg require).")
    extra = _names(project["optional-dependencies"]["edgeboxes"]) & CV2_DISTRIBUTIONS
    assert extra == {"opencv-contrib-python"}, (
        "The edgeboxes extra is the contrib build of the same flavour as opencv-python "
        "(non-headless), so that the two write the same files.")


def test_readme_tells_how_to_install_the_contrib_build_over_opencv_python():
    readme = (ROOT / "README.md").read_text()
    assert "pip install --force-reinstall --no-deps" in readme and "opencv-contrib-python==" in (
        readme), "The README must give the command that puts the contrib cv2 on top."
