"""DVC stage: generate every point's dataset -> data/<task>-<length>/ (rnnbench.steps.generate.generate).

One stage for all of them: generation takes well under a second, while each extra DVC stage costs
a rewrite of dvc.lock. Every (task, length) has its own seeded stream, so a dataset's bytes do not
depend on which others are generated beside it.
"""
from rnnbench.process_exit import stage_main
from rnnbench.steps.generate import generate
from rnnbench.study import load_study

if __name__ == "__main__":
    stage_main(lambda: generate(load_study("params.yaml")))
