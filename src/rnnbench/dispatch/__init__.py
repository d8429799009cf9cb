"""`rnnbench dispatch`: the study's stale train cells on an executor, with the repository left as
`dvc repro` leaves it.

Only the driver (driver.py) touches DVC and the files: it reproduces the upstream stages, asks DVC
which train stages are stale, sends one job per run (a seed of a stale cell) to an executor
(executors.py: processes on this machine, or Ray), lands each cell whole once its runs are back,
records the landed cells with one `dvc commit`, and runs the report stage. A job (cell_job.py) is a
pure function of a run's resolved config and its cell's dataset, both shipped to the worker:
workers need neither DVC, the repository's data/ nor the MLflow store."""
