"""immunolab.fcs package."""
