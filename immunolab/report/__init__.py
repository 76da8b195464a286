"""immunolab.report package."""
