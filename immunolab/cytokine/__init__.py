"""immunolab.cytokine package."""
