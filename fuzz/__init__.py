"""Fuzz targets for every parser of outside input (run with ``make fuzz``; atheris)."""
