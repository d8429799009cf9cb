"""The training core: everything a train stage runs that decides its outputs (models, the NumPy
reference, the dataset as the trainer reads it, the training loop and objectives, diagnostics, the
run folder format, the per-cell sweep). Needs only torch and numpy. The train stages in dvc.yaml
depend on this one folder, so a change here reruns training and a change anywhere else (report,
tracking, CLI) does not."""
