"""The critical-length search: per task x model, which lengths to train (rule.py, no torch) and the
runs that answer it (runner.py, with the training core). Its runs are ordinary run folders."""
