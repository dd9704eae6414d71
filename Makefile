# runner-supervisor — build, test, check, demo, bench, install.
# `make test` and `make demo` install what they need first (`make deps`, Debian packages).

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PYTHON ?= /usr/bin/python3
PYTEST_ARGS ?=

PKGS := libuv libcurl jansson libseccomp libcap libcrypto
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBCAP_VERSION = $(shell pkg-config --modversion libcap 2>/dev/null)

# Debian packages, by what needs them. `make deps` installs the missing ones, and is a no-op
# when everything is present.
DEPS_BUILD := gcc make pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev \
	libseccomp-dev libcap-dev libssl-dev
DEPS_TEST := libcmocka-dev python3 python3-pytest python3-cryptography python3-yaml tini busybox-static \
	tinyproxy util-linux procps curl git gcc make libcap2-bin sudo python3-pip dpkg-dev
DEPS_CHECK := clang clang-format clang-tidy cppcheck
DEPS_IMAGE := docker.io mmdebstrap podman catatonit
# libFuzzer's runtime is only Recommended by Debian's clang, which --no-install-recommends skips.
DEPS_FUZZ := clang libclang-rt-dev
DEPS := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_CHECK) $(DEPS_IMAGE) $(DEPS_FUZZ)

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith -Wvla \
	-Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2 -fno-strict-overflow
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -DRS_VERSION='"$(VERSION)"' \
	-DRS_LIBCAP_VERSION='"$(LIBCAP_VERSION)"' -Isupervisor -Isandbox
RELEASE_CFLAGS := -O2 -g $(HARDEN)
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -fstack-protector-strong -fPIE
LDHARDEN := -pie -Wl,-z,relro,-z,now -Wl,--as-needed

SRCS := $(wildcard supervisor/*.c sandbox/*.c)
LIB_SRCS := $(filter-out supervisor/main.c,$(SRCS))
HDRS := $(wildcard supervisor/*.h sandbox/*.h)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

OBJS := $(SRCS:%.c=build/obj/%.o)
ASAN_OBJS := $(SRCS:%.c=build/asan/obj/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=build/asan/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)

.PHONY: all asan deps test unit integration check format demo bench install clean image-test \
	manifest-deps manifest-test

all: build/runner-supervisor

build/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

build/runner-supervisor: $(OBJS)
	$(CC) $(LDHARDEN) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

asan: build/asan/runner-supervisor $(UNIT_BINS)

build/asan/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

build/asan/runner-supervisor: $(ASAN_OBJS)
	$(CC) -fsanitize=address,undefined -pie -o $@ $(ASAN_OBJS) $(PKG_LIBS)

build/asan/tests/%: tests/unit/%.c $(ASAN_LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(ASAN_LIB_OBJS) \
		-fsanitize=address,undefined -pie $(PKG_LIBS) $(shell pkg-config --libs cmocka)

deps:
	@missing=""; for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The sandbox's workload test runs node (any nodejs: Debian's or NodeSource's).
	@command -v node >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends nodejs

# The README's test command. Installs, builds (release and ASan+UBSan), runs every test.
test: deps
	$(MAKE) all asan
	$(MAKE) unit integration fleet contract manifest-test image-test fuzz-smoke

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: build/asan/runner-supervisor build/runner-supervisor
	RS_BIN=$(CURDIR)/build/asan/runner-supervisor RS_RELEASE_BIN=$(CURDIR)/build/runner-supervisor \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/fakes $(PYTEST_ARGS)
	@# A separate run: tests/integration makes pytest a child subreaper, and the fakes'
	@# self-tests would leave it orphans that the integration fixtures count as leftovers.
	RS_BIN=$(CURDIR)/build/asan/runner-supervisor RS_RELEASE_BIN=$(CURDIR)/build/runner-supervisor \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

# The fleet simulation (tests/fleet/, issue 16): 20 real supervisors sharing one credential,
# PAT and App, against the fake GitHub with GitHub's documented rate limits. A run of its own:
# it waits GitHub's real minutes (about five in all), each test under its own time limit.
.PHONY: fleet
fleet: build/asan/runner-supervisor
	RS_BIN=$(CURDIR)/build/asan/runner-supervisor \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/fleet $(PYTEST_ARGS)

# kubectl and node are checked by command, not by package: a machine may have them from
# elsewhere (Google's kubectl, NodeSource's nodejs), and Debian's packages would conflict.
manifest-deps:
	@command -v kubectl >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends \
		kubernetes-client
	@{ command -v node && command -v npm; } >/dev/null 2>&1 || apt-get install -y -qq \
		--no-install-recommends nodejs npm

# The runner image built and run with a private dockerd (tests/image/, image/README.md).
# Skipped with the reason when the engine cannot start (not root); RS_IMAGE_TEST_REQUIRED=1
# (as CI sets it) makes that a failure.
image-test: manifest-deps
	$(PYTHON) -m pytest -q -rs -p no:cacheprovider tests/image $(PYTEST_ARGS)

manifest-test: manifest-deps
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/manifests $(PYTEST_ARGS)

# The contract test (tests/contract/): every request the supervisor made to the fake GitHub
# during `make integration` (written down there), checked offline against GitHub's OpenAPI
# descriptions (npm's @octokit/openapi, installed with npm ci into build/contract-node).
integration: export RS_GITHUB_CALL_LOG = $(CURDIR)/build/contract/calls
.PHONY: contract
contract: manifest-deps build/asan/runner-supervisor build/runner-supervisor
	RS_BIN=$(CURDIR)/build/asan/runner-supervisor RS_RELEASE_BIN=$(CURDIR)/build/runner-supervisor \
		RS_GITHUB_CALL_LOG=$(CURDIR)/build/contract/calls \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/contract $(PYTEST_ARGS)

check: deps
	clang-format --dry-run -Werror $(SRCS) $(HDRS) $(UNIT_SRCS) $(FUZZ_SRCS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -D_GNU_SOURCE -Isupervisor -Isandbox \
		--suppress=missingIncludeSystem $(SRCS) $(filter %.c,$(FUZZ_SRCS))
	clang-tidy --quiet $(SRCS) $(filter %.c,$(FUZZ_SRCS)) -- $(BASE_CFLAGS) $(PKG_CFLAGS)
	$(MAKE) clean-clang
	$(MAKE) CC=clang build/clang/runner-supervisor

build/clang/runner-supervisor: $(SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) $(RELEASE_CFLAGS) $(PKG_CFLAGS) $(LDHARDEN) -o $@ $(SRCS) $(PKG_LIBS)

.PHONY: clean-clang
clean-clang:
	rm -rf build/clang

format:
	clang-format -i $(SRCS) $(HDRS) $(UNIT_SRCS) $(FUZZ_SRCS)

demo: deps all
	@$(PYTHON) tests/demo.py

bench: deps all
	$(PYTHON) bench/run.py

install: build/runner-supervisor
	install -D -m 0755 build/runner-supervisor $(DESTDIR)$(PREFIX)/bin/runner-supervisor

clean:
	rm -rf build

# ---- fuzzing (fuzz/README.md) ------------------------------------------------------------
# libFuzzer harnesses, one per parser of outside input, built with clang and ASan+UBSan.
# `make fuzz` builds them into build/fuzz/; `make fuzz-smoke` (part of `make test`) replays each
# committed corpus (fuzz/corpus/TARGET) and fuzzes each target for FUZZ_SMOKE_RUNS inputs;
# `make fuzz-long` fuzzes FUZZ_LONG_TIME seconds per target and writes the figures into
# docs/benchmarks.md. New inputs go to build/fuzz/, never into the committed corpora.
FUZZ_TARGETS := runner_lines jit config http github report log summary
FUZZ_SRCS := $(wildcard fuzz/*.c fuzz/*.h)
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_BINS := $(FUZZ_TARGETS:%=build/fuzz/%)
# A number of inputs, not seconds: with the fixed seed the smoke run then tries the same inputs
# on every machine, so that it cannot pass here and fail in CI by reaching further on a faster
# machine (it found a bug so, once). Finding new bugs is fuzz-long's job.
FUZZ_SMOKE_RUNS ?= 5000
FUZZ_LONG_TIME ?= 180
# Fixed seed: with a fixed number of runs, a smoke run explores the same inputs every time.
FUZZ_RUN_ARGS := -seed=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
fuzz_objs = $(patsubst %,build/fuzz/obj/supervisor/%.o,$(1))

.PHONY: fuzz fuzz-smoke fuzz-long
fuzz: $(FUZZ_BINS)

# Kept, so that a relink does not recompile the harness.
.SECONDARY: $(FUZZ_TARGETS:%=build/fuzz/obj/fuzz/%.o)

build/fuzz/obj/%.o: %.c $(HDRS) $(wildcard fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# Every sanitizer report stops the run: no known bug is tolerated (fuzz/README.md).
FUZZ_ENV := UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# What each harness links: the code under test and what that code calls.
build/fuzz/runner_lines: $(call fuzz_objs,runner_lines relay log err)
build/fuzz/jit: $(call fuzz_objs,jit base64 err)
build/fuzz/config: $(call fuzz_objs,config ghurl err)
build/fuzz/http: $(call fuzz_objs,retry log err)
build/fuzz/github: build/fuzz/obj/fuzz/stub_http.o \
	$(call fuzz_objs,github config ghurl retry log names jwt base64 err)
build/fuzz/report: $(call fuzz_objs,report lifecycle log err)
build/fuzz/log: $(call fuzz_objs,log err)
build/fuzz/summary: $(call fuzz_objs,summary cost err)

build/fuzz/%: build/fuzz/obj/fuzz/%.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz-smoke: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf build/fuzz/smoke/$$t; mkdir -p build/fuzz/smoke/$$t build/fuzz/crashes; \
		echo "== fuzz $$t ($(FUZZ_SMOKE_RUNS) inputs)"; \
		$(FUZZ_ENV) build/fuzz/$$t $(FUZZ_RUN_ARGS) -runs=$(FUZZ_SMOKE_RUNS) \
			-artifact_prefix=build/fuzz/crashes/$$t- \
			$$(test -f fuzz/$$t.dict && echo -dict=fuzz/$$t.dict) \
			build/fuzz/smoke/$$t fuzz/corpus/$$t >build/fuzz/smoke/$$t.log 2>&1 \
			|| { tail -n 60 build/fuzz/smoke/$$t.log; exit 1; }; \
		grep -h '^#[0-9]*.*DONE' build/fuzz/smoke/$$t.log || true; \
	done

fuzz-long: $(FUZZ_BINS)
	$(FUZZ_ENV) $(PYTHON) fuzz/long.py --time $(FUZZ_LONG_TIME) $(FUZZ_TARGETS)
