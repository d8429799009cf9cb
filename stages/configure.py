"""DVC stage: params.yaml, parsed once -> every cell's resolved run configs,
configs/<task>-<length>/<model>.json, every search's plan, configs/search/<task>/<model>.json,
the speed benchmark's configs/speed.json, and configs/execution.json (rnnbench.steps.configure.configure).

A train stage depends on its cell's file rather than on the params sections that make it up: DVC
reruns the cell exactly when its configs change, and its dvc.lock entry is one file hash instead of
every params value (DVC rewrites the whole lock after each stage, so entry length is time).
"""
from rnnbench.process_exit import stage_main
from rnnbench.steps.configure import configure
from rnnbench.study import load_study

if __name__ == "__main__":
    stage_main(lambda: configure(load_study("params.yaml")))
