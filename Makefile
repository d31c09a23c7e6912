# Two commands do all the set-up on a fresh machine:  make run  |  make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SWEEP ?= -m backend=cirq,qiskit-aer,qsim,pennylane,stim circuit=ghz n_qubits=4,8,12 hydra/launcher=joblib

QUEST_VENV ?= .venv-quest
# QuEST 4 (`backend=quest`) from your own checkout of github.com/QuEST-Kit/QuEST: `make quest4 QUEST_SRC=DIR`.
QUEST_SRC ?=
QUEST_PRECISION ?= 2
QUEST_BUILD ?= backends/quest/build
QUEST_CMAKE_FLAGS ?=

.PHONY: install quest-env quest4 run test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# QuEST v3 (PyPI pyquest 0.0.1) imports only with numpy<2, which cirq forbids: its own
# interpreter, driven by the `quest-v3` backend through a pipe (README "QuEST and LRET").
$(QUEST_VENV)/.installed:
	$(PYTHON) -m venv $(QUEST_VENV)
	$(QUEST_VENV)/bin/python -m pip install -q pyquest==0.0.1 numpy==1.26.4
	$(QUEST_VENV)/bin/python -c "import pyquest; assert pyquest.precision == 2, pyquest.env"
	touch $@

quest-env: $(QUEST_VENV)/.installed

# QuEST 4, offline, from QUEST_SRC: FLOAT_PRECISION 2 (double) or 1 (single), OpenMP; the `quest` backend
# finds $(QUEST_BUILD)/libQuEST.so from the cwd (README "QuEST and LRET"). qbench ships no QuEST code.
quest4:
	@test -n "$(QUEST_SRC)" || { echo "make quest4: set QUEST_SRC=DIR, a checkout of https://github.com/QuEST-Kit/QuEST" >&2; exit 2; }
	cmake -S $(QUEST_SRC) -B $(QUEST_BUILD) -DCMAKE_BUILD_TYPE=Release -DFLOAT_PRECISION=$(QUEST_PRECISION) \
		-DENABLE_MULTITHREADING=ON -DBUILD_SHARED_LIBS=ON $(QUEST_CMAKE_FLAGS)
	cmake --build $(QUEST_BUILD) --target QuEST -j

run: install  ## a small real sweep: five CPU backends, GHZ, 4/8/12 qubits
	$(PY) -m qbench $(SWEEP)

test: install quest-env  ## the whole test suite (real simulators, real sweeps)
	$(PY) -m pytest

clean:
	rm -rf outputs multirun .pytest_cache
