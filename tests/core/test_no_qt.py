import subprocess
import sys


def test_core_imports_no_qt_and_no_torch():
    code = (
        "import sys, diffusion_studio.core, diffusion_studio.core.images, diffusion_studio.core.forward;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','superqt','PyQt5','PyQt6','torch')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"core pulled in: {out}"


def test_every_core_module_imports_without_qt():
    code = (
        "import sys, pkgutil, importlib, diffusion_studio.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'diffusion_studio.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','superqt','PyQt5','PyQt6')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"a core module imports Qt: {out}"
