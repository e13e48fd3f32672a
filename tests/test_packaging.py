"""The packaging files stay valid: .desktop, AppStream metainfo, the PyInstaller spec's modules."""

import ast
import configparser
import importlib.util
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.github.diffusion_studio.DiffusionStudio"


def test_desktop_entry_has_the_required_keys():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "diffusion-studio"
    assert entry["Icon"] == APP_ID
    assert entry["Categories"].endswith(";")
    assert "image/png" in entry["MimeType"]


def test_metainfo_names_the_desktop_file_and_binary():
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.find("provides/binary").text == "diffusion-studio"
    assert root.findtext("metadata_license") == "CC0-1.0"


@pytest.mark.parametrize(
    "tool, args, name",
    [
        ("desktop-file-validate", [], f"{APP_ID}.desktop"),
        ("appstreamcli", ["validate", "--no-net"], f"{APP_ID}.metainfo.xml"),
    ],
)
def test_linux_files_pass_the_freedesktop_validators(tool, args, name):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: desktop-file-utils / appstream)")
    result = subprocess.run([tool, *args, str(LINUX / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyinstaller_spec_hidden_imports_exist():
    tree = ast.parse((ROOT / "packaging" / "diffusion_studio.spec").read_text())
    hidden = next(
        kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
        for kw in node.keywords if kw.arg == "hiddenimports"
    )
    names = [elt.value for elt in hidden.elts]
    missing = [n for n in names if n.startswith("diffusion_studio") and importlib.util.find_spec(n) is None]
    assert not missing, f"the spec names modules that do not exist: {missing}"
    assert (ROOT / "packaging" / "entry.py").exists()


def test_every_shipped_resource_is_in_the_wheel(tmp_path):
    """resources/ at the top of the repository installs as diffusion_studio/resources/ (setup.py)."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT),
                    "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("diffusion_studio-*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    shipped = {"diffusion_studio/resources/" + p.relative_to(ROOT / "resources").as_posix()
               for p in (ROOT / "resources").rglob("*") if p.is_file()}
    assert shipped, "resources/ is empty"
    assert not shipped - in_wheel, f"not in the wheel: {sorted(shipped - in_wheel)}"
    assert "diffusion_studio/resources/demo_model/model_ema.safetensors" in in_wheel
