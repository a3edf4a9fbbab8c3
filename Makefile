# Entry points; see README.md. Everything runs from the project's own virtualenv (.venv).
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(CURDIR)/tools/bin:$(PATH)

NAME ?= hot-partition
BACKEND ?= local
TOPOLOGY ?= redis-replicated
SUITE ?= all
PLANE ?= redis
ARGS ?=

.PHONY: setup test test-docker test-unit lint scenario rehearse nightly bench capacity quality clean doctor

setup:            ## venv + project, redis-server, iptables, toxiproxy-server; prints what it found
	bash scripts/setup.sh

test:             ## the whole test suite (live tests start their own servers) [BACKEND=docker]
	$(PY) -m pytest -q --backend $(BACKEND)

# The fault library, cluster, replication, lifecycle and a scenario's live tests again, on containers.
DOCKER_LIVE := tests/live/test_faults.py tests/live/test_redis_cluster.py tests/live/test_lifecycle.py \
               tests/live/test_replication_link.py tests/live/test_hot_partition.py
test-docker:      ## those live tests on the docker backend (the whole suite: make test BACKEND=docker)
	$(PY) -m pytest -q -m live --backend docker $(DOCKER_LIVE)

test-unit:        ## only the tests that need no server
	$(PY) -m pytest -q -m "not live"

lint:             ## ruff + mypy
	$(VENV)/bin/ruff check harness tests
	$(VENV)/bin/mypy

scenario:         ## run one scenario: make scenario NAME=hot-partition [ARGS="--seed 7"]
	$(VENV)/bin/harness scenario $(NAME) $(ARGS)

rehearse:         ## incident rehearsal: make rehearse TOPOLOGY=redis-replicated [ARGS="--script rehearsals/replica-partition.yaml"]
	$(VENV)/bin/harness rehearse $(TOPOLOGY) $(ARGS)

nightly:          ## every scenario of a suite, one summary: make nightly [SUITE=smoke] [ARGS="--duration 5"]
	$(VENV)/bin/harness nightly --suite $(SUITE) $(ARGS)

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
