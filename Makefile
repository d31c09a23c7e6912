# Two commands do all the set-up on a fresh machine:  make run  |  make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SWEEP ?= -m backend=cirq,qiskit-aer,qsim,pennylane,stim circuit=ghz n_qubits=4,8,12 hydra/launcher=joblib

.PHONY: install run test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install  ## a small real sweep: five CPU backends, GHZ, 4/8/12 qubits
	$(PY) -m qbench $(SWEEP)

test: install  ## the whole test suite (real simulators, real sweeps)
	$(PY) -m pytest

clean:
	rm -rf outputs multirun .pytest_cache
