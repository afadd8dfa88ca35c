/*
 * Host runtime of the thunks, linked into every host library.
 *
 * thunk_bind, the one exported entry, resolves the functions a guest
 * drop-in asks for in the host's real library, by name and the guest's
 * symbol version (so a host library older than the guest's is found
 * out), and hands back the generated host entries.  The real library
 * is the host's (found by its SONAME), or the one in THUNK_REAL_DIR when
 * built with it (another build of the library).
 *
 * Coroutines.  Guest code runs only on the guest CPU, between system
 * calls, so every call that passes a pointer runs on a coroutine (a
 * stack of its own) entered from the INVOKE_PROC that started it, and
 * parks, letting INVOKE_PROC return, whenever the guest must act before
 * it can go on (struct thunk_req says what the guest then does):
 *
 * - the library calls a guest function.  It calls a libffi closure made
 *   for that guest function, which parks with the request to run it;
 *   the guest runs it and resumes the call with a second INVOKE_PROC.
 *   A callback that calls the library again starts a call of its own.
 *   Closures are made once per (guest function, signature) and kept,
 *   so a library may keep them as long as it likes.  A closure called
 *   on a thread with no call running (a thread of the library's own)
 *   cannot run guest code: it says so once and returns 0, unless it is
 *   half of an allocator pair (see "Allocator pairs" below).  When a
 *   callback returns, the guest functions it wrote into structures the
 *   library gave it (expat's XML_Encoding) are swapped for closures.
 * - the library's code faults (a bad pointer from the guest, a guest
 *   file mapping past its end).  dlcall_host_signal(), which the dlcall
 *   plugin calls from QEMU's signal handler, parks the call at the
 *   faulting instruction; the guest makes the same access itself, so
 *   that it takes the signal the kernel would have given for it and its
 *   handler runs, and when it resumes the call the instruction runs
 *   again.
 * - a signal for the guest arrives while the library's own code runs:
 *   the call parks there, so that the guest gets the signal when
 *   INVOKE_PROC returns, at once rather than when the call ends, and
 *   then resumes it.  Code of other libraries (libc, which may hold its
 *   own locks) is not interrupted: if it was called from the library and
 *   its return address is still where the call put it (memcpy and the
 *   other leaf functions), the return is sent to a page nothing can run,
 *   and the fault there parks the call as it comes back into the
 *   library (x86_64 hosts); otherwise the signal waits until the call
 *   calls back or ends.
 *
 * A call the guest abandons (longjmp out of a callback or of a signal
 * handler, pthread_exit or cancellation in one) stays parked until the
 * thread makes another call from a stack frame at or above the stub's
 * that started it, or exits: its coroutine is then reclaimed, as the
 * library's frames on it are lost, as they would be natively.
 *
 * Threads that the real library starts begin with every signal
 * blocked, so that they never take the guest's (QEMU passes on any
 * that reaches such a thread anyway).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "host.h"

int thunk_counting;
uint64_t thunk_calls;
static uint64_t callbacks;

/* Coroutines */

/* Stack of each coroutine: only host library code and libffi run on it. */
#define CORO_STACK (1024 * 1024)
#define CORO_GUARD 4096
/* Idle coroutines kept per thread. */
#define CORO_IDLE 4
/*
 * A parked call is abandoned when its thread calls again from a frame at
 * or above the one of the stub that started it, up to this far above.
 * (Farther, it is more likely to be another stack, whose calls say
 * nothing of this one.)
 */
#define RECLAIM_WINDOW (256 * 1024)
/* The same fault this many times in a row: the guest cannot mend it. */
#define FAULT_REPEATS 64

struct coro {
    void *sp;                   /* saved while parked */
    void *caller;               /* the INVOKE_PROC's stack, saved */
    struct thunk_req *req;      /* the call's request, on the guest's stack */
    struct coro *next;          /* in the idle or the parked list */
    char *stack;                /* its mapping, the guard page first */
    void *fault_pc, *fault_addr;
    unsigned faults;            /* the same fault, in a row */
    uintptr_t resume_at;        /* the return address sent to resume_page */
};

/*
 * thunk_call(caller, top, fn, arg): save the callee-saved registers on
 * this stack and its pointer at *caller, then call fn(arg) on the stack
 * whose top is top.  Returns 0 when fn returns, 1 when it parks first.
 * thunk_park(sp, caller): save this coroutine's registers and stack
 * pointer at *sp and continue the caller saved at caller, whose
 * thunk_call() or thunk_unpark() returns 1.
 * thunk_unpark(caller, sp): continue the coroutine parked at sp, saving
 * this caller at *caller, where the coroutine comes back when it ends
 * (0) or parks again (1).
 */
int thunk_call(void **caller, void *top, void (*fn)(void *), void *arg)
    THUNK_HIDDEN;
void thunk_park(void **sp, void *caller) THUNK_HIDDEN;
int thunk_unpark(void **caller, void *sp) THUNK_HIDDEN;

#define ASM_FN(name) ".globl " #name "\n.hidden " #name "\n" \
    ".type " #name ", @function\n" #name ":\n"

#if defined(__x86_64__)
#define PUSH "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n" \
    "    pushq %r13\n    pushq %r14\n    pushq %r15\n"
#define POP "    popq %r15\n    popq %r14\n    popq %r13\n" \
    "    popq %r12\n    popq %rbx\n    popq %rbp\n"
__asm__(".text\n.p2align 4\n"
        ASM_FN(thunk_call)
        PUSH
        "    movq %rsp, (%rdi)\n"
        "    movq %rdi, %rbx\n"         /* kept by fn: *caller is current */
        "    movq %rsi, %rsp\n"
        "    movq %rcx, %rdi\n"
        "    callq *%rdx\n"
        "    movq (%rbx), %rsp\n"
        POP
        "    xorl %eax, %eax\n"
        "    ret\n"
        ASM_FN(thunk_park)
        PUSH
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        POP
        "    movl $1, %eax\n"
        "    ret\n"
        ASM_FN(thunk_unpark)
        PUSH
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        POP
        "    ret\n");
#elif defined(__aarch64__)
#define PUSH "    sub sp, sp, #160\n" \
    "    stp x19, x20, [sp, #0]\n    stp x21, x22, [sp, #16]\n" \
    "    stp x23, x24, [sp, #32]\n    stp x25, x26, [sp, #48]\n" \
    "    stp x27, x28, [sp, #64]\n    stp x29, x30, [sp, #80]\n" \
    "    stp d8, d9, [sp, #96]\n    stp d10, d11, [sp, #112]\n" \
    "    stp d12, d13, [sp, #128]\n    stp d14, d15, [sp, #144]\n"
#define POP \
    "    ldp x19, x20, [sp, #0]\n    ldp x21, x22, [sp, #16]\n" \
    "    ldp x23, x24, [sp, #32]\n    ldp x25, x26, [sp, #48]\n" \
    "    ldp x27, x28, [sp, #64]\n    ldp x29, x30, [sp, #80]\n" \
    "    ldp d8, d9, [sp, #96]\n    ldp d10, d11, [sp, #112]\n" \
    "    ldp d12, d13, [sp, #128]\n    ldp d14, d15, [sp, #144]\n" \
    "    add sp, sp, #160\n"
__asm__(".text\n.p2align 4\n"
        ASM_FN(thunk_call)
        PUSH
        "    mov x9, sp\n    str x9, [x0]\n"
        "    mov x19, x0\n"             /* kept by fn: *caller is current */
        "    mov sp, x1\n"
        "    mov x0, x3\n"
        "    blr x2\n"
        "    ldr x9, [x19]\n    mov sp, x9\n"
        POP
        "    mov w0, #0\n"
        "    ret\n"
        ASM_FN(thunk_park)
        PUSH
        "    mov x9, sp\n    str x9, [x0]\n"
        "    mov sp, x1\n"
        POP
        "    mov w0, #1\n"
        "    ret\n"
        ASM_FN(thunk_unpark)
        PUSH
        "    mov x9, sp\n    str x9, [x0]\n"
        "    mov sp, x1\n"
        POP
        "    ret\n");
#else
#error "the thunks' host runtime switches stacks on x86_64 and aarch64 only"
#endif

/*
 * Per thread: the coroutine running library code, if any; idle ones;
 * parked calls, newest first.
 */
#define TLS __thread __attribute__((tls_model("initial-exec")))
static TLS struct coro *current;
static TLS struct coro *idle;
static TLS unsigned idle_count;
static TLS struct coro *parked;
static TLS int thread_known;
static pthread_key_t thread_key;

static struct coro *coro_new(void)
{
    char *stack = mmap(NULL, CORO_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                       -1, 0);
    struct coro *c;

    if (stack == MAP_FAILED) {
        return NULL;
    }
    if (mprotect(stack, CORO_GUARD, PROT_NONE)) {
        munmap(stack, CORO_STACK);
        return NULL;
    }
    if (!thread_known) {
        /* thread_gone() frees this thread's coroutines. */
        pthread_setspecific(thread_key, &thread_known);
        thread_known = 1;
    }
    /* The coroutine itself sits at the top of its stack. */
    c = (struct coro *)(stack + CORO_STACK) - 1;
    memset(c, 0, sizeof(*c));
    c->stack = stack;
    return c;
}

/* Where calls on c start: below c, 16-byte aligned. */
static void *coro_top(struct coro *c)
{
    return (void *)((uintptr_t)c & ~(uintptr_t)15);
}

/* c ran its call to the end, or was abandoned: keep it or free it. */
static void coro_release(struct coro *c)
{
    if (idle_count < CORO_IDLE) {
        c->next = idle;
        c->faults = 0;
        c->resume_at = 0;
        idle = c;
        idle_count++;
    } else {
        munmap(c->stack, CORO_STACK);
    }
}

static void thread_gone(void *unused)
{
    struct coro *lists[] = { idle, parked };

    idle = parked = NULL;
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            struct coro *c = lists[i];

            lists[i] = c->next;
            munmap(c->stack, CORO_STACK);
        }
    }
    idle_count = 0;
}

/*
 * Reclaim the parked calls that a call with request q shows abandoned:
 * their stub's frame is gone, since q is at or above it.
 */
static void reclaim(struct thunk_req *q)
{
    struct coro **p = &parked;

    while (*p) {
        struct coro *c = *p;

        if ((uintptr_t)q - (uintptr_t)c->req < RECLAIM_WINDOW) {
            *p = c->next;
            coro_release(c);
        } else {
            p = &c->next;
        }
    }
}

/* c returned from thunk_call() or thunk_unpark() with state parked. */
static void coro_returned(struct coro *c, int parked_now)
{
    current = NULL;
    if (parked_now) {
        c->req->coro = c;
        c->next = parked;
        parked = c;
    } else {
        c->req->state = THUNK_DONE;
        coro_release(c);
    }
}

void thunk_run(void (*fn)(void *), void *block, void *req)
{
    struct coro *c;

    if (THUNK_UNLIKELY(parked)) {
        reclaim(req);
    }
    c = idle;
    if (THUNK_LIKELY(c)) {
        idle = c->next;
        idle_count--;
    } else if (!(c = coro_new())) {
        /* No memory for a stack: run here; callbacks will say so. */
        fn(block);
        ((struct thunk_req *)req)->state = THUNK_DONE;
        return;
    }
    c->req = req;
    current = c;
    coro_returned(c, thunk_call(&c->caller, coro_top(c), fn, block));
}

/* INVOKE_PROC(resume, req, NULL): the guest did what req asked for. */
static void thunk_resume(void *arg, void *unused)
{
    struct thunk_req *q = arg;
    struct coro **p = &parked;

    struct coro *c;

    /* q is the guest's: only a call parked on this thread is resumed. */
    while (*p && (*p != q->coro || (*p)->req != q)) {
        p = &(*p)->next;
    }
    c = *p;
    if (!c) {
        fprintf(stderr, "dlcall-thunks: %s: the guest resumed a call that "
                "is not parked on its thread, or was abandoned\n",
                thunk_host_lib.soname);
        q->state = THUNK_DONE;
        return;
    }
    *p = c->next;
    current = c;
    coro_returned(c, thunk_unpark(&c->caller, c->sp));
}

/* Park the running call, which has said in its request why. */
static void park(struct coro *c)
{
    thunk_park(&c->sp, c->caller);
}

/* Signals and faults */

/* The executable segments of the real library. */
#define MAX_TEXT 8
static struct {
    uintptr_t start, end;
} text[MAX_TEXT];
static unsigned text_count;
/* Its segments that can be read. */
static struct {
    uintptr_t start, end;
} readable[MAX_TEXT];
static unsigned readable_count;
/* A page nothing can run: see return_slot(). */
static char *resume_page;

static uintptr_t context_pc(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return uc->uc_mcontext.gregs[REG_RIP];
#else
    return uc->uc_mcontext.pc;
#endif
}

static uintptr_t context_sp(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return uc->uc_mcontext.gregs[REG_RSP];
#else
    return uc->uc_mcontext.sp;
#endif
}

static void set_context_pc(ucontext_t *uc, uintptr_t pc)
{
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RIP] = pc;
#else
    uc->uc_mcontext.pc = pc;
#endif
}

/* Was the fault in uc a write? */
static int context_write(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    /* The kernel's records after the registers: ESR's WnR bit. */
    const struct {
        uint32_t magic, size;
    } *rec = (const void *)uc->uc_mcontext.__reserved;

    while (rec->magic && rec->size) {
        if (rec->magic == 0x45535201) {             /* ESR_MAGIC */
            uint64_t esr = *(const uint64_t *)(rec + 1);

            return (esr >> 6) & 1;
        }
        rec = (const void *)((const char *)rec + rec->size);
    }
    return 0;
#endif
}

static int in_library(uintptr_t pc)
{
    for (unsigned i = 0; i < text_count; i++) {
        if (pc - text[i].start < text[i].end - text[i].start) {
            return 1;
        }
    }
    return 0;
}

#if defined(__x86_64__)
static int in_readable(uintptr_t p, size_t len)
{
    for (unsigned i = 0; i < readable_count; i++) {
        if (p - readable[i].start < readable[i].end - readable[i].start &&
            len <= readable[i].end - p) {
            return 1;
        }
    }
    return 0;
}

/* The function a GOT slot of the library holds. */
static uintptr_t got_entry(uintptr_t slot)
{
    return in_readable(slot, sizeof(uintptr_t)) ? *(uintptr_t *)slot : 0;
}

/*
 * How far into a function of another library the pc of a signal may be
 * for the return address on top of the stack to be taken for the one
 * the library's call of that function pushed.
 */
#define CALLEE_REACH (64 * 1024)

/* The function that the library's PLT entry at p jumps to, or 0. */
static uintptr_t plt_target(uintptr_t p)
{
    const unsigned char *b = (const unsigned char *)p;

    if (!in_library(p) || !in_readable(p, 11)) {
        return 0;
    }
    if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa) {
        b += 4;                         /* endbr64 */
    }
    if (b[0] == 0xf2) {
        b++;                            /* bnd */
    }
    if (b[0] != 0xff || b[1] != 0x25) { /* jmp *slot(%rip) */
        return 0;
    }
    return got_entry((uintptr_t)b + 6 + *(const int32_t *)(b + 2));
}
#endif

/*
 * The stack slot that holds the address where the function of another
 * library interrupted in uc returns into the library, if the library
 * called it and it has not pushed anything since (a leaf function such
 * as memcpy, or one that has just begun): the word on top of the stack
 * follows a call, through the library's PLT or GOT, of the function that
 * the pc is in.  NULL if not sure.
 */
static uintptr_t *return_slot(const ucontext_t *uc)
{
#if defined(__x86_64__)
    uintptr_t *sp = (uintptr_t *)context_sp(uc);
    uintptr_t ret = *sp, callee = 0;
    const unsigned char *b = (const unsigned char *)ret;

    if (!in_library(ret) || !in_readable(ret - 6, 6)) {
        return NULL;
    }
    if (b[-5] == 0xe8) {                /* call rel32, to a PLT entry */
        callee = plt_target(ret + *(const int32_t *)(b - 4));
    } else if (b[-6] == 0xff && b[-5] == 0x15) {   /* call *slot(%rip) */
        callee = got_entry(ret + *(const int32_t *)(b - 4));
    }
    return callee && context_pc(uc) - callee < CALLEE_REACH ? sp : NULL;
#else
    /* Not yet: the return address is in x30 there, maybe signed. */
    return NULL;
#endif
}

static int synchronous(int signo, const siginfo_t *info)
{
    switch (signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
        return info->si_code > 0;
    default:
        return 0;
    }
}

/*
 * Called by the dlcall plugin from QEMU's signal handler for each host
 * signal a guest thread takes while dlcall runs host code for it (see
 * contrib/plugins/dlcall.c): park the call running on this thread, if
 * the signal interrupted its code and the guest must act.  Returns 1
 * for a fault dealt with: the guest took it, so the instruction runs
 * again.  Every host library has its own copy and minds its own calls.
 */
__attribute__((visibility("default")))
int dlcall_host_signal(int signo, siginfo_t *info, void *context)
{
    struct coro *c = current;
    ucontext_t *uc = context;
    struct thunk_req *q;
    void *pc;

    if (!c || context_sp(uc) - (uintptr_t)c->stack >= CORO_STACK) {
        return 0;                       /* not running this library's call */
    }
    q = c->req;
    pc = (void *)context_pc(uc);
    if (pc == resume_page && c->resume_at) {
        /* Back from the libc function sent here (the last case). */
        set_context_pc(uc, c->resume_at);
        c->resume_at = 0;
        q->state = THUNK_INTERRUPTED;
    } else if (synchronous(signo, info)) {
        if (pc == c->fault_pc && info->si_addr == c->fault_addr &&
            ++c->faults >= FAULT_REPEATS) {
            fprintf(stderr, "dlcall-thunks: %s: host code at %p faults on "
                    "%p again and again, though the guest could make that "
                    "access\n", thunk_host_lib.soname, pc, info->si_addr);
            return 0;
        }
        if (pc != c->fault_pc || info->si_addr != c->fault_addr) {
            c->faults = 0;
        }
        c->fault_pc = pc;
        c->fault_addr = info->si_addr;
        q->state = THUNK_FAULT;
        q->signo = signo;
        q->addr = info->si_addr;
        q->write = context_write(uc);
    } else if (in_library((uintptr_t)pc)) {
        q->state = THUNK_INTERRUPTED;
    } else {
        /* In libc, say: not safe to leave, but maybe as it returns. */
        uintptr_t *slot = resume_page && !c->resume_at ? return_slot(uc)
                                                       : NULL;

        if (slot) {
            c->resume_at = *slot;
            *slot = (uintptr_t)resume_page;
        }
        return 0;
    }
    /* The guest runs with the mask it had before the signal... */
    pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
    park(c);
    /* ...and the code parked here with the mask the thread has now. */
    pthread_sigmask(SIG_SETMASK, NULL, &uc->uc_sigmask);
    return 1;
}

/*
 * Threads the real library starts begin with every signal blocked: none
 * of them runs guest code, so none may take a signal meant for it.
 */
static int blocked_pthread_create(pthread_t *thread,
                                  const pthread_attr_t *attr,
                                  void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int ret;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ret = pthread_create(thread, attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ret;
}

struct segments {
    uintptr_t base;
    uintptr_t relro, relro_end;
};

/* Note the real library's text, and where its RELRO segment is. */
static int find_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct segments *s = arg;

    if (info->dlpi_addr != s->base) {
        return 0;
    }
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) &&
            readable_count < MAX_TEXT) {
            readable[readable_count].start = start;
            readable[readable_count].end = start + ph->p_memsz;
            readable_count++;
        }
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
            text_count < MAX_TEXT) {
            text[text_count].start = start;
            text[text_count].end = start + ph->p_memsz;
            text_count++;
        } else if (ph->p_type == PT_GNU_RELRO) {
            s->relro = start;
            s->relro_end = start + ph->p_memsz;
        }
    }
    return 1;
}

/* A relocation that stores a symbol's address (a GOT slot, a pointer). */
static int absolute(unsigned type)
{
#if defined(__x86_64__)
    return type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT ||
           type == R_X86_64_64;
#else
    return type == R_AARCH64_JUMP_SLOT || type == R_AARCH64_GLOB_DAT ||
           type == R_AARCH64_ABS64;
#endif
}

/* Point the library's references to pthread_create at ours. */
static void hook_threads(struct link_map *map)
{
    struct segments seg = { map->l_addr, 0, 0 };
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *rel[2] = { NULL, NULL };
    size_t relsz[2] = { 0, 0 };
    long page = sysconf(_SC_PAGESIZE);

    dl_iterate_phdr(find_segments, &seg);
    for (const ElfW(Dyn) *d = map->l_ld; d->d_tag != DT_NULL; d++) {
        /* ld.so relocated these in place, where the segment is writable. */
        uintptr_t v = d->d_un.d_ptr < map->l_addr ?
                      d->d_un.d_ptr + map->l_addr : d->d_un.d_ptr;

        switch (d->d_tag) {
        case DT_SYMTAB:
            symtab = (const void *)v;
            break;
        case DT_STRTAB:
            strtab = (const void *)v;
            break;
        case DT_JMPREL:
            rel[0] = (const void *)v;
            break;
        case DT_PLTRELSZ:
            relsz[0] = d->d_un.d_val;
            break;
        case DT_RELA:
            rel[1] = (const void *)v;
            break;
        case DT_RELASZ:
            relsz[1] = d->d_un.d_val;
            break;
        }
    }
    if (!symtab || !strtab) {
        return;
    }
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; rel[t] && i < relsz[t] / sizeof(*rel[t]); i++) {
            const ElfW(Rela) *r = &rel[t][i];
            unsigned type = ELF64_R_TYPE(r->r_info);
            unsigned sym = ELF64_R_SYM(r->r_info);
            void **slot = (void **)(map->l_addr + r->r_offset);
            uintptr_t p = (uintptr_t)slot & -page;
            int relro = (uintptr_t)slot - seg.relro <
                        seg.relro_end - seg.relro;

            if (!sym || !absolute(type) ||
                strcmp(strtab + symtab[sym].st_name, "pthread_create")) {
                continue;
            }
            if (relro && mprotect((void *)p, page, PROT_READ | PROT_WRITE)) {
                continue;
            }
            *slot = (void *)blocked_pthread_create;
            if (relro) {
                mprotect((void *)p, page, PROT_READ);
            }
        }
    }
}

/* Closures */

struct closure {
    void *guest;                /* the guest function */
    unsigned sig;
    unsigned role;              /* 0, THUNK_ALLOC or THUNK_FREE */
    int warned;
};

/*
 * Tables, read without a lock and only ever added to: guest function
 * (with signature and role) to closure code, which also maps host
 * functions and closures to themselves; closure code to guest function.
 */
struct mapping {
    void *key;
    unsigned sig;
    void *value;
    struct mapping *next;
};

#define BUCKETS 1024
static struct mapping *to_host[BUCKETS], *to_guest[BUCKETS];
static pthread_mutex_t closure_lock = PTHREAD_MUTEX_INITIALIZER;
static ffi_cif *cifs;

/*
 * The guest's stand-ins for the halves of allocator pairs the library
 * serves with libc's (see host.h), and the library's own functions each
 * stands for where the guest saw it in place of them.
 */
static void **standins, **own_defaults;

static unsigned bucket(void *key, unsigned sig)
{
    uint64_t h = ((uintptr_t)key >> 2) * 0x9e3779b97f4a7c15ull + sig;

    return (h >> 32) & (BUCKETS - 1);
}

static void *lookup(struct mapping **table, void *key, unsigned sig)
{
    struct mapping *m;

    for (m = __atomic_load_n(&table[bucket(key, sig)], __ATOMIC_ACQUIRE); m;
         m = m->next) {
        if (m->key == key && m->sig == sig) {
            return m->value;
        }
    }
    return NULL;
}

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int add(struct mapping **table, void *key, unsigned sig, void *value)
{
    struct mapping *m = malloc(sizeof(*m));
    unsigned b = bucket(key, sig);

    if (!m) {
        return 0;
    }
    m->key = key;
    m->sig = sig;
    m->value = value;
    pthread_mutex_lock(&table_lock);
    m->next = table[b];
    __atomic_store_n(&table[b], m, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&table_lock);
    return 1;
}

static void widen(ffi_type *type, const void *from, void *to)
{
    switch (type->type) {
    case FFI_TYPE_VOID:
        break;
    case FFI_TYPE_SINT8:
        *(ffi_sarg *)to = *(const int8_t *)from;
        break;
    case FFI_TYPE_UINT8:
        *(ffi_arg *)to = *(const uint8_t *)from;
        break;
    case FFI_TYPE_SINT16:
        *(ffi_sarg *)to = *(const int16_t *)from;
        break;
    case FFI_TYPE_UINT16:
        *(ffi_arg *)to = *(const uint16_t *)from;
        break;
    case FFI_TYPE_SINT32:
        *(ffi_sarg *)to = *(const int32_t *)from;
        break;
    case FFI_TYPE_UINT32:
        *(ffi_arg *)to = *(const uint32_t *)from;
        break;
    default:
        memcpy(to, from, type->size);
        break;
    }
}

/* Ask the guest to run fn(*args...) of signature sig; wait for it. */
static void call_guest(struct coro *c, void *fn, unsigned sig, void **args,
                       void *ret)
{
    struct thunk_req *req = c->req;

    req->fn = fn;
    req->sig = sig;
    req->args = args;
    req->ret = ret;
    req->state = THUNK_CALLBACK;
    if (thunk_counting) {
        __atomic_fetch_add(&callbacks, 1, __ATOMIC_RELAXED);
    }
    park(c);
}

/*
 * Allocator pairs on threads of the library's own (liblzma's and
 * libzstd's workers), where guest code cannot run.  An allocation
 * there is served by the host's malloc, and the block remembered;
 * freeing a remembered block, on any thread, goes to the host's free.
 * Any other block is the guest's: freed at once on a guest thread, or
 * from a library thread put in a queue, which the next guest call
 * that can call back empties through the guest's free (before its own
 * callbacks, and when it ends).  No library thread ever waits for the
 * guest.
 */
struct host_block {
    void *p;
    struct host_block *next;
};
static struct host_block *host_blocks[BUCKETS];
static unsigned host_block_count;
static pthread_mutex_t block_lock = PTHREAD_MUTEX_INITIALIZER;

static void remember(void *p)
{
    struct host_block *b = malloc(sizeof(*b));
    unsigned i = bucket(p, 0);

    if (!b) {
        return;                         /* a leak, should it be freed */
    }
    b->p = p;
    pthread_mutex_lock(&block_lock);
    b->next = host_blocks[i];
    host_blocks[i] = b;
    __atomic_store_n(&host_block_count, host_block_count + 1,
                     __ATOMIC_RELAXED);
    pthread_mutex_unlock(&block_lock);
}

/* Was p allocated on a library thread?  It is forgotten. */
static int forget(void *p)
{
    struct host_block **b, *found = NULL;

    if (!p || !__atomic_load_n(&host_block_count, __ATOMIC_RELAXED)) {
        return 0;
    }
    pthread_mutex_lock(&block_lock);
    for (b = &host_blocks[bucket(p, 0)]; *b; b = &(*b)->next) {
        if ((*b)->p == p) {
            found = *b;
            *b = found->next;
            __atomic_store_n(&host_block_count, host_block_count - 1,
                             __ATOMIC_RELAXED);
            break;
        }
    }
    pthread_mutex_unlock(&block_lock);
    free(found);
    return found != NULL;
}

#define DEFERRED_ARGS 4

struct deferred {
    struct deferred *next;
    void *fn;
    unsigned sig;
    void *args[DEFERRED_ARGS];
    uint64_t values[DEFERRED_ARGS];
};
static struct deferred *deferred;
static pthread_mutex_t deferred_lock = PTHREAD_MUTEX_INITIALIZER;

/* Queue the guest's fn(args) of signature sig (a free) for later. */
static void defer(void *fn, unsigned sig, ffi_cif *cif, void **args)
{
    struct deferred *d = calloc(1, sizeof(*d));

    if (!d || cif->nargs > DEFERRED_ARGS) {
        fprintf(stderr, "dlcall-thunks: %s: cannot keep a guest free() "
                "requested from a thread of the library's own: a leak\n",
                thunk_host_lib.soname);
        free(d);
        return;
    }
    d->fn = fn;
    d->sig = sig;
    for (unsigned i = 0; i < cif->nargs; i++) {
        memcpy(&d->values[i], args[i], cif->arg_types[i]->size);
        d->args[i] = &d->values[i];
    }
    pthread_mutex_lock(&deferred_lock);
    d->next = deferred;
    __atomic_store_n(&deferred, d, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&deferred_lock);
}

/* On a guest thread: run the queued frees. */
static void drain(struct coro *c)
{
    uint64_t ret[2];

    while (__atomic_load_n(&deferred, __ATOMIC_ACQUIRE)) {
        struct deferred *d;

        pthread_mutex_lock(&deferred_lock);
        d = deferred;
        if (d) {
            deferred = d->next;
        }
        pthread_mutex_unlock(&deferred_lock);
        if (d) {
            call_guest(c, d->fn, d->sig, d->args, ret);
            free(d);
        }
    }
}

/* An allocation's size: the product of the integer arguments. */
static size_t alloc_size(ffi_cif *cif, void **args)
{
    size_t size = 1, n;

    for (unsigned i = 0; i < cif->nargs; i++) {
        switch (cif->arg_types[i]->type) {
        case FFI_TYPE_UINT8:
            n = *(uint8_t *)args[i];
            break;
        case FFI_TYPE_SINT8:
            n = *(int8_t *)args[i];
            break;
        case FFI_TYPE_UINT16:
            n = *(uint16_t *)args[i];
            break;
        case FFI_TYPE_SINT16:
            n = *(int16_t *)args[i];
            break;
        case FFI_TYPE_UINT32:
            n = *(uint32_t *)args[i];
            break;
        case FFI_TYPE_SINT32:
            n = *(int32_t *)args[i];
            break;
        case FFI_TYPE_UINT64:
        case FFI_TYPE_SINT64:
            n = *(uint64_t *)args[i];
            break;
        default:
            continue;
        }
        if (__builtin_mul_overflow(size, n, &size)) {
            return SIZE_MAX;
        }
    }
    return size;
}

/* The block a free is given: its last pointer argument. */
static void *freed_block(ffi_cif *cif, void **args)
{
    for (unsigned i = cif->nargs; i-- > 0;) {
        if (cif->arg_types[i]->type == FFI_TYPE_POINTER) {
            return *(void **)args[i];
        }
    }
    return NULL;
}

/* What every closure runs, on the host thread that called it. */
static void closure_called(ffi_cif *cif, void *ret, void **args, void *data)
{
    struct closure *cl = data;
    const struct thunk_sig *s = &thunk_host_lib.sigs[cl->sig];
    struct coro *c = current;
    uint64_t result[2] = { 0, 0 };
    void *block = NULL;

    if (cl->role == THUNK_FREE) {
        block = freed_block(cif, args);
        if (forget(block)) {
            free(block);
            return;
        }
    }
    if (!c) {
        if (cl->role == THUNK_ALLOC) {
            size_t size = alloc_size(cif, args);
            void *p = size == SIZE_MAX ? NULL : malloc(size ? size : 1);

            if (p) {
                remember(p);
            }
            memcpy(ret, &p, sizeof(p));
        } else if (cl->role == THUNK_FREE) {
            defer(cl->guest, cl->sig, cif, args);
        } else {
            if (!__atomic_exchange_n(&cl->warned, 1, __ATOMIC_RELAXED)) {
                fprintf(stderr, "dlcall-thunks: %s: the host library called "
                        "guest function %p from a thread that is not "
                        "running a guest call that can call back (a thread "
                        "of its own?): guest code cannot run there, so the "
                        "library gets 0\n", thunk_host_lib.soname, cl->guest);
            }
            widen(cif->rtype, result, ret);
        }
        return;
    }
    drain(c);
    call_guest(c, cl->guest, cl->sig, args, result);
    for (unsigned i = 0; s->outs && i < cif->nargs; i++) {
        if (s->outs[i]) {
            thunk_swap_in(*(void **)args[i], s->outs[i]);
        }
    }
    widen(cif->rtype, result, ret);
}

/*
 * Where no closure can be made (no memory for one): the library's call
 * of the guest function fails as a failing allocator or a callback that
 * returns 0 would make it fail.
 */
static void *no_memory(void)
{
    return NULL;
}

static void no_free(void)
{
}

static void *no_closure(void *fn, unsigned role)
{
    static int warned;

    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
        fprintf(stderr, "dlcall-thunks: %s: no memory for a closure of guest "
                "function %p: the library's calls of it fail\n",
                thunk_host_lib.soname, fn);
    }
    return role == THUNK_FREE ? (void *)no_free : (void *)no_memory;
}

/* The closure for guest function fn, of signature sig, in role role. */
static void *closure(void *fn, unsigned sig, unsigned role)
{
    unsigned key = sig | role << 16;
    struct closure *cl;
    ffi_closure *fc;
    void *code = lookup(to_host, fn, key);
    Dl_info info;

    if (code || !fn) {
        return code;
    }
    pthread_mutex_lock(&closure_lock);
    code = lookup(to_host, fn, key);
    if (code) {
        goto out;
    }
    /* A host function (zlib's own allocator) or one of our closures. */
    if (lookup(to_guest, fn, 0) || dladdr(fn, &info)) {
        code = fn;
        add(to_host, fn, key, fn);
        goto out;
    }
    cl = calloc(1, sizeof(*cl));
    fc = cl ? ffi_closure_alloc(sizeof(ffi_closure), &code) : NULL;
    if (!fc || ffi_prep_closure_loc(fc, &cifs[sig], closure_called, cl,
                                    code) != FFI_OK) {
        if (fc) {
            ffi_closure_free(fc);
        }
        free(cl);
        code = no_closure(fn, role);
        goto out;
    }
    cl->guest = fn;
    cl->sig = sig;
    cl->role = role;
    /* Without memory for these, the next call makes another closure. */
    add(to_guest, code, 0, fn);
    add(to_host, code, key, code);
    add(to_host, fn, key, code);
out:
    pthread_mutex_unlock(&closure_lock);
    return code;
}

void *thunk_closure(void *fn, unsigned sig)
{
    return closure(fn, sig, 0);
}

/* Is p a guest function (or a closure of one), not the host's? */
static int is_guest(void *p)
{
    Dl_info info;

    return lookup(to_guest, p, 0) || !dladdr(p, &info);
}

/*
 * Half f of an allocator pair the library serves with libc's.  The other
 * half may have been swapped in already.
 */
static void *swap_in_standin_half(void **slot, const struct thunk_field *f)
{
    void *mine = standins[f->standin], *other = *(void **)((char *)slot +
                                                           f->partner);
    unsigned role = f->role & (THUNK_ALLOC | THUNK_FREE);
    int other_own = !other || other == standins[f->standin ^ 1] ||
                    other == own_defaults[f->standin ^ 1];

    if ((*slot == mine || !*slot) && other_own) {
        /* The library's own (NULL: it puts them there itself). */
        return *slot ? own_defaults[f->standin] : NULL;
    }
    if (!*slot && is_guest(other)) {
        /* Beside the guest's: the guest's heap, through its stand-in. */
        return closure(mine, f->sig, role);
    }
    return closure(*slot, f->sig, role);
}

void thunk_swap_in(void *p, const struct thunk_field *f)
{
    for (; p && f->kind != THUNK_END; f++) {
        void **slot = (void **)((char *)p + f->offset);

        switch (f->kind) {
        case THUNK_FN:
            if ((f->role & THUNK_LIBC) && standins) {
                *slot = swap_in_standin_half(slot, f);
            } else {
                *slot = closure(*slot, f->sig,
                                f->role & (THUNK_ALLOC | THUNK_FREE));
            }
            break;
        case THUNK_SHADOW:
            *slot = thunk_shadow(*slot, f->size, f->fields);
            break;
        case THUNK_DEEP:
            thunk_swap_in(*slot, f->fields);
            break;
        }
    }
}

void thunk_swap_out(void *p, const struct thunk_field *f)
{
    for (; p && f->kind != THUNK_END; f++) {
        void **slot = (void **)((char *)p + f->offset);
        void *guest;

        if (f->kind == THUNK_DEEP) {
            thunk_swap_out(*slot, f->fields);
        } else if (!*slot) {
            continue;
        } else if ((guest = lookup(to_guest, *slot, 0))) {
            *slot = guest;
        } else if (f->kind == THUNK_FN && (f->role & THUNK_LIBC) &&
                   standins && !is_guest(*slot)) {
            /* The library's own: the guest sees what it can call. */
            __atomic_store_n(&own_defaults[f->standin], *slot,
                             __ATOMIC_RELAXED);
            *slot = standins[f->standin];
        }
    }
}

/*
 * Shadows: for each const structure of the guest's that holds guest
 * functions, a copy that holds closures.  The library may keep the
 * pointer, as it would keep the guest's, and read the structure each
 * time it uses it: so there is one copy per guest structure, brought
 * up to date in place when the guest changed its structure, and never
 * freed.
 */
struct shadow {
    void *copy;
    uint32_t size;
    unsigned char original[];
};
static struct mapping *shadows[BUCKETS];
/* Recursive: a shadow's structure may point to another. */
static pthread_mutex_t shadow_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void *thunk_shadow(const void *p, uint32_t size,
                   const struct thunk_field *fields)
{
    void *guest = (void *)p, *fresh;
    struct shadow *s;

    if (!p || lookup(to_guest, guest, 0)) {
        return guest;                   /* NULL, or already a shadow */
    }
    s = lookup(shadows, guest, size);
    if (s && !memcmp(s->original, p, size)) {
        return s->copy;
    }
    pthread_mutex_lock(&shadow_lock);
    s = lookup(shadows, guest, size);
    if (!s) {
        s = malloc(sizeof(*s) + size);
        if (!s || !(s->copy = calloc(1, size)) ||
            !add(to_guest, s->copy, 0, guest) ||
            !add(shadows, guest, size, s)) {
            pthread_mutex_unlock(&shadow_lock);
            fprintf(stderr, "dlcall-thunks: %s: no memory to pass guest "
                    "structure %p\n", thunk_host_lib.soname, p);
            return NULL;                /* a leak, should it happen */
        }
        s->size = size;
        memset(s->original, 0, size);
    }
    fresh = malloc(size);
    if (fresh && memcmp(s->original, p, size)) {
        memcpy(s->original, p, size);
        memcpy(fresh, p, size);
        thunk_swap_in(fresh, fields);
        memcpy(s->copy, fresh, size);
    }
    free(fresh);
    pthread_mutex_unlock(&shadow_lock);
    return s->copy;
}

/* A guest may fork while another of its threads holds a lock. */
static void prefork(void)
{
    pthread_mutex_lock(&shadow_lock);
    pthread_mutex_lock(&closure_lock);
    pthread_mutex_lock(&table_lock);
    pthread_mutex_lock(&block_lock);
    pthread_mutex_lock(&deferred_lock);
}

static void postfork(void)
{
    pthread_mutex_unlock(&deferred_lock);
    pthread_mutex_unlock(&block_lock);
    pthread_mutex_unlock(&table_lock);
    pthread_mutex_unlock(&closure_lock);
    pthread_mutex_unlock(&shadow_lock);
}

/* Binding */

static void thunk_stats(void *arg, void *unused)
{
    struct thunk_stats *stats = arg;

    stats->calls = __atomic_load_n(&thunk_calls, __ATOMIC_RELAXED);
    stats->callbacks = __atomic_load_n(&callbacks, __ATOMIC_RELAXED);
}

static const struct thunk_host_fn *find(const char *name, const char *version)
{
    const struct thunk_host_lib *lib = &thunk_host_lib;

    for (unsigned i = 0; i < lib->count; i++) {
        if (!strcmp(lib->fns[i].name, name) &&
            !strcmp(lib->fns[i].version, version)) {
            return &lib->fns[i];
        }
    }
    return NULL;
}

/* Set up what the calls need, once. */
static int set_up(struct thunk_bind *b, struct link_map *map)
{
    const struct thunk_host_lib *lib = &thunk_host_lib;

    cifs = calloc(lib->nsigs + 1, sizeof(*cifs));
    standins = calloc(lib->nstandins + 1, sizeof(void *));
    own_defaults = calloc(lib->nstandins + 1, sizeof(void *));
    if (!cifs || !standins || !own_defaults) {
        snprintf(b->error, sizeof(b->error), "out of memory");
        return 0;
    }
    for (unsigned i = 0; i < lib->nsigs; i++) {
        const struct thunk_sig *s = &lib->sigs[i];

        if (ffi_prep_cif(&cifs[i], FFI_DEFAULT_ABI, s->nargs, s->ret,
                         s->args) != FFI_OK) {
            snprintf(b->error, sizeof(b->error), "libffi cannot describe "
                     "callback signature %u", i);
            return 0;
        }
    }
    memcpy(standins, b->standins, lib->nstandins * sizeof(void *));
    pthread_key_create(&thread_key, thread_gone);
    pthread_atfork(prefork, postfork, postfork);
    if (map) {
        hook_threads(map);
    }
    resume_page = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (resume_page == MAP_FAILED) {
        resume_page = NULL;
    }
    return 1;
}

/* Resolve everything, or say in b->error why not. */
static int bind_all(struct thunk_bind *b)
{
    const struct thunk_host_lib *lib = &thunk_host_lib;
    static void *handle;
    static int ready;
    struct link_map *map = NULL;

    if (b->abi != THUNK_ABI) {
        snprintf(b->error, sizeof(b->error), "the drop-in speaks thunk ABI "
                 "%u, the host library %u: rebuild them together",
                 b->abi, THUNK_ABI);
        return 0;
    }
    if (b->sigs != lib->nsigs || strcmp(b->sig_digest, lib->sig_digest) ||
        b->nstandins != lib->nstandins) {
        snprintf(b->error, sizeof(b->error), "the drop-in and the host "
                 "library were generated from different headers");
        return 0;
    }
    if (!handle) {
#ifdef THUNK_REAL_DIR
        /* Another build of the library than the system's. */
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", THUNK_REAL_DIR, lib->soname);
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
#else
        handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
#endif
    }
    if (!handle) {
        snprintf(b->error, sizeof(b->error), "the host has no %s: %s",
                 lib->soname, dlerror());
        return 0;
    }
    if (!dlinfo(handle, RTLD_DI_LINKMAP, &map) && map) {
        snprintf(b->host_library, sizeof(b->host_library), "%s", map->l_name);
    }
    for (unsigned i = 0; i < b->count; i++) {
        const char *name = b->names[i], *version = b->versions[i];
        const struct thunk_host_fn *fn = find(name, version);
        void *real;

        if (fn && strcmp(fn->proto, b->protos[i])) {
            snprintf(b->error, sizeof(b->error), "%.100s has another "
                     "prototype on the host: the drop-in and the host "
                     "library come from different headers", name);
            return 0;
        }
        real = !fn ? NULL : *version ? dlvsym(handle, name, version)
                                     : dlsym(handle, name);
        if (!real) {
            snprintf(b->error, sizeof(b->error), "the host's %.200s has no "
                     "%.100s%s%.100s: it is older than the guest's",
                     b->host_library, name, *version ? "@" : "", version);
            return 0;
        }
        *fn->real = real;
        b->entries[i] = (void *)fn->entry;
    }
    if (!ready) {
        ready = set_up(b, map);
    }
    return ready;
}

__attribute__((visibility("default"))) void thunk_bind(void *arg, void *unused)
{
    struct thunk_bind *b = arg;

    b->ok = bind_all(b);
    if (b->ok) {
        b->resume = (void *)thunk_resume;
        b->stats = (void *)thunk_stats;
        thunk_counting = b->debug;
    }
}
