"""Only what pyproject.toml cannot say: the top-level resources/ folder installs as diffusion_studio/resources/.

Everything else about the package (metadata, dependencies, entry points) is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["diffusion_studio", "diffusion_studio.*"]) + ["diffusion_studio.resources"],
    package_dir={"diffusion_studio.resources": "resources"},
)
