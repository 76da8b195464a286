"""Coverage-guided fuzz target: the Luminex xPONENT CSV reader (see fuzz/targets.py; `make fuzz`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import main

if __name__ == "__main__":
    main("xponent")
