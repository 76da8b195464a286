"""Fixture: a synthetic store ingested once per module (flow batch with events + one cytokine plate)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.analysis.synthetic_store import SynthStudy, build_store, registered


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynthStudy]:
    gen = registered()
    next(gen)
    try:
        yield build_store(tmp_path_factory.mktemp("synth"))
    finally:
        gen.close()
