"""immunolab.store package."""
