# Entry points; see README.md. Everything runs from the project's own virtualenv (.venv).
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(CURDIR)/tools/bin:$(PATH)

NAME ?= hot-partition
SUITE ?= all
ARGS ?=

.PHONY: setup test test-unit lint scenario nightly bench quality clean doctor

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

nightly:          ## every scenario of a suite, one summary: make nightly [SUITE=smoke] [ARGS="--duration 5"]
	$(VENV)/bin/harness nightly --suite $(SUITE) $(ARGS)

bench:            ## throughput and bring-up benchmarks -> reports/bench/*.json
	$(PY) -m harness.bench $(ARGS)

quality:          ## detection matrix counted: reports/quality/matrix.{json,md} [ARGS="--clean 1000 --mutated 200"]
	$(PY) -m tests.quality.matrix_report --out reports/quality $(ARGS)

clean:            ## reap anything a crashed run left behind
	$(VENV)/bin/harness clean

doctor:
	$(PY) -m harness.doctor
