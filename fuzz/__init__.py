"""Fuzz targets of immunolab (see fuzz/targets.py; run with `make fuzz`)."""
