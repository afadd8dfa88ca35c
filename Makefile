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
# The guests that get a Debian sysroot (x86_64 programs use the host's).
SYSROOT_GUESTS := $(filter-out x86_64,$(GUESTS))
# The demo's guest (aarch64 if built: the cross-architecture case) and
# input size in MiB.
GUEST ?= $(firstword $(filter aarch64,$(GUESTS)) $(GUESTS))
SIZE ?= 64
EXAMPLES := $(MAKE) -f examples/zlib/Makefile QEMU_BUILD=$(QEMU_BUILD) \
	GUESTS="$(GUESTS)"
THUNKS = $(MAKE) -f thunks/Makefile QEMU_BUILD=$(QEMU_BUILD) GUESTS="$(GUESTS)" \
	HOST_SUITES="$(HOST_SUITES)"

.PHONY: all demo deps fetch prepare build build-noplugins sysroot bin \
	check check-tcg check-noplugins check-series check-each check-examples \
	check-programs check-system check-thunks thunks versions drift bench \
	refresh series install bundle clean

# The steps share build/; each sub-make runs its own jobs in parallel.
.NOTPARALLEL:

all: demo

# The demo: Debian's unmodified pigz for GUEST compressing SIZE MiB
# emulated, with thunks and natively.
demo: build bin thunks
	@programs/demo.sh $(GUEST) $(SIZE)

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

# Debian's programs for the guests, from its archive (see tooling/sysroot),
# and Debian trixie's host builds of the thunked libraries, which the
# riscv64 (trixie) guests' drop-ins need to run on the host.
HOST_SUITES := $(if $(filter riscv64,$(GUESTS)),trixie)
sysroot: deps
	@$(if $(SYSROOT_GUESTS),tooling/sysroot $(SYSROOT_GUESTS) \
		$(HOST_SUITES:%=host-%),true)

# build/bin/dlcall-run with this build's paths, and the input generator.
bin: build/programs/textgen
	@mkdir -p build/bin
	@sed -e 's|@BUILD@|$(abspath build)|' \
		-e 's|@QEMU_BUILD@|$(abspath $(QEMU_BUILD))|' \
		tooling/dlcall-run >build/bin/dlcall-run.tmp
	@chmod +x build/bin/dlcall-run.tmp
	@mv build/bin/dlcall-run.tmp build/bin/dlcall-run

# A relocatable bundle of the emulators, the plugin, the drop-ins and
# the host libraries they need: in PREFIX (make install PREFIX=DIR), and
# one for root filesystems, where dlcall-run --rootfs mounts it at
# /.dlcall (make bundle).  See tooling/install.
install: build bin thunks
	@[ -n "$(PREFIX)" ] || { echo "make install PREFIX=/absolute/folder" >&2; exit 2; }
	@GUESTS="$(GUESTS)" tooling/install $(PREFIX)

bundle: build bin thunks
	@GUESTS="$(GUESTS)" tooling/install /.dlcall build/rootfs-bundle

build/programs/textgen: programs/textgen.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -Werror $< -o $@

# The versions of QEMU's source and of the packages the tests use, as
# Debian's archive served them; kept in build/versions.txt.
versions: fetch sysroot
	@tooling/versions

# What the archive changed since the sysroots were made, and whether
# the tests' programs still build with -Werror against its headers:
# see tooling/drift.  Not part of check: it fetches package lists.
drift: deps sysroot
	@tooling/drift

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
thunks: sysroot
	@$(THUNKS) all

check-thunks: build sysroot
	@$(THUNKS) check

# Debian's unmodified programs under dlcall-run against the host's tools.
check-programs: build bin sysroot thunks
	@$(if $(SYSROOT_GUESTS),QEMU_BUILD=$(QEMU_BUILD) programs/check.sh \
		$(SYSROOT_GUESTS),echo "check-programs: no guest with a sysroot")

# Whole systems: a Debian root filesystem per guest (kept in build/rootfs),
# apt-get and dpkg inside it.  See programs/system.sh.
check-system: bundle sysroot
	@$(if $(SYSROOT_GUESTS),programs/system.sh $(SYSROOT_GUESTS),\
		echo "check-system: no guest with a sysroot")

check: versions check-series check-tcg check-noplugins check-examples \
	check-thunks check-programs check-system
	@echo "check: all passed"

# Benchmarks: a table in build/bench/results.md and a chart beside it.
# SIZE (zlib MiB), RUNS, ZLIB_RUNS and COUNT tune them; see bench/run.sh.
# They compare the series with QEMU as released and with the series up
# to the patch named by FASTPATH_PATCH, without the fast path for
# filtered system calls (bench/fastpath.sh).
FASTPATH_PATCH := accel-tcg-pause-in-helper
guest_list := $(subst $(space),$(comma),$(GUESTS:%=%-linux-user))

bench: build bin thunks bundle
	@SRC=build/pristine tooling/build qemu-pristine \
		--target-list=$(guest_list) --enable-plugins --disable-docs
	@tooling/worktree qemu-nofast $(FASTPATH_PATCH)
	@SRC=build/qemu-nofast tooling/build qemu-nofast-build \
		--target-list=$(guest_list) --enable-plugins --disable-docs
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
