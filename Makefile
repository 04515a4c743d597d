# Entry points. `make bench` runs the train, engines and service benchmarks with their defaults
# (long: tens of minutes on a small CPU machine); `make bench-quick` runs them with small settings.
# Both write bench/results/: results.json, results.md, service.png, engines.png, one log per bench;
# `make bench` also rewrites the targets block of README.md's performance section.
PYTHON ?= .venv/bin/python

.PHONY: setup test demo bench bench-quick chaos

setup:
	bash scripts/setup.sh

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

bench:
	$(PYTHON) bench/run_all.py --readme

bench-quick:
	$(PYTHON) bench/run_all.py --quick

# Bounded loopback chaos run (bench/chaos.py): bad inputs, disconnect storms, idle floods,
# oversized jobs, SIGTERM / kill -9 of a replica under a two-replica client; one table of losses.
chaos:
	$(PYTHON) bench/chaos.py
