"""De-identification stays linear in the number of keywords; a crafted flood of keywords is refused.

The first release hung on an FCS file with 300,000 custom keywords (quadratic de-duplication of
dropped names). Timing lives in ``benchmarks/bench_deid.py`` and the growth ratio in
``tests/reliability/test_keyword_flood.py``; here: the result is exactly what the allowlist rule
says, and a file above
``MAX_KEYWORDS`` fails with IML-FCS-040 naming the file and the way out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.keywords import MAX_KEYWORDS, deidentify, dropped_name, is_allowed
from immunolab.fcs.reader import read_fcs
from immunolab.fcs.writer import build_fcs_bytes

CHANNELS = ["FSC-A", "SSC-A", "CD3"]


def _reference(keywords: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return (kept, dropped) by the rule written out naively: sorted keys, first occurrence of a name wins."""
    kept = {k: v for k, v in keywords.items() if is_allowed(k)}
    dropped: list[str] = []
    for key in sorted(keywords):
        if not is_allowed(key) and dropped_name(key) not in dropped:
            dropped.append(dropped_name(key))
    return kept, dropped


def test_deidentify_keeps_the_allowlist_and_folds_dropped_names_in_sorted_order() -> None:
    rng = np.random.default_rng(3)
    keywords = {f"$P{i}N": f"ch{i}" for i in range(1, 40)}
    keywords.update({f"$P{i}DETECTOR": "PMT" for i in range(1, 40)})  # one folded name: $PnDETECTOR
    keywords.update({f"@SAMPLE{int(x)}": "Jane Roe" for x in rng.integers(0, 500, 300)})
    keywords.update({"$FIL": "roe_jane.fcs", "$CYT": "Aria", "TUBE NAME": "Roe", "$DATE": "01-JAN-2026"})
    result = deidentify(keywords)
    kept, dropped = _reference(keywords)
    assert result.kept == kept
    assert result.dropped == dropped
    assert result.dropped.count("$PnDETECTOR") == 1
    assert "Jane" not in " ".join(result.dropped + list(result.kept.values()))


def _fcs_with_keywords(n: int) -> bytes:
    events = np.zeros((10, len(CHANNELS)), dtype=np.float32)
    return build_fcs_bytes(events, CHANNELS, keywords={f"K{i}": "v" for i in range(n)})


def test_a_file_with_a_million_keywords_is_refused_before_decoding_them() -> None:
    blob = _fcs_with_keywords(1_000_000)
    with pytest.raises(InputError) as info:
        read_fcs(blob, label="P07_D14.fcs")
    err = info.value
    assert err.code == "IML-FCS-040" and "IML-FCS-040" in ERROR_CODES
    assert err.path == "P07_D14.fcs"
    assert f"{MAX_KEYWORDS:,}" in err.message and "Re-export" in (err.hint or "")


def test_a_file_just_under_the_budget_reads() -> None:
    fcs = read_fcs(_fcs_with_keywords(50_000), label="x.fcs", events=False, allow_empty=True)
    assert len(fcs.keywords) > 50_000


def test_supplemental_text_counts_toward_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Primary TEXT and supplemental TEXT each fit, together they exceed the budget."""
    from dataclasses import replace

    import immunolab.fcs.keywords as kw
    from tests.fcs.factories import FcsSpec, build_fcs

    spec = FcsSpec(events=np.zeros((4, 2), dtype=np.float32))
    placeholder: dict[str, str | bytes] = {"$BEGINSTEXT": "00000000", "$ENDSTEXT": "00000000"}
    size = len(build_fcs(replace(spec, override=placeholder)))
    n_primary = len(read_fcs(build_fcs(spec), events=False).keywords)
    extra = ("/" + "".join(f"SUPP{i}/v/" for i in range(n_primary))).encode()
    offsets: dict[str, str | bytes] = {"$BEGINSTEXT": f"{size:08d}", "$ENDSTEXT": f"{size + len(extra) - 1:08d}"}
    blob = build_fcs(replace(spec, override=offsets)) + extra
    monkeypatch.setattr(kw, "MAX_KEYWORDS", n_primary + 5)  # each segment alone is within the budget
    with pytest.raises(InputError) as info:
        read_fcs(blob, label="x.fcs")
    assert info.value.code == "IML-FCS-040" and "supplemental" in info.value.message
    monkeypatch.setattr(kw, "MAX_KEYWORDS", 2 * n_primary + 5)
    assert len(read_fcs(blob, label="x.fcs").keywords) >= 2 * n_primary


def test_ingest_reports_the_refused_file_as_one_coded_fail(tmp_path: Path) -> None:
    from immunolab.ingest import ingest_paths

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "flood.fcs").write_bytes(_fcs_with_keywords(MAX_KEYWORDS + 1))
    (tmp_path / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n"
                                           "flood.fcs,001-D000,001,0,PBMC,TBNK\n")
    report = ingest_paths([tmp_path / "in"], store=tmp_path / "store", manifest=tmp_path / "manifest.csv")
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.code, outcome.exit_code) == ("FAIL", "IML-FCS-040", 1)


def test_a_text_segment_above_the_byte_budget_is_refused_before_it_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    import immunolab.fcs.keywords as kw
    from immunolab.fcs.segments import parse_text

    text = b"/" + b"".join(b"K%d/%s/" % (i, b"x" * 200) for i in range(2_000))
    monkeypatch.setattr(kw, "MAX_TEXT_BYTES", 100_000)
    with pytest.raises(InputError) as info:
        parse_text(text, label="x.fcs")
    assert info.value.code == "IML-FCS-040" and "MiB" in info.value.message
    monkeypatch.setattr(kw, "MAX_TEXT_BYTES", 1_000_000)
    assert len(parse_text(text, label="x.fcs").keywords) == 2_000
