"""immunolab.analysis package."""
