"""Training: the loop, the diagnostics, a run's files and a cell's seeds. Reads typed RunConfigs
and Datasets; never the params file or the study (imports point one way: pyproject.toml's
import-linter contracts). Needs only torch and numpy."""
