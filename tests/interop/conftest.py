"""Interop tests reuse the synthetic store of the analysis tests."""

from tests.analysis.conftest import synth  # noqa: F401
