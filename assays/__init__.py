"""In-tree assay plugins of immunolab (installed as ``immunolab_assays``)."""
