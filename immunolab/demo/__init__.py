"""Generate the self-consistent demo trial shipped in ``sample_data/`` (no real patient data).

The trial mirrors the study immunolab was built for: umbilical-cord MSCs in COVID-19 pneumonia,
20 patients (10 MSC, 10 control), visits Day 0, 3, 6, 10, 14, 28, 90 and 180. Everything is
simulated from a seed, so the same seed gives byte-identical files.

Modules: :mod:`~immunolab.demo.cohort` (subjects, visits, sample codes),
:mod:`~immunolab.demo.truth_model` (arm x time trajectories of every simulated feature),
:mod:`~immunolab.demo.flow_sim` (FCS files of the TBNK-Treg panel) and
:mod:`~immunolab.demo.trial` (orchestration: :func:`~immunolab.demo.trial.generate_trial`).
"""

from __future__ import annotations

__all__ = ["generate_trial"]


def generate_trial(*args: object, **kwargs: object) -> object:
    """Generate the demo trial (see :func:`immunolab.demo.trial.generate_trial`)."""
    from immunolab.demo.trial import generate_trial as _generate

    return _generate(*args, **kwargs)  # type: ignore[arg-type]
