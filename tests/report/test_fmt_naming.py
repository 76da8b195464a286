"""Building blocks: escaped tables and numbers, and PHI-safe names and free-text scrubbing."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from immunolab.report.fmt import ci_text, figure, num, p_text, table
from immunolab.report.naming import Naming, file_label, sample_label


def test_every_table_cell_and_header_is_escaped() -> None:
    html = table(pd.DataFrame({"analyte <b>": ["<script>alert(1)</script>", "IL-6 & co"], "p": [0.0001, 0.5]}))
    assert "<script>" not in html and "&lt;script&gt;" in html and "IL-6 &amp; co" in html
    assert "analyte &lt;b&gt;" in html


def test_p_and_q_columns_read_as_p_values_whatever_their_name() -> None:
    df = pd.DataFrame({"p": [0.0004], "q_bh": [0.2], "interaction p adjusted": [0.04567], "p (Fisher)": [1.0],
                       "ratio": [0.0004]})
    html = table(df)
    assert html.count("&lt;0.001") == 1 and "0.200" in html and "0.046" in html and "1.000" in html
    assert "0.0004" in html  # a ratio is a number, not a p-value


def test_numbers_have_three_significant_digits_and_thousands_separators() -> None:
    assert num(1234567) == "1,234,567" and num(6735) == "6,735" and num(12.3456) == "12.3"
    assert num(float("nan")) == "" and num(None) == "" and num(np.bool_(True)) == "yes"
    assert p_text(float("nan")) == "" and p_text(0.0123) == "0.012"
    assert ci_text(1.5, 1.0, 2.25) == "1.50 (1.00 to 2.25)" and ci_text(1.0, float("nan"), 2.0) == ""


def test_a_figure_is_an_inline_png_with_escaped_alt_text_and_caption() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
    html = figure(fig, alt="IL-6 <x>", caption="a & b")
    src = html.split("src='", 1)[1].split("'", 1)[0]
    assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    assert "alt='IL-6 &lt;x&gt;'" in html and "a &amp; b" in html


def _naming() -> Naming:
    return Naming(plate_code={"6fe21cd50d8c3562-p1": "PLATE-03", "run:BEADRUN-01": "BEADRUN-01"},
                  sample={"004-D014-PB": "004|D14", "S0001": "004|D14#2"},
                  source={"a" * 64: "004|D14"}).finish({"ing-20261130T083933-2be944b3": "file 652c2a7e54b9"})


def test_samples_are_named_patient_and_study_day() -> None:
    assert sample_label("004", 14.0) == "004|D14" and sample_label("004", None) == "004|D?"
    assert file_label("652c2a7e54b962866eb5") == "file 652c2a7e54b9"
    n = _naming()
    assert n.of_sample("004-D014-PB") == "004|D14" and n.of_sample("unknown") == "sample ?"
    assert n.plate("6fe21cd50d8c3562-p1") == "PLATE-03" and n.plate("xyz") == "plate ?"


def test_free_text_loses_sample_ids_plate_ids_ingest_ids_file_names_and_dates() -> None:
    text = ("excluded 004-D014-PB on 2026-11-03 (see 004-D014-PB_TBNK.fcs), plate 6fe21cd50d8c3562-p1 and "
            "run:BEADRUN-01, ingest ing-20261130T083933-2be944b3, raw " + "a" * 64 + ", sample S0001 on 03/11/2026")
    out = _naming().scrub(text)
    for leaked in ("004-D014-PB", "2026-11-03", ".fcs", "6fe21cd50d8c3562", "run:", "ing-2026", "a" * 64, "S0001",
                   "03/11/2026"):
        assert leaked not in out, leaked
    assert "004|D14" in out and "PLATE-03" in out and "BEADRUN-01" in out and "[date]" in out and "[file]" in out


def test_an_id_inside_a_longer_token_is_not_replaced() -> None:
    n = Naming(sample={"S0001": "001|D0"}).finish()
    assert n.scrub("S00012 and XS0001 stay, S0001 goes") == "S00012 and XS0001 stay, 001|D0 goes"
