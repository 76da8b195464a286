"""Shim so setuptools discovers the in-tree assay plugins under ``immunolab_assays``."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["immunolab", "immunolab.*"])
    + ["immunolab_assays"]
    + [f"immunolab_assays.{p}" for p in find_packages(where="assays")],
)
