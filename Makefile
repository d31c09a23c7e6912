# Two commands do all the set-up on a fresh machine:  make run  |  make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SWEEP ?= -m backend=cirq,qiskit-aer,qsim,pennylane,stim circuit=ghz n_qubits=4,8,12 hydra/launcher=joblib

QUEST_VENV ?= .venv-quest

.PHONY: install quest-env run test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# QuEST (PyPI pyquest 0.0.1, QuEST v3) imports only with numpy<2, which cirq forbids: its own
# interpreter, driven by the `quest` backend through a pipe (README "QuEST and LRET").
$(QUEST_VENV)/.installed:
	$(PYTHON) -m venv $(QUEST_VENV)
	$(QUEST_VENV)/bin/python -m pip install -q pyquest==0.0.1 numpy==1.26.4
	$(QUEST_VENV)/bin/python -c "import pyquest; assert pyquest.precision == 2, pyquest.env"
	touch $@

quest-env: $(QUEST_VENV)/.installed

run: install  ## a small real sweep: five CPU backends, GHZ, 4/8/12 qubits
	$(PY) -m qbench $(SWEEP)

test: install quest-env  ## the whole test suite (real simulators, real sweeps)
	$(PY) -m pytest

clean:
	rm -rf outputs multirun .pytest_cache
