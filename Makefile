# Entry points; see README.md. Everything runs from the project's own virtualenv (.venv).
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(CURDIR)/tools/bin:$(PATH)

NAME ?= hot-partition
PLANE ?= redis
ARGS ?=

.PHONY: setup test test-unit lint scenario bench capacity quality clean doctor

setup:            ## venv + project, redis-server, iptables, toxiproxy-server; prints what it found
	bash scripts/setup.sh

test:             ## the whole test suite (live tests start their own servers)
	$(PY) -m pytest -q

test-unit:        ## only the tests that need no server
	$(PY) -m pytest -q -m "not live"

lint:             ## ruff + mypy
	$(VENV)/bin/ruff check harness tests
	$(VENV)/bin/mypy

scenario:         ## run one scenario: make scenario NAME=hot-partition [ARGS="--seed 7"]
	$(VENV)/bin/harness scenario $(NAME) $(ARGS)

bench:            ## throughput and bring-up benchmarks -> reports/bench/*.json
	$(PY) -m harness.bench $(ARGS)

capacity:         ## knee search, per-event figures, sizing -> reports/capacity/<run-id>/: make capacity [PLANE=redis] [ARGS="--max-rate 30000"]
	$(VENV)/bin/harness capacity --plane $(PLANE) $(ARGS)

quality:          ## detection matrix counted: reports/quality/matrix.{json,md} [ARGS="--clean 1000 --mutated 200"]
	$(PY) -m tests.quality.matrix_report --out reports/quality $(ARGS)

clean:            ## reap anything a crashed run left behind
	$(VENV)/bin/harness clean

doctor:
	$(PY) -m harness.doctor
