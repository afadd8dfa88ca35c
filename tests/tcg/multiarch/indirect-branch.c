/*
 * Indirect branches whose target TB was found before by the translated
 * code must still see what changed since: code rewritten at the same
 * address, a page that lost PROT_EXEC, returns that do not match their
 * call (longjmp, a context switch), and signals arriving between
 * branches.  (aarch64's bti-mprotect toggles PROT_BTI.)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <assert.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define ROUNDS 2000
#define MAP_SIZE 65536  /* a multiple of any page size */

static sigjmp_buf fault_jmp;

static void fault_handler(int sig)
{
    siglongjmp(fault_jmp, sig);
}

/*
 * Small leaf functions, copied into a page: position-independent when
 * built without PIC (Makefile.target), which would make i386 call
 * __x86.get_pc_thunk.
 */
static __attribute__((noinline, aligned(64))) int return_one(void)
{
    return 1;
}

static __attribute__((noinline, aligned(64))) int return_two(void)
{
    return 2;
}

typedef int (*int_fn)(void);

/* Call @fn through a pointer the compiler cannot see through. */
static int call(int_fn fn)
{
    __asm__ volatile("" : "+r"(fn));
    return fn();
}

/*
 * Call @fn ROUNDS times, failing the test if it returns other than
 * @want; return the signal a call raised, or 0.
 */
static int call_expecting(int_fn fn, int want)
{
    int sig = sigsetjmp(fault_jmp, 1);

    if (sig) {
        return sig;
    }
    for (int i = 0; i < ROUNDS; i++) {
        int got = call(fn);
        if (got != want) {
            fprintf(stderr, "call %d returned %d, not %d\n", i, got, want);
            exit(EXIT_FAILURE);
        }
    }
    return 0;
}

/*
 * Copy @fn to @page; return the pointer to call it there.  Bit 0 of a
 * function pointer selects Thumb on arm; it is 0 elsewhere.
 */
static int_fn set_code(void *page, int_fn fn)
{
    uintptr_t addr = (uintptr_t)fn;

    memcpy(page, (void *)(addr & ~(uintptr_t)1), 64);
    __builtin___clear_cache(page, (char *)page + 64);
    return (int_fn)((uintptr_t)page | (addr & 1));
}

static void test_rewritten_code(void)
{
    size_t size = MAP_SIZE;
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int_fn fn;

    assert(page != MAP_FAILED);
    fn = set_code(page, return_one);
    assert(call_expecting(fn, 1) == 0);
    fn = set_code(page, return_two);
    assert(call_expecting(fn, 2) == 0);

    /* Without PROT_EXEC the same call faults, and works again after. */
    assert(mprotect(page, size, PROT_READ) == 0);
    if (call_expecting(fn, 2) != SIGSEGV) {
        fprintf(stderr, "a call into a page without PROT_EXEC ran\n");
        exit(EXIT_FAILURE);
    }
    assert(mprotect(page, size, PROT_READ | PROT_EXEC) == 0);
    assert(call_expecting(fn, 2) == 0);
    munmap(page, size);
}

/* A computed-goto dispatch loop, as interpreters have. */
static uint64_t interpret(const uint8_t *prog, size_t len, uint64_t acc)
{
    static void *const ops[] = { &&op_add, &&op_mul, &&op_xor, &&op_rot };
    size_t pc = 0;

#define DISPATCH() do { \
        if (pc == len) { \
            return acc; \
        } \
        goto *ops[prog[pc++] & 3]; \
    } while (0)

    DISPATCH();
op_add:
    acc += 0x9e3779b97f4a7c15ull;
    DISPATCH();
op_mul:
    acc *= 0xff51afd7ed558ccdull;
    DISPATCH();
op_xor:
    acc ^= acc >> 29;
    DISPATCH();
op_rot:
    acc = (acc << 7) | (acc >> 57);
    DISPATCH();
#undef DISPATCH
}

/* The same computation without indirect branches. */
static uint64_t reference(const uint8_t *prog, size_t len, uint64_t acc)
{
    for (size_t pc = 0; pc < len; pc++) {
        switch (prog[pc] & 3) {
        case 0:
            acc += 0x9e3779b97f4a7c15ull;
            break;
        case 1:
            acc *= 0xff51afd7ed558ccdull;
            break;
        case 2:
            acc ^= acc >> 29;
            break;
        default:
            acc = (acc << 7) | (acc >> 57);
            break;
        }
    }
    return acc;
}

static volatile sig_atomic_t ticks;

static void tick(int sig)
{
    ticks++;
}

/* Dispatch while a timer interrupts it every millisecond. */
static void test_dispatch_with_signals(void)
{
    struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    static uint8_t prog[4096];
    uint64_t want, got = 0;
    struct sigaction sa = { .sa_handler = tick };

    for (size_t i = 0; i < sizeof(prog); i++) {
        prog[i] = (uint8_t)(i * 2654435761u >> 13);
    }
    want = 0;
    for (int i = 0; i < 200; i++) {
        want = reference(prog, sizeof(prog), want + i);
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    assert(setitimer(ITIMER_REAL, &every_ms, NULL) == 0);
    for (int round = 0; round < 20 || (ticks < 3 && round < 20000); round++) {
        got = 0;
        for (int i = 0; i < 200; i++) {
            got = interpret(prog, sizeof(prog), got + i);
        }
        if (got != want) {
            fprintf(stderr, "dispatch round %d: %llx, not %llx\n", round,
                    (unsigned long long)got, (unsigned long long)want);
            exit(EXIT_FAILURE);
        }
    }
    assert(setitimer(ITIMER_REAL, &off, NULL) == 0);
}

/* Returns that do not match their calls. */
static jmp_buf unwind;

static __attribute__((noinline)) int recurse(int depth, int stop)
{
    if (depth == stop) {
        longjmp(unwind, depth);
    }
    return depth > stop ? 0 : recurse(depth + 1, stop) + 1;
}

static __attribute__((noinline)) int count_down(int n)
{
    return n == 0 ? 0 : count_down(n - 1) + 1;
}

static ucontext_t main_ctx, co_ctx;
static int co_value;

static void coroutine(void)
{
    for (int i = 1;; i++) {
        co_value = i;
        swapcontext(&co_ctx, &main_ctx);
    }
}

static void test_mismatched_returns(void)
{
    static char stack[64 * 1024];

    for (int stop = 1; stop < 3000; stop += 7) {
        int got = setjmp(unwind);
        if (got == 0) {
            recurse(0, stop);
            fprintf(stderr, "longjmp from depth %d returned\n", stop);
            exit(EXIT_FAILURE);
        }
        if (got != stop) {
            fprintf(stderr, "longjmp from depth %d gave %d\n", stop, got);
            exit(EXIT_FAILURE);
        }
    }
    /* A deep recursion returns through every frame. */
    if (count_down(100000) != 100000) {
        fprintf(stderr, "deep recursion returned wrongly\n");
        exit(EXIT_FAILURE);
    }

    assert(getcontext(&co_ctx) == 0);
    co_ctx.uc_stack.ss_sp = stack;
    co_ctx.uc_stack.ss_size = sizeof(stack);
    co_ctx.uc_link = NULL;
    makecontext(&co_ctx, coroutine, 0);
    for (int i = 1; i <= 10000; i++) {
        assert(swapcontext(&main_ctx, &co_ctx) == 0);
        if (co_value != i) {
            fprintf(stderr, "coroutine switch %d gave %d\n", i, co_value);
            exit(EXIT_FAILURE);
        }
    }
}

/*
 * gdbstub/indirect-branch.py stops at the SIGTRAP raised after indirect
 * calls have put counted() in the jump cache, sets a breakpoint on
 * counted() and expects the next call to stop there, with calls == WARM.
 * Without gdb, the handler ignores the signal.
 */
#define WARM 10000
static int calls;

static __attribute__((noinline)) int counted(void)
{
    return ++calls;
}

static void ignore(int sig)
{
}

static void test_cached_target(void)
{
    struct sigaction sa = { .sa_handler = ignore };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGTRAP, &sa, NULL);
    for (int i = 0; i < WARM; i++) {
        call(counted);
    }
    raise(SIGTRAP);
    for (int i = 0; i < 10; i++) {
        call(counted);
    }
    assert(calls == WARM + 10);
}

int main(void)
{
    struct sigaction sa = { .sa_handler = fault_handler };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);

    test_cached_target();
    test_rewritten_code();
    test_dispatch_with_signals();
    test_mismatched_returns();
    return EXIT_SUCCESS;
}
