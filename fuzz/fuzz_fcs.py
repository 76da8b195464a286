"""Coverage-guided fuzz target for the FCS reader and the plate parsers (atheris; run by hand, not in CI).

    make fuzz                                   # installs atheris, fuzzes 5 minutes
    python fuzz/fuzz_fcs.py -max_total_time=60 fuzz/corpus

Any exception other than an immunolab InputError is a finding: atheris stops and writes the
crashing input to ``crash-*``; add it to tests/fcs/factories.py as a regression variant.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes
    from immunolab.errors import InputError
    from immunolab.fcs.reader import read_fcs

CORPUS = Path(__file__).with_name("corpus")


def _seed_corpus() -> None:
    """Write a few valid inputs so the fuzzer starts from real structure."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.cytokine.factories import plate_text
    from tests.fcs.factories import base_specs, build_fcs

    CORPUS.mkdir(exist_ok=True)
    for name, spec in list(base_specs().items())[:6]:
        (CORPUS / f"{name}.fcs").write_bytes(build_fcs(spec))
    (CORPUS / "plate.csv").write_bytes(plate_text().encode())


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as FCS and as an xPONENT export; only coded input errors are allowed."""
    try:
        fcs = read_fcs(data, label="fuzz.fcs")
        fcs.preprocessed()
        fcs.spillover()
    except InputError:
        pass
    with contextlib.suppress(InputError):
        parse_xponent_bytes(data, label="fuzz.csv", options={})


def main() -> None:
    if not any(CORPUS.glob("*")):
        _seed_corpus()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
