"""Generate the demo trial into sample_data/ (or --out DIR): a thin CLI over immunolab.demo.

Examples:
    python sample_data/generate.py                      # default seed, into sample_data/
    python sample_data/generate.py --out /tmp/trial --seed 7 --events 20000
    python sample_data/generate.py --if-absent          # do nothing if already complete
    python sample_data/generate.py --big                # also 1,000,000-event files in flow_big/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from immunolab.demo.trial import DEFAULT_SEED, generate_trial


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, generate the trial and return the exit status."""
    parser = argparse.ArgumentParser(description="Generate the immunolab demo trial (simulated, no patient data).")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder (default: sample_data/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--events", type=int, default=None, help="events per FCS file (default: 20k-50k, drawn per file)")
    parser.add_argument("--if-absent", action="store_true", help="do nothing when the trial is already there and complete")
    parser.add_argument("--big", action="store_true", help="also write 1,000,000-event files into flow_big/ (benchmarks)")
    parser.add_argument("--big-count", type=int, default=4, help="how many 1M-event files --big writes (default 4)")
    parser.add_argument("--no-plates", action="store_true", help="skip the cytokine plate exports")
    parser.add_argument("--no-extras", action="store_true", help="skip the bead-array run and the clinical files")
    args = parser.parse_args(argv)
    if args.events is not None and args.events < 1:
        parser.error("--events must be a positive number")
    generate_trial(
        args.out,
        seed=args.seed,
        n_events=args.events,
        big_events=args.big,
        big_count=args.big_count,
        plates=not args.no_plates,
        extras=not args.no_extras,
        if_absent=args.if_absent,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
