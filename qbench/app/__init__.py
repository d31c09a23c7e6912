"""The Hydra application: the task function (one point), the callbacks (a run or multirun
ended), and the one module allowed to touch Hydra's internals (hydra_internals.py)."""
