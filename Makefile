# rnn-serve: `make serve` starts the service on the shipped models, `make test` runs the suite.
# Both install what they need into .venv first, and only when pyproject.toml has changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

IMAGE  ?= rnn-serve:cpu
VARIANT ?= cpu

.PHONY: install install-runtime lock serve test integration soak ray wheel browser screenshots docs bench-ray bench-forecast lint train bench bench-smoke profile kserve wrk docker-build docker-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Every install takes its versions from the lock (requirements/lock.txt, all extras resolved
# together); `make lock` upgrades it. The serving path needs no torch: `make serve` installs the
# runtime only, with what exports traces when the OTEL_* variables ask (the otel extra).
LOCK    := requirements/lock.txt
INSTALL := $(BIN)/python -m pip install -q -c $(LOCK)

$(VENV)/.runtime: pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) -e '.[otel]'
	touch $@

$(VENV)/.dev: pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) -e '.[train,dev]'
	touch $@ $(VENV)/.runtime

# Resolves every extra anew at its newest versions into the lock, for Linux x86-64 and Python
# 3.11 (CI's and the image's); torch's pin drops the +cpu of the CPU build found beside PyPI,
# so that the same line installs elsewhere.
lock: | $(BIN)/python
	$(BIN)/python -m pip install -q uv
	$(if $(PIP_FIND_LINKS),UV_FIND_LINKS=$(PIP_FIND_LINKS)) $(BIN)/uv pip compile pyproject.toml \
		--all-extras --upgrade --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--custom-compile-command "make lock" -q -o $(LOCK)
	sed -i 's/^torch==\([0-9.]*\)+cpu/torch==\1/' $(LOCK)

install-runtime: $(VENV)/.runtime
install: $(VENV)/.dev

serve: $(VENV)/.runtime
	$(BIN)/rnn-serve serve --host $(HOST) --port $(PORT)

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The slow ones: Redis Cluster and Sentinel failovers (.ci/run runs them after make test).
integration: $(VENV)/.dev
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

# Five minutes of locust against a real server: the slope of its resident memory.
SOAK_S ?= 300
soak: $(VENV)/.dev
	SOAK_S=$(SOAK_S) $(BIN)/python -m pytest -s tests/live/test_soak.py $(PYTEST_ARGS)

# The built wheel installed into a fresh virtual environment, serving from another directory.
wheel: $(VENV)/.dev
	$(BIN)/python -m pytest -m wheel tests/live/test_wheel.py $(PYTEST_ARGS)

# /docs and /redoc in Chromium (apt-get install chromium), driven by Playwright, which stays out
# of make install (its driver is 170 MB); `make screenshots` refreshes docs/images.
$(VENV)/.browser: $(VENV)/.dev
	$(INSTALL) -e '.[browser]'
	touch $@

browser: $(VENV)/.browser
	$(BIN)/python -m pytest -m browser tests/live/browser $(PYTEST_ARGS)

screenshots: $(VENV)/.browser
	SCREENSHOTS=docs/images $(BIN)/python -m pytest -m browser tests/live/browser $(PYTEST_ARGS)

# The documentation site, strictly (a broken link or anchor fails), into build/site; the pages
# written from the code and the README first (scripts/docs_pages.py).
$(VENV)/.docs: $(VENV)/.dev
	$(INSTALL) -e '.[docs]'
	touch $@

docs: $(VENV)/.docs
	$(BIN)/python scripts/docs_pages.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Ray Serve on a local Ray cluster (deploy/ray/), in a virtual environment of its own: Ray pins
# versions of its own, and the suite never needs it (.ci/run runs this after make test).
RAY_VENV := .venv-ray
$(RAY_VENV)/.ready: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/python -m pip install -q --upgrade pip
	$(RAY_VENV)/bin/python -m pip install -q -c $(LOCK) -e '.[ray]' pytest httpx
	touch $@

ray: $(RAY_VENV)/.ready
	$(RAY_VENV)/bin/python -m pytest -m ray tests/live/test_deploy_ray.py $(PYTEST_ARGS)

# KServe's own clients (REST v2 and gRPC) against a real server, in a virtual environment of
# their own: KServe's SDK pins versions the lock does not share (psutil < 6).
KSERVE_VENV := .venv-kserve
$(KSERVE_VENV)/.ready: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install -q --upgrade pip
	$(KSERVE_VENV)/bin/python -m pip install -q -e . kserve==0.21.0 pytest httpx
	touch $@

kserve: $(KSERVE_VENV)/.ready
	$(KSERVE_VENV)/bin/python -m pytest -m kserve tests/live/test_kserve_clients.py $(PYTEST_ARGS)

# Forecast quality against statsforecast and neuralforecast (bench/forecast.py), in a virtual
# environment of its own: neuralforecast brings Lightning and Ray. Writes docs/forecasting.md.
FORECAST_VENV := .venv-forecast
$(FORECAST_VENV)/.ready: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(FORECAST_VENV)
	$(FORECAST_VENV)/bin/python -m pip install -q --upgrade pip
	$(FORECAST_VENV)/bin/python -m pip install -q -c $(LOCK) -e '.[train]' httpx matplotlib \
	  statsforecast==2.0.1 neuralforecast==3.3.0
	touch $@

bench-forecast: $(FORECAST_VENV)/.ready
	$(FORECAST_VENV)/bin/python -m bench.forecast $(BENCH_ARGS)

# The server alone against the same app under Ray Serve, on one core each: docs/benchmarks-ray.md.
bench-ray: $(RAY_VENV)/.ready wrk
	$(RAY_VENV)/bin/python -m bench.ray_serve

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Rebuilds model/artifacts/* and docs/co2-forecast.png, byte for byte: the seed's demo model,
# and the co2 forecaster through `rnn-serve train` (about CO2_BUDGET seconds on 2 cores).
CO2_BUDGET ?= 540
train: $(VENV)/.dev
	$(BIN)/python -m rnn_serve.model.build
	$(BIN)/python -m rnn_serve.model.series.datasets co2 build/co2.csv
	$(BIN)/rnn-serve train build/co2.csv --name co2 --value-column co2 --time-column date \
		--horizon 26 --budget-s $(CO2_BUDGET) --out model/artifacts --plot docs/co2-forecast.png

# Server pinned to core 0, wrk to core 1; writes docs/benchmarks.md and .png (about 5 minutes),
# docs/benchmarks-grpc.md (gRPC beside REST),
# and with CUDA present docs/benchmarks-gpu.md (bench/gpu.py; without CUDA it writes nothing).
bench: $(VENV)/.dev wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.grpc
	$(BIN)/python -m bench.sequences
	$(BIN)/python -m bench.gpu

# Where a small request's server time goes, against the floor, sampled by py-spy: docs/profile.md.
profile: $(VENV)/.dev wrk
	$(BIN)/python -m bench.profile

# A few one-second cases, to show that the benchmark works (CI runs this).
bench-smoke: $(VENV)/.dev wrk
	$(BIN)/python -m bench.run --smoke
	$(BIN)/python -m bench.grpc --smoke
	$(BIN)/python -m bench.sequences --smoke
	$(BIN)/python -m bench.gpu --smoke
	$(BIN)/python -m bench.in_app --requests 50 --rounds 2

wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

# Needs a Docker engine; here, scripts/engine.sh up starts a loopback-only one.
docker-build:
	docker build --network host --build-arg VARIANT=$(VARIANT) -t $(IMAGE) .

docker-test:
	IMAGE=$(IMAGE) bash scripts/docker-test.sh

clean:
	rm -rf $(VENV) $(RAY_VENV) $(KSERVE_VENV) .pytest_cache .mypy_cache .ruff_cache
