"""The wheel ships every package of the source tree.

pyproject.toml lists the packages by hand (it maps the top-level ``kernels/`` folder to
``keras_lrsched.kernels``); an editable install finds a package missing from that list anyway,
so only a real install would lose it. Issue 10 added ``keras_lrsched/callback/`` without it.
"""

import pathlib

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_package_folder_is_in_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "keras_lrsched").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    folders.add("keras_lrsched.kernels")  # shipped from kernels/, see package-dir
    assert folders == listed
    assert config["package-dir"]["keras_lrsched.kernels"] == "kernels"
    assert (ROOT / "kernels" / "__init__.py").exists()
