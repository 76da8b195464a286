"""(i) De-identification of FCS files with very many custom keywords: linear cost, keyword budget.

An attack on the first release found ingest hanging on one FCS file with 300,000 custom keywords
(4.2 MB): the dropped names were de-duplicated by searching a list (20k keywords 7.5 s, 80k 52 s).
This benchmark measures, in one run on this machine:

* ``deidentify`` alone at 20k, 80k and 300k keywords; the ratio of the time per keyword at 300k
  to that at 20k is ~1 when the cost is linear (it was ~15 before the fix);
* the whole ingest of a 20,000-event tube carrying 300,000 custom keywords, against the same tube
  without them (the anchor); target: under 10 s;
* the refusal (IML-FCS-040) of the same tube with 1,000,000 keywords, above ``MAX_KEYWORDS``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

N_EVENTS = 20_000
SIZES = (20_000, 80_000, 300_000)
REFUSED = 1_000_000


def _tube_with_keywords(folder: Path, name: str, n_keywords: int) -> Path:
    """Write the benchmark tube with ``n_keywords`` custom keywords (FCS 3.1 float32)."""
    from immunolab.demo.tubes import write_tube
    from immunolab.fcs.reader import read_fcs
    from immunolab.fcs.writer import write_fcs

    base = folder / "base.fcs"
    if not base.exists():
        write_tube(base, N_EVENTS, seed=11)
    path = folder / name
    if path.exists():
        return path
    fcs = read_fcs(base)
    assert fcs.events is not None
    keywords = {"$CYT": fcs.keywords["$CYT"], "$SPILLOVER": fcs.keywords["$SPILLOVER"]}
    keywords.update({f"LAB NOTE {i}": f"tube {i} of the morning run" for i in range(n_keywords)})
    write_fcs(path, fcs.events, fcs.pnn, pns=[c.pns for c in fcs.channels], pnr=[c.range for c in fcs.channels],
              keywords=keywords)
    return path


def _ingest(path: Path, folder: Path) -> tuple[float, Any]:
    from immunolab.ingest import ingest_paths

    store = folder / f"store-{path.stem}"
    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    report = ingest_paths([path], store=store, manifest=folder / "manifest.csv")
    return time.perf_counter() - t0, report.outcomes[0]


def _deid_seconds(n: int) -> float:
    from benchmarks.run import best_of
    from immunolab.fcs.keywords import deidentify

    keywords = {f"LAB NOTE {i}": "x" for i in range(n)}
    seconds, result = best_of(lambda: deidentify(keywords), 3)
    assert len(result.dropped) == n
    return seconds


def run(work: Path) -> dict[str, Any]:
    """Time de-identification and ingest at several keyword counts; return the 300k ingest vs the anchor."""
    folder = work / "deid"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    names = {"plain": 0, "kw300k": SIZES[-1], "kw1m": REFUSED}
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    rows += [f"{n}.fcs,001-D{d:03d},001,{d},PBMC,TBNK-Treg" for n, d in zip(names, (0, 3, 6), strict=True)]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    files = {n: _tube_with_keywords(folder, f"{n}.fcs", k) for n, k in names.items()}
    per_kw = {n: _deid_seconds(n) / n for n in SIZES}
    growth = per_kw[SIZES[-1]] / per_kw[SIZES[0]]
    _ingest(files["plain"], folder)  # warm imports and the gating template
    t_plain, o_plain = _ingest(files["plain"], folder)
    t_big, o_big = _ingest(files["kw300k"], folder)
    t_refused, o_refused = _ingest(files["kw1m"], folder)
    met = (t_big < 10.0 and o_big.status == "OK" and o_plain.status == "OK" and growth < 3.0
           and o_refused.code == "IML-FCS-040")
    return {
        "title": f"(i) ingest of a {N_EVENTS // 1000}k-event tube with {SIZES[-1]:,} custom keywords",
        "ours": f"{t_big:.1f} s ({files['kw300k'].stat().st_size / 2**20:.1f} MiB file)",
        "anchor": f"same tube without them {t_plain:.1f} s",
        "ratio": t_big / t_plain,
        "ratio_text": f"{t_big / t_plain:.1f}x the plain tube; de-id time per keyword at 300k / at 20k: {growth:.2f}",
        "target": "< 10 s; per-keyword cost flat (< 3x); 1M keywords refused (IML-FCS-040)",
        "met": met,
        "deidentify_seconds": {str(n): per_kw[n] * n for n in SIZES},
        "refused_seconds": t_refused,
        "lines": [
            "deidentify alone: " + ", ".join(f"{n // 1000}k {per_kw[n] * n:.2f} s" for n in SIZES),
            f"ingest: plain {t_plain:.2f} s ({o_plain.status}), 300k keywords {t_big:.2f} s ({o_big.status}), "
            f"1M keywords {t_refused:.2f} s ({o_refused.status} {o_refused.code})",
        ],
    }
