"""One adapter module per backend, all behind `qbench.backends.base.Backend`."""
