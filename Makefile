# troika's front door. On a fresh Debian 12 machine, `make demo` and `make test` do all set-up.
#   make         check dependencies, release build (build/release)
#   make test    install missing dependencies, debug build with ASan+UBSan, run ctest
#   make tsan    debug build with ThreadSanitizer, run ctest (CI runs it too)
#   make demo    install missing dependencies, release build, run `troika demo`
#   make bench   release build, run troika's benchmarks (bench/actors/run adds the peers)
#   make chaos-smoke  release build, three short chaos scenarios and 200 sim seeds (root)
#   make fuzz    clang build with libFuzzer+ASan+UBSan, run each fuzz target FUZZ_SECONDS
#   make format  reformat the sources with clang-format; make format-check only checks
# CI=true (set by CI) adds -Werror.

RELEASE_DIR := build/release
DEBUG_DIR   := build/debug
TSAN_DIR    := build/tsan
FUZZ_DIR    := build/fuzz
FUZZ_SECONDS ?= 30
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
WERROR      := $(if $(filter true 1,$(CI)),-DTK_WERROR=ON,-DTK_WERROR=OFF)
SOURCES      = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

.PHONY: all release test tsan demo chaos-smoke bench bench-build fuzz deps deps-check format format-check clean

all: release

deps:
	@deploy/install-deps.sh

deps-check:
	@deploy/install-deps.sh --check

release: deps-check
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release $(WERROR)
	cmake --build $(RELEASE_DIR) -j $(JOBS)

test: deps
	cmake -S . -B $(DEBUG_DIR) -DCMAKE_BUILD_TYPE=Debug -DTK_SANITIZE=address,undefined $(WERROR)
	cmake --build $(DEBUG_DIR) -j $(JOBS)
	cd $(DEBUG_DIR) && ctest --output-on-failure -j $(JOBS)

tsan: deps
	cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DTK_SANITIZE=thread \
		-DTK_BUILD_BENCH=OFF $(WERROR)
	cmake --build $(TSAN_DIR) -j $(JOBS)
	cd $(TSAN_DIR) && ctest --output-on-failure -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory release
	$(RELEASE_DIR)/app/troika demo --out build/demo

# The chaos harness's smoke (docs/chaos.md): a few real-process scenarios on namespaces, each
# checked by its invariants, and 200 seeds of the deterministic tier. Campaigns: docs/chaos.md.
CHAOS_DIR := build/chaos-smoke
chaos-smoke: deps
	@$(MAKE) --no-print-directory release
	rm -rf $(CHAOS_DIR) && mkdir -p $(CHAOS_DIR)
	$(RELEASE_DIR)/app/troika chaos run --scenario mixed --seed 1 --duration 30 --out $(CHAOS_DIR)/mixed-1
	$(RELEASE_DIR)/app/troika chaos run --scenario kill-leader --seed 2 --duration 20 --out $(CHAOS_DIR)/kill-leader-2
	$(RELEASE_DIR)/app/troika chaos run --scenario partition-leader --seed 3 --duration 20 --out $(CHAOS_DIR)/partition-leader-3
	$(RELEASE_DIR)/app/troika chaos sim --seeds 1..200 --jobs $(JOBS) --quiet

bench-build: release

bench: bench-build
	$(RELEASE_DIR)/bench/bench_base
	$(RELEASE_DIR)/bench/actors/bench_actors --threads 1
	$(RELEASE_DIR)/bench/actors/bench_actors --threads 2
	$(RELEASE_DIR)/bench/ledger/bench_ledger
	bench/backtest/run
	bench/cluster/run --build $(RELEASE_DIR)
	$(RELEASE_DIR)/bench/trading/bench_bar_order

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DTK_FUZZ=ON \
		-DTK_SANITIZE=address,undefined -DTK_BUILD_TESTS=OFF -DTK_BUILD_BENCH=OFF $(WERROR)
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	@set -e; for target in $(FUZZ_DIR)/tests/fuzz/fuzz_*; do \
		name=$$(basename $$target); corpus=tests/fuzz/corpus/$${name#fuzz_}; \
		work=$(FUZZ_DIR)/corpus/$${name#fuzz_}; mkdir -p $$work; \
		echo "== $$name for $(FUZZ_SECONDS) s"; \
		$$target -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work $$corpus; \
	done

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

clean:
	rm -rf build
