"""Allow ``python -m immunolab``."""

from immunolab.cli import main

main()
