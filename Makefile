# dlcall for QEMU: build the patched QEMU, test it, run the demo.
# See README.md.  Everything generated goes to build/.

# The QEMU release the series applies to: Debian's source package of it
# is fetched with apt.  QEMU_SRC=/path uses a local source tree instead.
# (Not QEMU_VERSION: qemu-user reads that from the environment.)
QEMU_RELEASE ?= 10.2.2
# The linux-user targets to build and test.
TARGETS ?= x86_64 aarch64 riscv64 i386 arm

export QEMU_RELEASE QEMU_SRC

comma := ,
empty :=
space := $(empty) $(empty)
target_list := $(subst $(space),$(comma),$(TARGETS:%=%-linux-user))

JOBS ?= $(shell nproc)

QEMU_BUILD := build/qemu-build
NOPLUGINS_BUILD := build/qemu-noplugins

# The guests dlcall serves, among the targets built.
GUESTS := $(filter x86_64 aarch64 riscv64 ppc64le,$(TARGETS))
# The demo's guest (aarch64 if built: the cross-architecture case) and
# input size in MiB.
GUEST ?= $(firstword $(filter aarch64,$(GUESTS)) $(GUESTS))
SIZE ?= 64
EXAMPLES := $(MAKE) -f examples/zlib/Makefile QEMU_BUILD=$(QEMU_BUILD) \
	GUESTS="$(GUESTS)"
THUNKS := $(MAKE) -f thunks/Makefile QEMU_BUILD=$(QEMU_BUILD) GUESTS="$(GUESTS)"

.PHONY: all demo deps fetch prepare build build-noplugins check check-tcg \
	check-noplugins check-series check-each check-examples check-thunks \
	thunks bench refresh series clean

# The steps share build/; each sub-make runs its own jobs in parallel.
.NOTPARALLEL:

all: demo

# The zlib demo: an aarch64 guest compressing with its own zlib under
# emulation, then with the host's zlib through dlcall, against native.
demo: build
	@$(EXAMPLES) demo GUEST=$(GUEST) SIZE=$(SIZE)

deps:
	@tooling/setup

fetch: deps
	@tooling/fetch

prepare: fetch
	@tooling/prepare

build: prepare
	@tooling/build qemu-build --target-list=$(target_list) \
		--enable-plugins --enable-docs \
		--cross-prefix-ppc64le=powerpc64le-linux-gnu-

build-noplugins: prepare
	@tooling/build qemu-noplugins --target-list=x86_64-linux-user \
		--disable-plugins --disable-docs

# The whole check-tcg.  GITLAB_CI skips vma-pthread, as upstream's CI
# does: it is known to fail now and then on loaded machines.
check-tcg: build
	$(MAKE) -C $(QEMU_BUILD) -j$(JOBS) check-tcg GITLAB_CI=1

check-noplugins: build-noplugins
	$(MAKE) -C $(NOPLUGINS_BUILD) -j$(JOBS) check-tcg GITLAB_CI=1

check-series: build
	@tooling/export

# Not part of check (it takes about ten minutes): each patch builds alone.
check-each: prepare
	@tooling/check-each

check-examples: build
	@$(EXAMPLES) check

# The drop-in libraries (thunks/): build/thunks/<guest>/lib, build/thunks/host.
thunks:
	@$(THUNKS) all

check-thunks: build
	@$(THUNKS) check

check: check-series check-tcg check-noplugins check-examples check-thunks
	@echo "check: all passed"

# Benchmarks: a table in build/bench/results.md and a chart beside it.
# SIZE (zlib MiB), RUNS, ZLIB_RUNS and COUNT tune them; see bench/run.sh.
bench: build
	@SRC=build/pristine tooling/build qemu-pristine \
		--target-list=x86_64-linux-user --enable-plugins --disable-docs
	@$(EXAMPLES) all
	@$(THUNKS) bench
	@$(MAKE) -f bench/Makefile QEMU_BUILD=$(QEMU_BUILD) GUESTS="$(GUESTS)" \
		SIZE=$(SIZE)

# Turn edits made in build/qemu back into patches/ (PATCH=name to pick one).
refresh:
	@tooling/refresh

# Mail-ready patches in build/series, checked with checkpatch.pl.
series: check-series

clean:
	rm -rf build
