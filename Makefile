# deltaprop: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime install (the package and its dependencies) for `make demo`, without byte-compiling
# every installed file (21 of the install's 37 s; the demo's one run compiles what it
# imports, 6 s, or writes it where PYTHONDONTWRITEBYTECODE is unset).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --no-compile -e .
	@touch $@

# Test install: the package with the test, ONNX and MPI extras (torch==2.13.0 CPU).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[test,mpi]"
	@# the tests start many processes: where `make demo` installed first, compile its files now
	@if [ -e $(VENV)/.installed ]; then $(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true; fi
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/deltaprop demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy src

# The whole suite, then the engine's tests again with the compiled kernels switched off
# (the Python loop, as on a Python that numba does not support yet), less the files that
# test the kernels themselves against their NumPy forms (the switch leaves them as they are).
# First the training loop of each dtype into numba's cache, the two at once (tests/compile_kernels.py):
# else both workers, and the subprocesses that tests start meanwhile, compile the same loops.
# Work stealing: a worker that runs out takes the other's queued tests (the whole suite
# 488 s against 516 s with xdist's default split, on this 2-core machine, one run each).
pytest: $(VENV)/.installed-test
	$(BIN)/python tests/compile_kernels.py float32 & pid=$$!; $(BIN)/python tests/compile_kernels.py float64 && wait $$pid
	$(BIN)/python -m pytest -W error -n 2 --dist worksteal -q
	DELTAPROP_FUSED=0 $(BIN)/python -m pytest -W error -n 2 --dist worksteal -q -p no:cacheprovider tests/core tests/optim tests/train \
	  $(foreach f,kernels kernels_losses vectormath vectormath_gelu jit,--ignore=tests/core/test_$(f).py)

test: lint typecheck pytest

# The peers race (docs/benchmarks.md): the configuration matrix (deltaprop's estimator and
# Trainer, scikit-learn, PyTorch eager, JAX jit and lax.scan; BENCH_ARGS="--rows gelu
# --rounds 7" narrows it), the first-fit compile times (a row failing "loads in under a
# second" is reported, and the bench goes on), then the cases with plain NumPy and memory.
bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install -q -e ".[bench]" || true
	mkdir -p runs/bench
	$(BIN)/python -m compileall -q src  # the new processes load bytecode, as an installed package does
	$(BIN)/python bench/matrix.py --json runs/bench/matrix.json $(BENCH_ARGS)
	-$(BIN)/python bench/compile_time.py --json runs/bench/compile.json
	$(BIN)/python bench/run.py --json runs/bench/cases.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
