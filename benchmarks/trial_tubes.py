"""Generated tubes at trial scale for the store benchmarks: thousands of distinct samples, written once.

Tube ``i`` belongs to patient ``i % 20 + 1`` at visit ``VISITS[(i // 20) % 8]`` and to the tube
set ``i // 160`` (its panel, ``TBNK-Treg-<set>``), so every tube is a distinct sample (patient,
visit, specimen, panel), as when a lab runs several tubes per visit. Each tube is the demo's
TBNK-Treg simulation (:func:`immunolab.demo.tubes.write_tube`) with its own seed, so no two files
share bytes. Files already present are reused, so a benchmark pays for generation once.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_trial_tubes"]

PATIENTS = 20
VISITS = (0, 3, 6, 10, 14, 28, 90, 180)


def _row(i: int, name: str) -> str:
    pid, day, tube_set = f"{i % PATIENTS + 1:03d}", VISITS[(i // PATIENTS) % len(VISITS)], i // (PATIENTS * len(VISITS))
    return f"{name},{pid}-D{day:03d}-S{tube_set:02d},{pid},{day},PBMC,TBNK-Treg-{tube_set:02d}"


def _write_range(args: tuple[str, int, int, int, int]) -> None:
    from immunolab.demo.tubes import write_tube

    folder, start, stop, n_events, seed = args
    for i in range(start, stop):
        path = Path(folder) / f"tube_{i:05d}.fcs"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            write_tube(tmp, n_events, seed=seed + i)
            tmp.replace(path)


def write_trial_tubes(folder: Path, n_files: int, n_events: int, *, seed: int = 20_000,
                      workers: int = 2) -> tuple[Path, list[Path]]:
    """Write (once) ``n_files`` tubes of ``n_events`` events with manifest.csv and subjects.csv.

    Returns (manifest path, tube paths in order). Generation runs in ``workers`` processes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"tube_{i:05d}.fcs" for i in range(n_files)]
    missing = [i for i, f in enumerate(files) if not f.exists()]
    if missing:
        import multiprocessing as mp

        step = max(1, (len(missing) + workers - 1) // workers)
        chunks = [(str(folder), missing[k], missing[min(k + step, len(missing)) - 1] + 1, n_events, seed)
                  for k in range(0, len(missing), step)]
        if workers > 1 and len(chunks) > 1:
            with mp.get_context("fork").Pool(workers) as pool:
                pool.map(_write_range, chunks)
        else:
            for chunk in chunks:
                _write_range(chunk)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"] + [_row(i, f.name) for i, f in enumerate(files)]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    subjects = ["patient_id,arm,site,age,sex"] + [
        f"{p:03d},{'MSC' if p % 2 else 'control'},A,{30 + p},{'F' if p % 3 else 'M'}" for p in range(1, PATIENTS + 1)
    ]
    (folder / "subjects.csv").write_text("\n".join(subjects) + "\n")
    return folder / "manifest.csv", files
