"""``immunolab derive curves`` on a store with a bead-array run and a plate is one store version.

The run was refitted and committed first, then the plates in a second commit, and the command
printed only the second version: the first went unreported.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import immunolab
from immunolab.cli import main


def test_refitting_a_bead_run_and_a_plate_is_one_store_version_and_the_one_reported(plate_and_bead_run: Path) -> None:
    store = plate_and_bead_run
    before = [v.store_version for v in immunolab.open_store(store).versions()]
    res = CliRunner().invoke(main, ["derive", "curves", "--store", str(store), "--model", "4PL",
                                    "--weighting", "1/y", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["computed"] == 2 and not rep["failed"]  # PLATE-01 and the bead run
    s = immunolab.open_store(store)
    after = [v.store_version for v in s.versions()]
    assert after[:len(before)] == before and len(after) == len(before) + 1
    assert rep["store_version"] == after[-1]
    fits = s.to_pandas("plate_qc").query(f"derivation_id == '{rep['derivation_id']}'")
    assert len(set(fits["plate_id"])) == 2 and len(set(fits["commit_id"])) == 1
