"""The top layer: `qbench` / `python -m qbench`, its subcommands and the pre-flight check.

main.py dispatches; launch.py runs a Hydra launch after preflight.py has composed and
validated every point; each subcommand is a module of its own (plan, ask, backends_table,
rerun, summarize, ui). Nothing below this layer imports it.
"""
