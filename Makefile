# Leasegate: the two commands of the README, and a few for developers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run test setup lint supply-chain image sqlx-prepare release bench bench-load bench-graph bench-people bench-pages bench-governance bench-replicas

help:
	@echo "make run    - run the portal with its demo (PostgreSQL, identity provider) on http://127.0.0.1:3000"
	@echo "make test   - run all tests (unit, database, OIDC, session, browser)"
	@echo "make lint   - rustfmt check and clippy for the server and wasm builds"
	@echo "make supply-chain - cargo deny (licences, bans, sources, advisories) and the CycloneDX SBOM"
	@echo "make setup  - install the toolchain pieces only"
	@echo "make release - optimised build for deployment"
	@echo "make image  - the OCI image (release build, no base image pulled) and its smoke test (docs/deployment.md)"
	@echo "make bench  - removal lag and burst clearing against a real directory (docs/benchmarks.md)"
	@echo "make bench-load - 200 signed-in people over HTTP, healthy and slow directory (docs/benchmarks.md)"
	@echo "make bench-graph - Entra group leases through the Graph simulator, 80 ms per call, Microsoft's throttling (docs/benchmarks.md)"
	@echo "make bench-people - people sync passes for 10,000 people through the Graph simulator (docs/benchmarks.md)"
	@echo "make bench-replicas - 3 replicas behind HAProxy, one killed every 30 s, PostgreSQL restarted: nothing lost (docs/benchmarks.md)"
	@echo "make bench-governance - who-held-what questions over 1,000,000 grants and 10,000,000 events (docs/benchmarks.md)"

run:
	@bash .ci/demo.sh

test:
	@bash .ci/test.sh

setup:
	@bash .ci/setup.sh

lint:
	@bash .ci/lint.sh

# Licences, banned crates, sources and RustSec advisories (cargo deny), and the SBOM.
supply-chain:
	@bash .ci/supply-chain.sh

# Regenerates the compile-time query data in .sqlx/ from a live database.
sqlx-prepare:
	@bash .ci/sqlx-prepare.sh

# An optimised build (server binary and size-optimised WebAssembly) for deployment.
release:
	@bash .ci/setup.sh && PATH="$(CURDIR)/end2end/node_modules/.bin:$$PATH" cargo leptos build --release --split

# The OCI image in target/image, assembled from the release build and Debian's files, smoke-tested.
image:
	@bash .ci/setup.sh && bash .ci/image.sh

# Removal lag and burst clearing against a real directory and PostgreSQL.
bench:
	@bash .ci/bench.sh

# 200 signed-in people over HTTP against the release build, a real directory and PostgreSQL.
bench-load:
	@bash .ci/bench.sh load

# Entra group leases through the Graph simulator: 80 ms per call, Microsoft's throttling budgets.
bench-graph:
	@bash .ci/bench.sh graph

# Page weight and time to hydrated per page, release build, Chromium with a cold cache.
bench-pages:
	@bash .ci/bench.sh pages

# People sync passes for a 10,000-person tenant through the Graph simulator.
bench-people:
	@bash .ci/bench.sh people

# Who held what, at any moment, over 1,000,000 grants and 10,000,000 audit events.
bench-governance:
	@bash .ci/bench.sh governance

# Three replicas behind HAProxy, one SIGKILLed every 30 s, PostgreSQL restarted once.
bench-replicas:
	@bash .ci/bench.sh replicas
