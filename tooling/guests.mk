# C compilers for the guests dlcall serves, for the example and the
# benchmarks (QEMU's own tests find theirs through configure).
CC_x86_64 := gcc
CC_aarch64 := aarch64-linux-gnu-gcc
CC_riscv64 := riscv64-linux-gnu-gcc
CC_ppc64le := powerpc64le-linux-gnu-gcc
