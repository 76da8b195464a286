"""immunolab.cli package."""
