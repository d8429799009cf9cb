"""The study's steps, one module each, the one sequencer of them in sequence.py.

A step is a plain function over files under a study root, the files dvc.yaml names for its stage.
DVC runs each as a stage (stages/<step>.py parses the stage's arguments and calls it); `rnnbench
study` runs them in order in one process (sequence.run_study). One module per step, because a
stage's code dependencies in dvc.yaml are its script's import closure (tests/test_layout.py): a
train stage must not depend on the report's code. This file imports nothing, for the same reason.
"""
