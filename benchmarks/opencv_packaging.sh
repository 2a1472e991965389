#!/usr/bin/env bash
# What pip does with two cv2 distributions in one environment (issue 14 item 2), measured in
# throwaway venvs: opencv-python (required by onedl-mmcv / onedl-mmsegmentation) beside
# opencv-python-headless (what repro depended on) or opencv-contrib-python (EdgeBoxes).
# Usage: bash benchmarks/opencv_packaging.sh [WHEEL_DIR]  (downloads the wheels when not given)
set -u
VERSION=${OPENCV_VERSION:-5.0.0.93}
WHEELS=${1:-$(mktemp -d)}
TMP=$(mktemp -d)
if [ $# -eq 0 ]; then
  python3 -m pip download -q --no-deps -d "$WHEELS" numpy "opencv-python==$VERSION" \
    "opencv-python-headless==$VERSION" "opencv-contrib-python==$VERSION"
fi
# A project that requires opencv-python and offers the contrib build as an extra, as repro does.
mkdir -p "$TMP/proj/fakeproj" && touch "$TMP/proj/fakeproj/__init__.py"
cat > "$TMP/proj/pyproject.toml" <<TOML
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"
[project]
name = "fakeproj"
version = "0.1"
dependencies = ["opencv-python==$VERSION"]
[project.optional-dependencies]
edgeboxes = ["opencv-contrib-python==$VERSION"]
[tool.setuptools]
packages = ["fakeproj"]
TOML
python3 -m pip wheel -q --no-deps "$TMP/proj" -w "$WHEELS"
PIP="pip install -q --no-index --find-links $WHEELS"
probe() {
  python - <<'PY' 2>&1 | tail -1
import importlib.metadata as m, os
import cv2
eb = getattr(getattr(cv2, "ximgproc", None), "createEdgeBoxes", None)
so = os.path.join(os.path.dirname(cv2.__file__), "cv2.abi3.so")
print("   cv2", cv2.__version__, "| EdgeBoxes:", eb is not None and eb(maxBoxes=5) is not None,
      "| cv2.abi3.so MB:", os.path.getsize(so) // 10**6, "| distributions:",
      sorted(d.metadata["Name"] for d in m.distributions() if "opencv" in d.metadata["Name"]))
PY
}
fresh() { rm -rf "$TMP/v"; python3 -m venv "$TMP/v"; . "$TMP/v/bin/activate"; $PIP numpy; }
echo "pip: $(python3 -m pip --version)"
echo "1. opencv-python + opencv-python-headless (repro's dependencies before)"; fresh
$PIP "opencv-python==$VERSION" "opencv-python-headless==$VERSION"; probe
pip uninstall -q -y opencv-python-headless; echo "   after uninstalling -headless:"; probe
echo "2. opencv-python, then opencv-contrib-python, then uninstall contrib"; fresh
$PIP "opencv-python==$VERSION"; $PIP "opencv-contrib-python==$VERSION"; probe
pip uninstall -q -y opencv-contrib-python; echo "   after uninstalling contrib:"; probe
echo "3. fresh 'fakeproj[edgeboxes]'"; fresh
$PIP -v "fakeproj[edgeboxes]" 2>&1 | grep "^Installing collected"; probe
echo "   then a reinstall of opencv-python (an mmcv upgrade, a re-install of the project):"
$PIP --force-reinstall --no-deps "opencv-python==$VERSION"; probe
echo "   then the README's step: the contrib build on top at opencv-python's version:"
$PIP --force-reinstall --no-deps "opencv-contrib-python==$VERSION"; probe
echo "4. fakeproj, then opencv-python replaced by the contrib build"; fresh
$PIP fakeproj; pip uninstall -q -y opencv-python; $PIP "opencv-contrib-python==$VERSION"; probe
echo "   pip check: $(pip check 2>&1)"
$PIP fakeproj; echo "   then 'pip install fakeproj' again:"; probe
deactivate; rm -rf "$TMP"
