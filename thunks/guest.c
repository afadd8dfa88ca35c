/*
 * Guest runtime of the thunks, linked into every guest drop-in library.
 *
 * At start-up (the drop-in's constructor, or the first call if another
 * library's constructor comes first) it chooses one of two paths for
 * the whole library, never a mix:
 *
 * - the host path: dlcall is there, the host library <name>.so loads
 *   (from the first directory of $DLCALL_THUNKS_HOST_DIR, a list
 *   separated by ':', that has it, or from THUNK_HOST_DIR), and it
 *   finds every function in the host's real library with the symbol
 *   version the guest's library has.  Each stub then makes one
 *   INVOKE_PROC; a call that may call back returns early with a request
 *   to run a guest function, and resumes with another INVOKE_PROC (the
 *   generated thunk_callbacks()).
 * - the fallback: everything else (no plugin, a native run, guest_base
 *   not 0, a host library older than the guest's: one without a
 *   function or symbol version the guest's has, or, where the library's
 *   file names its version function, one whose version is lower).  The
 *   drop-in then forwards every function to the guest's own real
 *   library, opened by its path in the guest's library directory.
 *
 * The guest's own library is opened (with RTLD_LOCAL) also on the host
 * path when functions are kept in the guest, or to compare versions.
 * Its calls of its own exported functions go, as the library was built
 * for, through the global scope: to the drop-in, which sends them to
 * the host (so a kept function's work runs there), or back to the real
 * library in fallback.
 *
 * Silent, unless DLCALL_THUNKS_DEBUG is set (and not "0"): then it says
 * which path it took and why, and at exit how many calls and callbacks
 * ran on the host: on stderr, or appended to the file it names if it
 * starts with "/".  DLCALL_THUNKS_GUEST_LIBDIR names another directory
 * where the guest's own library may be (tried first).
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
#include <unistd.h>

#include "guest.h"

#ifndef THUNK_HOST_DIR
#error "build with -DTHUNK_HOST_DIR=\"/absolute/path/of/the/host/libraries\""
#endif

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#elif defined(__riscv)
#define MULTIARCH "riscv64-linux-gnu"
#elif defined(__powerpc64__)
#define MULTIARCH "powerpc64le-linux-gnu"
#else
#error "no multiarch directory known for this guest"
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void say(struct thunk_lib *lib, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct thunk_lib *lib, const char *fmt, ...)
{
    const char *to = getenv("DLCALL_THUNKS_DEBUG");
    FILE *file = to && *to == '/' ? fopen(to, "a") : NULL;
    FILE *f = file ? file : stderr;
    va_list ap;

    flockfile(f);
    fprintf(f, "dlcall-thunks: %s: ", lib->soname);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    funlockfile(f);
    if (file) {
        fclose(file);
    }
}

/* Take the host path, or say in why[] why not. */
static int host_path(struct thunk_lib *lib, char *why, size_t size)
{
    const char *dir = getenv("DLCALL_THUNKS_HOST_DIR");
    const char *err = NULL;
    struct thunk_bind bind;
    char path[4096];
    void *handle = NULL, *entry = NULL;

    if (!dlcall_available()) {
        snprintf(why, size, "dlcall is not there (not under QEMU, no "
                 "dlcall plugin, or guest_base is not 0)");
        return 0;
    }
    /* The first of the directories (a:b:c) that has it. */
    for (dir = dir && *dir ? dir : THUNK_HOST_DIR;; dir++) {
        int n = (int)strcspn(dir, ":");

        snprintf(path, sizeof(path), "%.*s/%s.so", n, dir, lib->name);
        if (!dlcall_load_library(path, RTLD_NOW | RTLD_LOCAL, &handle) &&
            handle) {
            break;
        }
        dir += n;
        if (!*dir) {
            break;
        }
    }
    if (!handle ||
        dlcall_get_proc_address(handle, THUNK_BIND_SYMBOL, &entry) || !entry) {
        dlcall_get_library_error(&err);
        snprintf(why, size, "cannot use the host library %.4000s: %.2000s",
                 path, err ? err : "unknown error");
        return 0;
    }

    memset(&bind, 0, sizeof(bind));
    bind.abi = THUNK_ABI;
    bind.count = lib->hosted;
    bind.sigs = lib->sigs;
    bind.debug = lib->debug;
    bind.names = lib->names;
    bind.versions = lib->versions;
    bind.protos = lib->protos;
    bind.sig_digest = lib->sig_digest;
    bind.nstandins = lib->nstandins;
    bind.standins = lib->standins;
    bind.entries = lib->entry;
    dlcall_invoke_proc(entry, &bind, NULL);
    if (!bind.ok) {
        int ret;

        memset(lib->entry, 0, lib->hosted * sizeof(void *));
        dlcall_free_library(handle, &ret);
        snprintf(why, size, "%.*s", (int)sizeof(bind.error), bind.error);
        return 0;
    }
    lib->resume = bind.resume;
    lib->stats = bind.stats;
    lib->host_handle = handle;
    lib->on_host = 1;
    if (lib->debug) {
        say(lib, "on the host: %.*s, through %s",
            (int)sizeof(bind.host_library), bind.host_library, path);
    }
    return 1;
}

/* Is this handle the drop-in itself (found under the real one's name)? */
static int is_self(void *handle)
{
    struct link_map *map = NULL;
    Dl_info self;

    return dladdr((void *)is_self, &self) &&
           !dlinfo(handle, RTLD_DI_LINKMAP, &map) && map &&
           (void *)map->l_addr == self.dli_fbase;
}

/*
 * Open the guest's own library, by path, so that the drop-in (found by
 * its SONAME through LD_LIBRARY_PATH) is not taken for it.  With -L,
 * QEMU finds these paths in the sysroot.  Locked.
 */
static void *open_real(struct thunk_lib *lib, char *tried, size_t size)
{
    const char *const dirs[] = {
        getenv("DLCALL_THUNKS_GUEST_LIBDIR"), "/usr/lib/" MULTIARCH,
        "/lib/" MULTIARCH, "/usr/lib64", "/lib64", "/usr/lib", "/lib",
    };
    char path[4096];
    size_t used = 0;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        void *handle;

        if (!dirs[i] || !*dirs[i]) {
            continue;
        }
        /* (Not access(): QEMU's -L maps open's paths, not faccessat's.) */
        snprintf(path, sizeof(path), "%s/%s", dirs[i], lib->soname);
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle && !is_self(handle)) {
            snprintf(tried, size, "%.1000s", path);
            return handle;
        }
        if (handle) {
            dlclose(handle);
        }
        used += snprintf(tried + used, used < size ? size - used : 0,
                         "%s%.1000s", used ? ", " : "", path);
    }
    return NULL;
}

/*
 * Fill real[] from the guest's own library; 0 if it is not there
 * (where[] then says where it was looked for).  Locked.
 */
static int load_real(struct thunk_lib *lib, char *where, size_t size)
{
    if (lib->real_handle) {
        return 1;
    }
    lib->real_handle = open_real(lib, where, size);
    if (!lib->real_handle) {
        return 0;
    }
    lib->real_path = strdup(where);
    for (unsigned i = 0; i < lib->count; i++) {
        const char *v = lib->versions[i];
        void *f = *v ? dlvsym(lib->real_handle, lib->names[i], v)
                     : dlsym(lib->real_handle, lib->names[i]);

        __atomic_store_n(&lib->real[i], f, __ATOMIC_RELEASE);
    }
    return 1;
}

/* Fill real[], or say why the program cannot run and end it.  Locked. */
static void need_real(struct thunk_lib *lib, const char *why)
{
    char where[8192];

    if (!load_real(lib, where, sizeof(where))) {
        fprintf(stderr, "dlcall-thunks: %s: cannot run: %s, and the guest's "
                "own %s is not there (tried %s)\n", lib->soname, why,
                lib->soname, where);
        _exit(127);
    }
    if (lib->debug) {
        say(lib, "%s %s: %s", lib->on_host ? "functions kept in the guest from"
            : "fallback to", lib->real_path, why);
    }
}

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * The first version number in a ("5.4.1", "expat_2.5.0", "1.0.8,
 * 13-Jul-2019") against the one in b: -1, 0 or 1.  Byte by byte: a
 * may be the host's, which only plain loads may read.
 */
static int version_cmp(const char *a, const char *b)
{
    while (*a && !digit(*a)) {
        a++;
    }
    while (*b && !digit(*b)) {
        b++;
    }
    while (digit(*a) || digit(*b)) {
        unsigned long x = 0, y = 0;

        while (digit(*a)) {
            x = x * 10 + (unsigned long)(*a++ - '0');
        }
        while (digit(*b)) {
            y = y * 10 + (unsigned long)(*b++ - '0');
        }
        if (x != y) {
            return x < y ? -1 : 1;
        }
        a += *a == '.' && digit(a[1]);
        b += *b == '.' && digit(b[1]);
    }
    return 0;
}

/*
 * On the host path, with a version function: is the host's library at
 * least as new as the guest's?  If not, why[] says so.  Locked.
 */
static int new_enough(struct thunk_lib *lib, char *why, size_t size)
{
    unsigned v = lib->version - 1;
    struct {
        const char *r;
    } b = { NULL };
    const char *guest;
    char host[64], where[8192];
    size_t n = 0;

    if (!load_real(lib, where, sizeof(where))) {
        if (lib->debug) {
            say(lib, "no guest library to compare versions with (tried %s)",
                where);
        }
        return 1;
    }
    guest = lib->real[v] ? ((const char *(*)(void))lib->real[v])() : NULL;
    dlcall_invoke_proc(lib->entry[v], &b, NULL);
    if (!guest || !b.r || version_cmp(b.r, guest) >= 0) {
        return 1;
    }
    while (n < sizeof(host) - 1 && b.r[n]) {
        host[n] = b.r[n];
        n++;
    }
    host[n] = 0;
    snprintf(why, size, "the host's %s is version \"%s\", older than the "
             "guest's \"%.100s\"", lib->soname, host, guest);
    return 0;
}

void thunk_start(struct thunk_lib *lib)
{
    const char *debug;
    char why[8192];

    if (__atomic_load_n(&lib->started, __ATOMIC_ACQUIRE)) {
        return;
    }
    pthread_mutex_lock(&lock);
    if (!lib->started) {
        debug = getenv("DLCALL_THUNKS_DEBUG");
        lib->debug = debug && *debug && strcmp(debug, "0");
        if (host_path(lib, why, sizeof(why)) && lib->version &&
            !new_enough(lib, why, sizeof(why))) {
            int ret;

            memset(lib->entry, 0, lib->hosted * sizeof(void *));
            dlcall_free_library(lib->host_handle, &ret);
            lib->on_host = 0;
        }
        if (!lib->on_host) {
            need_real(lib, why);
        } else if (lib->kept) {
            need_real(lib, "kept in the guest");
        }
        __atomic_store_n(&lib->started, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

/* Function i has no entry and no real function yet. */
void thunk_need(struct thunk_lib *lib, unsigned i)
{
    thunk_start(lib);
    pthread_mutex_lock(&lock);
    if (!lib->entry[i] && !lib->real[i]) {
        need_real(lib, "kept in the guest");
    }
    pthread_mutex_unlock(&lock);
    if (!lib->entry[i] && !lib->real[i]) {
        fprintf(stderr, "dlcall-thunks: %s: %s%s%s is neither on the host nor "
                "in the guest's own library\n", lib->soname, lib->names[i],
                *lib->versions[i] ? "@" : "", lib->versions[i]);
        abort();
    }
}

/* A function kept in the guest was called before thunk_start(). */
void thunk_early(void)
{
    fprintf(stderr, "dlcall-thunks: a function kept in the guest was "
            "called before its drop-in library started\n");
    abort();
}

/*
 * The host call is parked for another reason than a callback (see
 * struct thunk_req).  For a fault, make the same access, so that the
 * guest takes the signal the kernel would have given for it (a write
 * is an atomic OR of 0 into the aligned word that holds the byte, which
 * changes nothing), or raise the signal; its handler runs, and the host
 * then runs the instruction again.  A signal that
 * interrupted the call was delivered when INVOKE_PROC returned.
 */
void thunk_signal(struct thunk_lib *lib, struct thunk_req *req)
{
    volatile unsigned char *at = req->addr;

    switch (req->state) {
    case THUNK_FAULT:
        /* The host's numbers: the same on every guest served. */
        if (req->signo != SIGSEGV && req->signo != SIGBUS) {
            raise(req->signo);
        } else if (req->write) {
            /* Every guest has word atomics; not all have byte ones. */
            __atomic_fetch_or((uint32_t *)((uintptr_t)at & ~(uintptr_t)3),
                              0, __ATOMIC_RELAXED);
        } else {
            (void)*at;
        }
        break;
    case THUNK_INTERRUPTED:
        break;
    default:
        fprintf(stderr, "dlcall-thunks: %s: the host library asked for a "
                "callback of signature %u, which the drop-in does not have\n",
                lib->soname, req->sig);
        abort();
    }
}

void thunk_stop(struct thunk_lib *lib)
{
    struct thunk_stats stats = { 0, 0 };

    if (lib->debug && lib->on_host) {
        dlcall_invoke_proc(lib->stats, &stats, NULL);
        /* The program's calls: not the one that compared versions. */
        stats.calls -= lib->version && stats.calls;
        say(lib, "%llu calls and %llu callbacks ran on the host",
            (unsigned long long)stats.calls,
            (unsigned long long)stats.callbacks);
    }
}
