"""The derivations of a plate compute what depends only on an analyte once per analyte."""

from __future__ import annotations

import pytest
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.cytokine.assemble import PlateSettings
from immunolab.cytokine.plate import Plate
from immunolab.derive import curves as derive_curves

from .factories import PlateSpec, plate_text


def test_instrument_limits_are_computed_once_per_analyte(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PlateSpec()
    plate = parse_xponent_bytes(plate_text(spec).encode(), label="plate.csv")[0]
    calls: list[str] = []
    limits = derive_curves._instrument_limits

    def counting(plate: Plate, an: object, analyte: str) -> tuple[float | None, float | None]:
        calls.append(analyte)
        return limits(plate, an, analyte)  # type: ignore[arg-type]

    monkeypatch.setattr(derive_curves, "_instrument_limits", counting)
    rows, _status = derive_curves.derive_plate(plate, sha="0" * 64, plate_id="P1", settings=PlateSettings(),
                                               kind=derive_curves.INSTRUMENT)
    assert len(rows["cytokine_results"]) == len(spec.analytes) * len(spec.sample_names)
    assert sorted(calls) == sorted(set(calls)) and len(calls) == len(spec.analytes)
