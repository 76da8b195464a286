"""A study of many toy files for crash and concurrency tests."""

from __future__ import annotations

from pathlib import Path

VISITS = (0, 3, 6, 10, 14, 28, 90, 180)


def make_study(root: Path, n_files: int) -> tuple[Path, list[Path]]:
    """Write subjects, a manifest and ``n_files`` distinct toy files; return (manifest, files)."""
    root.mkdir(parents=True, exist_ok=True)
    n_patients = (n_files + len(VISITS) - 1) // len(VISITS)
    subjects = ["patient_id,arm,site,age,sex"]
    subjects += [f"{p:03d},{'MSC' if p % 2 else 'control'},A,{30 + p % 40},F" for p in range(1, n_patients + 1)]
    (root / "subjects.csv").write_text("\n".join(subjects) + "\n")
    inbox = root / "inbox"
    inbox.mkdir(exist_ok=True)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    files = []
    for i in range(n_files):
        pid, day = f"{i // len(VISITS) + 1:03d}", VISITS[i % len(VISITS)]
        name = f"f{i:04d}.toy"
        body = "TOYASSAY v1\n" + "".join(f"Pop{k},{(i + 1) * 10 + k}\n" for k in range(20))
        (inbox / name).write_text(body)
        rows.append(f"{name},{pid}-D{day:03d},{pid},{day},PBMC,T")
        files.append(inbox / name)
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv", files
