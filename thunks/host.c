/*
 * Host runtime of the thunks, linked into every host library.
 *
 * thunk_bind, the one exported function, resolves the functions a
 * guest drop-in asks for in the host's real library, by name and the
 * guest's symbol version (so a host library older than the guest's is
 * found out), and hands back the generated host entries.  The real
 * library is the host's (found by its SONAME), or the one in
 * THUNK_REAL_DIR when built with it (another build of the library).
 *
 * Callbacks.  Guest code runs only on the guest CPU, between system
 * calls.  A host call that may call back runs on a coroutine (its own
 * stack) entered from the INVOKE_PROC that started it.  When the
 * library calls a guest function, it calls a libffi closure made for
 * that guest function; the closure writes the request into the guest's
 * struct thunk_req and switches back, so INVOKE_PROC returns to the
 * guest stub, which runs the guest function and resumes the coroutine
 * with a second INVOKE_PROC.  A callback that calls the library again
 * opens a new coroutine from that INVOKE_PROC.  Closures are made once
 * per (guest function, signature) and kept, so a library may keep them
 * as long as it likes.  A closure called on a thread with no coroutine
 * running (a thread of the library's own, not a guest thread) cannot
 * run guest code: it says so once and returns 0, unless it is half of
 * an allocator pair (see "Allocator pairs" below).  When a callback
 * returns, the guest functions it wrote into structures the library
 * gave it (expat's XML_Encoding) are swapped for closures.  A guest
 * callback that never returns (longjmp out of it) leaves its coroutine
 * parked for good: a leak of one stack, as the library's frames are
 * lost too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

struct coro {
    void *sp;                   /* saved while switched out */
    void *caller;               /* the INVOKE_PROC's stack, saved */
    void (*fn)(void *);
    void *block;
    struct thunk_req *req;
    int done;
    struct coro *next;          /* in the idle list */
    void *stack;
};

/*
 * thunk_switch(save, to): save the callee-saved registers on this
 * stack and its pointer at *save, then continue on stack "to" where an
 * earlier thunk_switch saved its registers.  coro_start is where a new
 * coroutine's stack first "returns" to, with the coroutine in a
 * callee-saved register.
 */
void thunk_switch(void **save, void *to) THUNK_HIDDEN;
void coro_start(void) THUNK_HIDDEN;
void coro_main(struct coro *c) THUNK_HIDDEN __attribute__((noreturn));

#define SWITCH_START ".text\n.p2align 4\n" \
    ".globl thunk_switch\n.hidden thunk_switch\n" \
    ".globl coro_start\n.hidden coro_start\n" \
    "thunk_switch:\n"

#if defined(__x86_64__)
__asm__(SWITCH_START
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        "coro_start:\n"
        "    movq %rbx, %rdi\n"
        "    call coro_main\n"
        "    ud2\n");
/* Saved: r15 r14 r13 r12 rbx rbp, then the return address. */
#define FRAME_WORDS 7
#define FRAME_CORO 4
#define FRAME_RET 6
#elif defined(__aarch64__)
__asm__(SWITCH_START
        "    sub sp, sp, #160\n"
        "    stp x19, x20, [sp, #0]\n"
        "    stp x21, x22, [sp, #16]\n"
        "    stp x23, x24, [sp, #32]\n"
        "    stp x25, x26, [sp, #48]\n"
        "    stp x27, x28, [sp, #64]\n"
        "    stp x29, x30, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    mov sp, x1\n"
        "    ldp x19, x20, [sp, #0]\n"
        "    ldp x21, x22, [sp, #16]\n"
        "    ldp x23, x24, [sp, #32]\n"
        "    ldp x25, x26, [sp, #48]\n"
        "    ldp x27, x28, [sp, #64]\n"
        "    ldp x29, x30, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    add sp, sp, #160\n"
        "    ret\n"
        "coro_start:\n"
        "    mov x0, x19\n"
        "    bl coro_main\n"
        "    brk #0\n");
/* Saved: x19..x30, d8..d15; x19 holds the coroutine, x30 returns. */
#define FRAME_WORDS 20
#define FRAME_CORO 0
#define FRAME_RET 11
#else
#error "the thunks' host runtime switches stacks on x86_64 and aarch64 only"
#endif

static __thread struct coro *current
    __attribute__((tls_model("initial-exec")));
static __thread struct coro *idle __attribute__((tls_model("initial-exec")));
static __thread unsigned idle_count
    __attribute__((tls_model("initial-exec")));
static pthread_key_t idle_key;

void coro_main(struct coro *c)
{
    for (;;) {
        c->fn(c->block);
        c->req->state = THUNK_DONE;
        c->done = 1;
        thunk_switch(&c->sp, c->caller);
    }
}

static struct coro *coro_new(void)
{
    char *stack = mmap(NULL, CORO_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                       -1, 0);
    struct coro *c;
    void **frame;

    if (stack == MAP_FAILED) {
        return NULL;
    }
    mprotect(stack, CORO_GUARD, PROT_NONE);
    /* The coroutine itself sits at the top of its stack. */
    c = (struct coro *)(stack + CORO_STACK) - 1;
    memset(c, 0, sizeof(*c));
    c->stack = stack;
    /* The first switch to it pops this frame and "returns" to coro_start. */
    frame = (void **)(((uintptr_t)c & ~(uintptr_t)15) - FRAME_WORDS * 8);
    memset(frame, 0, FRAME_WORDS * 8);
    frame[FRAME_CORO] = c;
    frame[FRAME_RET] = (void *)coro_start;
    c->sp = frame;
    return c;
}

static void coro_free_idle(void *unused)
{
    while (idle) {
        struct coro *c = idle;

        idle = c->next;
        munmap(c->stack, CORO_STACK);
    }
    idle_count = 0;
}

/* Run c until it finishes or parks for a callback. */
static void coro_enter(struct coro *c)
{
    current = c;
    thunk_switch(&c->caller, c->sp);
    current = NULL;
    if (c->done) {
        if (idle_count < CORO_IDLE) {
            if (!idle) {
                pthread_setspecific(idle_key, c);
            }
            c->next = idle;
            idle = c;
            idle_count++;
        } else {
            munmap(c->stack, CORO_STACK);
        }
    }
}

void thunk_run(void (*fn)(void *), void *block, void *req)
{
    struct coro *c = idle;

    if (c) {
        idle = c->next;
        idle_count--;
    } else {
        c = coro_new();
    }
    if (!c) {
        /* No memory for a stack: run here; a callback will say so. */
        fn(block);
        ((struct thunk_req *)req)->state = THUNK_DONE;
        return;
    }
    c->fn = fn;
    c->block = block;
    c->req = req;
    c->done = 0;
    coro_enter(c);
}

/* INVOKE_PROC(resume, req, NULL): the guest ran the callback. */
static void thunk_resume(void *req, void *unused)
{
    coro_enter(((struct thunk_req *)req)->coro);
}

/* Closures */

struct closure {
    void *guest;                /* the guest function */
    void *code;                 /* what the host library calls */
    unsigned sig;
    unsigned role;              /* 0, THUNK_ALLOC or THUNK_FREE */
    int adapted;                /* guest is the guest's malloc or free */
    int warned;
};

/*
 * Tables, read without a lock and only ever added to: guest function
 * (with signature and role) to closure code, which also maps host
 * functions and closures to themselves; closure code to guest
 * function; the closures that stand for a NULL half of an allocator
 * pair (the guest's malloc or free) to themselves.
 */
struct mapping {
    void *key;
    unsigned sig;
    void *value;
    struct mapping *next;
};

#define BUCKETS 1024
static struct mapping *to_host[BUCKETS], *to_guest[BUCKETS];
static struct mapping *stand_ins[BUCKETS];
static pthread_mutex_t closure_lock = PTHREAD_MUTEX_INITIALIZER;
static ffi_cif *cifs;
static void *guest_malloc, *guest_free;

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

static void add(struct mapping **table, void *key, unsigned sig, void *value)
{
    struct mapping *m = malloc(sizeof(*m));
    unsigned b = bucket(key, sig);

    if (!m) {
        return;
    }
    m->key = key;
    m->sig = sig;
    m->value = value;
    pthread_mutex_lock(&table_lock);
    m->next = table[b];
    __atomic_store_n(&table[b], m, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&table_lock);
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
    req->coro = c;
    req->state = THUNK_CALLBACK;
    if (thunk_counting) {
        __atomic_fetch_add(&callbacks, 1, __ATOMIC_RELAXED);
    }
    thunk_switch(&c->sp, c->caller);
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
static void defer(void *fn, unsigned sig, unsigned nargs, ffi_type **types,
                  void **args)
{
    struct deferred *d = calloc(1, sizeof(*d));

    if (!d || nargs > DEFERRED_ARGS) {
        fprintf(stderr, "dlcall-thunks: %s: cannot keep a guest free() "
                "requested from a thread of the library's own: a leak\n",
                thunk_host_lib.soname);
        free(d);
        return;
    }
    d->fn = fn;
    d->sig = sig;
    for (unsigned i = 0; i < nargs; i++) {
        memcpy(&d->values[i], args[i], types[i]->size);
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
    void *block = NULL, *one[1];
    size_t size = 0;

    if (cl->role == THUNK_FREE) {
        block = freed_block(cif, args);
        if (forget(block)) {
            free(block);
            return;
        }
    } else if (cl->role == THUNK_ALLOC) {
        size = alloc_size(cif, args);
    }
    if (!c) {
        if (cl->role == THUNK_ALLOC) {
            void *p = size == SIZE_MAX ? NULL : malloc(size ? size : 1);

            if (p) {
                remember(p);
            }
            memcpy(ret, &p, sizeof(p));
        } else if (cl->role == THUNK_FREE && cl->adapted) {
            one[0] = &block;
            defer(cl->guest, thunk_host_lib.free_sig, 1,
                  (ffi_type *[]){ &ffi_type_pointer }, one);
        } else if (cl->role == THUNK_FREE) {
            defer(cl->guest, cl->sig, cif->nargs, cif->arg_types, args);
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
    if (cl->adapted) {
        /* The guest's malloc(size) or free(block). */
        one[0] = cl->role == THUNK_ALLOC ? (void *)&size : (void *)&block;
        call_guest(c, cl->guest, cl->role == THUNK_ALLOC ?
                   thunk_host_lib.malloc_sig : thunk_host_lib.free_sig,
                   one, result);
    } else {
        call_guest(c, cl->guest, cl->sig, args, result);
        for (unsigned i = 0; s->outs && i < cif->nargs; i++) {
            if (s->outs[i]) {
                thunk_swap_in(*(void **)args[i], s->outs[i]);
            }
        }
    }
    widen(cif->rtype, result, ret);
}

/* The closure for guest function fn, of signature sig, in role role. */
static void *closure(void *fn, unsigned sig, unsigned role, int adapted)
{
    unsigned key = sig | role << 16 | adapted << 20;
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
    if (!adapted && (lookup(to_guest, fn, 0) || lookup(stand_ins, fn, 0) ||
                     dladdr(fn, &info))) {
        code = fn;
        add(to_host, fn, key, fn);
        goto out;
    }
    cl = calloc(1, sizeof(*cl));
    fc = ffi_closure_alloc(sizeof(ffi_closure), &code);
    if (!cl || !fc || ffi_prep_closure_loc(fc, &cifs[sig], closure_called,
                                           cl, code) != FFI_OK) {
        fprintf(stderr, "dlcall-thunks: %s: cannot make a closure for guest "
                "function %p\n", thunk_host_lib.soname, fn);
        abort();
    }
    cl->guest = fn;
    cl->code = code;
    cl->sig = sig;
    cl->role = role;
    cl->adapted = adapted;
    if (adapted) {
        add(stand_ins, code, 0, code);
    } else {
        add(to_guest, code, 0, fn);
    }
    add(to_host, code, key, code);
    add(to_host, fn, key, code);
out:
    pthread_mutex_unlock(&closure_lock);
    return code;
}

void *thunk_closure(void *fn, unsigned sig)
{
    return closure(fn, sig, 0, 0);
}

/* Is p a guest function (or a closure of one), not the host's? */
static int is_guest(void *p)
{
    Dl_info info;

    return lookup(to_guest, p, 0) || !dladdr(p, &info);
}

void thunk_swap_in(void *p, const struct thunk_field *f)
{
    for (; p && f->kind != THUNK_END; f++) {
        void **slot = (void **)((char *)p + f->offset);
        unsigned role = f->role & (THUNK_ALLOC | THUNK_FREE);
        void *other;

        switch (f->kind) {
        case THUNK_FN:
            other = *(void **)((char *)slot + f->partner);
            if (!*slot && (f->role & THUNK_LIBC) && other && is_guest(other)) {
                /* The library would use libc's: the guest's it must be. */
                *slot = closure(role == THUNK_ALLOC ? guest_malloc :
                                guest_free, f->sig, role, 1);
            } else {
                *slot = closure(*slot, f->sig, role, 0);
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
        } else if (*slot && lookup(stand_ins, *slot, 0)) {
            *slot = NULL;
        } else if (*slot && (guest = lookup(to_guest, *slot, 0))) {
            *slot = guest;
        }
    }
}

/*
 * Shadows: for each const structure of the guest's that holds guest
 * functions, a copy that holds closures.  The library may keep the
 * pointer, so copies are never freed; a new one is made when the
 * guest's structure changed.
 */
struct shadow {
    void *copy;
    uint32_t size;
    unsigned char original[];
};
static struct mapping *shadows[BUCKETS];

void *thunk_shadow(const void *p, uint32_t size,
                   const struct thunk_field *fields)
{
    void *guest = (void *)p;
    struct shadow *s;

    if (!p || lookup(to_guest, guest, 0)) {
        return guest;                   /* NULL, or already a shadow */
    }
    s = lookup(shadows, guest, size);
    if (s && !memcmp(s->original, p, size)) {
        return s->copy;
    }
    s = malloc(sizeof(*s) + size);
    if (!s || !(s->copy = malloc(size))) {
        fprintf(stderr, "dlcall-thunks: %s: out of memory\n",
                thunk_host_lib.soname);
        abort();
    }
    s->size = size;
    memcpy(s->original, p, size);
    memcpy(s->copy, p, size);
    thunk_swap_in(s->copy, fields);
    add(to_guest, s->copy, 0, guest);
    add(shadows, guest, size, s);
    return s->copy;
}

/* A guest may fork while another of its threads holds a lock. */
static void prefork(void)
{
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

/* Resolve everything, or say in b->error why not. */
static int bind_all(struct thunk_bind *b)
{
    const struct thunk_host_lib *lib = &thunk_host_lib;
    static void *handle;
    struct link_map *map = NULL;

    if (b->abi != THUNK_ABI) {
        snprintf(b->error, sizeof(b->error), "the drop-in speaks thunk ABI "
                 "%u, the host library %u: rebuild them together",
                 b->abi, THUNK_ABI);
        return 0;
    }
    if (b->sigs != lib->nsigs || strcmp(b->sig_digest, lib->sig_digest)) {
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
    if (!cifs) {
        cifs = calloc(lib->nsigs + 1, sizeof(*cifs));
        for (unsigned i = 0; i < lib->nsigs; i++) {
            const struct thunk_sig *s = &lib->sigs[i];

            if (ffi_prep_cif(&cifs[i], FFI_DEFAULT_ABI, s->nargs, s->ret,
                             s->args) != FFI_OK) {
                snprintf(b->error, sizeof(b->error), "libffi cannot describe "
                         "callback signature %u", i);
                return 0;
            }
        }
        pthread_key_create(&idle_key, coro_free_idle);
        pthread_atfork(prefork, postfork, postfork);
    }
    return 1;
}

__attribute__((visibility("default"))) void thunk_bind(void *arg, void *unused)
{
    struct thunk_bind *b = arg;

    b->ok = bind_all(b);
    if (b->ok) {
        guest_malloc = b->guest_malloc;
        guest_free = b->guest_free;
        b->resume = (void *)thunk_resume;
        b->stats = (void *)thunk_stats;
        thunk_counting = b->debug;
    }
}
