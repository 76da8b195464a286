"""Coverage-guided fuzz target: the manifest and subjects readers (see fuzz/targets.py; `make fuzz`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import main

if __name__ == "__main__":
    main("identity")
