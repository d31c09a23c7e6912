"""qbench: an honest benchmark harness for quantum circuit simulators."""

__version__ = "0.1.0"
