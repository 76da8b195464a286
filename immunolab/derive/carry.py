"""Carry a plate's curve decision over to the plate file that supersedes it.

A decision (``derive activate`` / ``derive curves --activate``) is scoped to a plate's internal
key, which the superseding file's plate does not share. Gating decisions follow their panel, so
they carry over by themselves; a plate's curve decision is carried over here: the same
derivation is activated on the new plate (refitted first with the recorded settings when it is a
refit the ingest did not compute). Where that cannot be done, a coded warning says so and how to
re-apply the decision. Plates are named by their lab plate code, never their internal key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.store.read import Store

__all__ = ["CarriedChoices", "carry_curve_choices"]

#: the warning that a superseded plate's curve choice was not carried over to its replacement
NOT_CARRIED = "IML-DER-004"


@dataclass
class CarriedChoices:
    """What was carried over (``notes``), what could not be (coded ``warnings``) and the store versions written."""

    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    store_versions: list[int] = field(default_factory=list)


def _settings_of(store: Store, derivation_id: str) -> PlateSettings | None:
    """Return the recorded settings of refit ``derivation_id`` (None when they do not rebuild it exactly)."""
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.cytokine.qc import QcThresholds
    from immunolab.derive.curves import settings_id

    d = store.to_pandas("cytokine_derivations")
    rows = d[d["derivation_id"] == derivation_id]
    if rows.empty or rows.iloc[0]["kind"] != "refit":
        return None
    try:
        data: dict[str, Any] = json.loads(str(rows.iloc[0]["settings_json"]))
        ranges = {(str(k).split("|", 1)[0], str(k).split("|", 1)[1]): (float(v[0]), float(v[1]))
                  for k, v in data["control_ranges"].items()}
        settings = PlateSettings(model=data["model"], weighting=data["weighting"], below_rule=data["below_rule"],
                                 above_rule=data["above_rule"], thresholds=QcThresholds(**data["thresholds"]),
                                 control_ranges=ranges, strict_curves=bool(data["strict_curves"]))
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return settings if settings_id(settings) == derivation_id else None


def carry_curve_choices(store: Store, old_sha: str, new_sha: str, *, reason: str | None,
                        command: str) -> CarriedChoices:
    """Activate on the plates of ``new_sha`` the curve derivations chosen for the plates of ``old_sha``.

    Plates pair by their index in the file. A ``*`` decision covers the new plate already.
    """
    from immunolab.derive.run import activate, derive_curves
    from immunolab.derive.views import plate_codes
    from immunolab.store.read import open_store

    out = CarriedChoices()
    choices = store.to_pandas("derivation_choices")
    plates = store.to_pandas("cytokine_plates", columns=["source_sha256", "plate_id", "plate_index"])
    old = plates[plates["source_sha256"] == old_sha]
    chosen = choices[(choices["kind"] == "curves") & choices["scope"].isin(set(old["plate_id"]))] \
        if not choices.empty else choices
    if chosen.empty:
        return out
    new_of = dict(zip(plates.loc[plates["source_sha256"] == new_sha, "plate_index"],
                      plates.loc[plates["source_sha256"] == new_sha, "plate_id"], strict=True))
    index_of = dict(zip(old["plate_id"], old["plate_index"], strict=True))
    codes = plate_codes(store)
    from immunolab.redact import clean_reason

    for scope, did, earlier in zip(chosen["scope"].astype(str), chosen["derivation_id"].astype(str), chosen["reason"],
                                   strict=True):
        # the supersede's own reason, then the decision's (cleaned: an older release stored reasons as typed)
        why = (f"{reason or 'superseded'}; curve choice carried over from the plate it supersedes "
               f"({clean_reason(str(earlier))[0] if earlier else 'no reason recorded'})")
        new_pid = new_of.get(index_of[scope])
        name = codes.get(str(new_pid), codes.get(scope, "the plate"))
        if new_pid is None:
            out.warnings.append(f"{NOT_CARRIED} the file has no plate {index_of[scope]}, so the curve choice "
                                f"{did} of plate {name} it supersedes was not carried over. Re-apply it with `immunolab derive "
                                f"activate --kind curves --scope PLATE --derivation {did} --reason ...`.")
            continue
        qc = store.to_pandas("plate_qc", columns=["plate_id", "derivation_id"])
        if ((qc["plate_id"] == new_pid) & (qc["derivation_id"] == did)).any():
            rec = activate(store, kind="curves", scope=str(new_pid), derivation_id=did, reason=why, command=command)
            out.store_versions.append(rec.store_version)
            out.notes.append(f"CURVES {name}: {did} stays active (the decision on the plate it supersedes)")
        elif (settings := _settings_of(store, did)) is not None:
            rep = derive_curves(store, settings=settings, plates=[str(new_pid)], activate=True, reason=why,
                                command=command)
            if rep.store_version is not None:
                out.store_versions.append(rep.store_version)
            if rep.failed:
                out.warnings.append(f"{NOT_CARRIED} refitting the chosen curves {did} on plate {name} failed; "
                                    "the refit is active, with the curves it could not fit recorded as failed. "
                                    "Check the plate with `immunolab derive list` and the report.")
            out.notes.append(f"CURVES {name}: {did} refitted on the new file and active (the decision on the "
                             "plate it supersedes)")
        else:
            out.warnings.append(f"{NOT_CARRIED} the chosen curves {did} of plate {name} cannot be recomputed from the "
                                "stored settings, so the new file's plate uses its default curves. Re-apply the choice with "
                                f"`immunolab derive curves --plate {name} ... --activate --reason ...`.")
        store = open_store(store.loc)
    return out
