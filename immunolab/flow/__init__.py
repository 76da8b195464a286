"""immunolab.flow package."""
