/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * dlcall - let a linux-user guest call functions of host libraries
 *
 * A guest running under qemu-user issues one made-up system call,
 * syscall_num (4096 unless the "syscall_num=N" option says otherwise),
 * and this plugin's system call filter serves it on the host: it can
 * dlopen a host library, dlsym a function in it and call that function
 * on the guest's own memory at native speed.
 *
 * Calling convention: a1 is the operation ID and a2..a4 its operands.
 * Results come back through out pointers; the system call itself
 * returns 0 when the operation ran, -EINVAL for an unknown ID, -EFAULT
 * for a pointer operand the guest could not use (see below),
 * -ENAMETOOLONG for a string longer than 64 KiB, NUL included, and
 * -ENOSYS when dlcall cannot serve this guest at all.
 *
 *   ID  operation            a2              a3              a4
 *   0   GET_HOST_ATTRIBUTE   const char *key const char **value_out
 *   1   LOAD_LIBRARY         const char *path int flags      void **handle_out
 *   2   GET_PROC_ADDRESS     void *handle    const char *name void **entry_out
 *   3   FREE_LIBRARY         void *handle    int *ret_out
 *   4   GET_LIBRARY_ERROR    const char **error_out
 *   5   INVOKE_PROC          void (*proc)(void *, void *) void *a  void *b
 *
 * GET_HOST_ATTRIBUTE gives "qemu" for the key "emu" and NULL for any
 * other key.  LOAD_LIBRARY, GET_PROC_ADDRESS and FREE_LIBRARY behave
 * like dlopen (a NULL path gives the main program), dlsym (RTLD_DEFAULT
 * and RTLD_NEXT included) and dlclose.  GET_LIBRARY_ERROR returns once,
 * as dlerror does, the message of the calling thread's last failure:
 * one of these operations, or a dl function that host code run by
 * INVOKE_PROC called on the same thread.  FREE_LIBRARY refuses a handle
 * that LOAD_LIBRARY did not return or that is already closed.
 * INVOKE_PROC calls proc(a, b) on the host.  Strings and values handed
 * to the guest live in host memory: the guest can read them with any
 * instruction and pass them to its own system calls (write(2) of an
 * error message, say), as it can any memory its loads reach.
 *
 * Guest memory: the management operations (all but INVOKE_PROC) treat
 * their pointer operands as the kernel treats a system call's.  An
 * operand the guest could not access itself (unmapped, protected
 * against that access, such as a read-only, execute-only or guard page
 * for an out pointer, or a file mapping past the end of its file) gives
 * -EFAULT, with nothing written and nothing done.  Strings are read up
 * to their NUL wherever they start.  Whatever the guest passes, and
 * whatever its other threads do meanwhile, QEMU neither crashes nor
 * hangs: no lock is held while a library's code runs, so constructors
 * and destructors may block or fork, and guest threads may fork while
 * another one waits in dlopen.  One outcome depends on other threads:
 * if one unmaps or protects an out pointer during the call, the
 * operation may have taken effect and still return -EFAULT, as the
 * kernel allows.  Then nothing leaks and nothing is corrupted: no value
 * is ever written in part, LOAD_LIBRARY closes the library again,
 * FREE_LIBRARY has closed it, GET_LIBRARY_ERROR keeps its message for
 * the next call.  (LOAD_LIBRARY and FREE_LIBRARY store NULL or 0 before
 * they act, so that an out pointer that cannot take a result stops them
 * first; that value may be what such a call leaves.)  A library closed
 * while another thread runs its code through INVOKE_PROC is the guest's
 * error, as it would be natively.
 *
 * Guest requirements: pointers pass between guest and host untouched,
 * so the guest must be 64-bit little-endian like the host, and its
 * guest_base must be 0 (qemu-user's default for such guests; -B or
 * QEMU_GUEST_BASE break it).  The plugin refuses to load for other
 * targets and answers -ENOSYS, with one message, if guest_base is not 0.
 *
 * Signals: a host library that this plugin loads may export
 *
 *   int dlcall_host_signal(int signo, siginfo_t *info, void *context);
 *
 * which is called, in signal handler context, for every host signal that
 * a guest thread takes while it runs host code through INVOKE_PROC (or
 * any operation), in the order the libraries were loaded, until one
 * returns non-zero.  A fault of that code (SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGTRAP raised by an instruction) that a function returns
 * non-zero for counts as dealt with, and the instruction runs again; if
 * none does, QEMU reports it as an internal error, as it would without
 * dlcall.  Any other signal is pending for the guest already, which gets
 * it when the system call returns: a library can use this to return
 * early from a long call.  The function may switch stacks and return
 * later (see qemu_plugin_register_vcpu_syscall_filter_signal_cb()).  A
 * library that exports it is never unloaded.
 *
 * The system call number belongs to this plugin: a guest that probes for
 * a system call at that number (4096 by default) gets -EINVAL for an
 * operation ID it does not know, not -ENOSYS.
 *
 * WARNING: this is not a sandbox.  A guest that can use dlcall can run
 * any host code with the rights of the QEMU process.  The management
 * operations check their pointer operands, but nothing can check what a
 * host function called by INVOKE_PROC does with its arguments.
 */

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum dlcall_op {
    DLCALL_GET_HOST_ATTRIBUTE = 0,
    DLCALL_LOAD_LIBRARY = 1,
    DLCALL_GET_PROC_ADDRESS = 2,
    DLCALL_FREE_LIBRARY = 3,
    DLCALL_GET_LIBRARY_ERROR = 4,
    DLCALL_INVOKE_PROC = 5,
};

#define DLCALL_DEFAULT_SYSCALL 4096
/* Lower numbers could be real system calls on some target. */
#define DLCALL_MIN_SYSCALL 4096

/*
 * Longest string a guest can pass, NUL included: well beyond PATH_MAX,
 * for C++ symbol names, which can be longer than a page.
 */
#define DLCALL_MAX_STRING (64 * 1024)

/* Targets whose pointers a 64-bit little-endian host can take as they are. */
static const char *const supported_targets[] = {
    "x86_64", "aarch64", "riscv64", "ppc64le", NULL
};

static int64_t syscall_num = DLCALL_DEFAULT_SYSCALL;

/* guest_base as learnt from the first translation: see vcpu_tb_trans(). */
enum { BASE_UNKNOWN, BASE_ZERO, BASE_NONZERO };
static int guest_base_state = BASE_UNKNOWN;
static uint64_t guest_base;

/*
 * What the plugin knows of each handle that LOAD_LIBRARY returned:
 * how many LOAD_LIBRARY references the guest holds, how many
 * GET_PROC_ADDRESS calls are using it, and how many dlclose() calls
 * wait for them to finish.  handles_lock guards the table and is only
 * held to update it, never across dlopen(), dlsym() or dlclose(), which
 * run library code that may block or fork.
 */
typedef struct {
    unsigned loads;
    unsigned users;
    unsigned closes;
} Handle;

static GMutex handles_lock;
static GHashTable *handles;

/*
 * The libraries' dlcall_host_signal functions, called from signal
 * handlers: only ever added to, under handles_lock, and published by
 * the count.
 */
#define DLCALL_MAX_SIGNAL_HOOKS 64
typedef int (*SignalHook)(int signo, siginfo_t *info, void *context);
static SignalHook signal_hooks[DLCALL_MAX_SIGNAL_HOOKS];
static unsigned signal_hook_count;

/*
 * Per guest thread, as dlerror(): the last failure's message, and the
 * one GET_LIBRARY_ERROR last handed out, which must stay valid until
 * the thread asks again.
 */
typedef struct {
    char *pending;
    char *reported;
} ErrorState;

static void error_state_free(gpointer p)
{
    ErrorState *es = p;

    g_free(es->pending);
    g_free(es->reported);
    g_free(es);
}

static GPrivate error_state = G_PRIVATE_INIT(error_state_free);

static ErrorState *get_error_state(void)
{
    ErrorState *es = g_private_get(&error_state);

    if (!es) {
        es = g_new0(ErrorState, 1);
        g_private_set(&error_state, es);
    }
    return es;
}

static void set_error(char *msg)
{
    ErrorState *es = get_error_state();

    g_free(es->pending);
    es->pending = msg;
}

/*
 * Keep a message that host code left in dlerror(): a host function the
 * guest ran through INVOKE_PROC may have failed in dlopen() or dlsym(),
 * and the guest asks GET_LIBRARY_ERROR for it, as it would ask
 * dlerror().  Taken before dlcall calls the dl functions itself, which
 * would overwrite it; it is newer than any message dlcall left, since
 * dlcall takes the host's message whenever a dl function fails.
 */
static void keep_host_error(void)
{
    const char *msg = dlerror();

    if (msg) {
        set_error(g_strdup(msg));
    }
}

/*
 * Guest memory is accessed as the kernel accesses a system call's
 * pointers: what the guest could not access itself fails, nothing is
 * written then, and QEMU never takes a signal for it.
 */
static bool guest_put_ptr(uint64_t addr, const void *ptr)
{
    uint64_t val = (uintptr_t)ptr;

    return qemu_plugin_copy_to_user(addr, &val, sizeof(val));
}

/*
 * Copy the NUL-terminated guest string at addr into *out.  It is read
 * in pieces that end at page boundaries, so that a string that ends
 * just before an unmapped page is found, with small pieces first, since
 * most strings are short.  Returns 0 or a negative errno.
 */
static int guest_string(uint64_t addr, char **out)
{
    const uint64_t page = 4096;
    size_t len = 0, want = 256;
    g_autofree char *buf = g_malloc(want);

    while (len < DLCALL_MAX_STRING) {
        size_t n = MIN(MIN(want, page - (addr & (page - 1))),
                       DLCALL_MAX_STRING - len);
        char *nul;

        buf = g_realloc(buf, len + n);
        if (!qemu_plugin_copy_from_user(buf + len, addr, n)) {
            return -EFAULT;
        }
        nul = memchr(buf + len, 0, n);
        if (nul) {
            *out = g_steal_pointer(&buf);
            return 0;
        }
        len += n;
        addr += n;
        want = page;
    }
    return -ENAMETOOLONG;
}

static int get_host_attribute(uint64_t key_addr, uint64_t value_out)
{
    g_autofree char *key = NULL;
    const char *value = NULL;
    int err = guest_string(key_addr, &key);

    if (err) {
        return err;
    }
    if (g_str_equal(key, "emu")) {
        value = "qemu";
    }
    return guest_put_ptr(value_out, value) ? 0 : -EFAULT;
}

/*
 * Note the library's dlcall_host_signal, if it has one, and keep the
 * library loaded for good: a signal handler may call the function at
 * any time.
 */
static void add_signal_hook(void *handle, const char *path)
{
    SignalHook hook = (SignalHook)dlsym(handle, "dlcall_host_signal");
    bool added = false;
    unsigned i, n;

    dlerror();
    if (!hook) {
        return;
    }
    g_mutex_lock(&handles_lock);
    n = signal_hook_count;
    for (i = 0; i < n && signal_hooks[i] != hook; i++) {
        continue;
    }
    if (i == n && n < DLCALL_MAX_SIGNAL_HOOKS) {
        signal_hooks[n] = hook;
        g_atomic_int_set(&signal_hook_count, n + 1);
        added = true;
    } else if (i == n) {
        fprintf(stderr, "dlcall: more than %d libraries export "
                "dlcall_host_signal: %s is not told of signals\n",
                DLCALL_MAX_SIGNAL_HOOKS, path ? path : "the main program");
    }
    g_mutex_unlock(&handles_lock);
    if (added) {
        dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
}

/* One more LOAD_LIBRARY reference to handle. */
static void handle_loaded(void *handle)
{
    Handle *h;

    g_mutex_lock(&handles_lock);
    h = g_hash_table_lookup(handles, handle);
    if (!h) {
        h = g_new0(Handle, 1);
        g_hash_table_insert(handles, handle, h);
    }
    h->loads++;
    g_mutex_unlock(&handles_lock);
}

/* Forget handle once nothing refers to it any more; locked. */
static void handle_drop_unused(void *handle, Handle *h)
{
    if (!h->loads && !h->users && !h->closes) {
        g_hash_table_remove(handles, handle);
    }
}

/*
 * Take a use of a handle LOAD_LIBRARY returned and the guest has not
 * freed: false if there is no such handle.
 */
static bool handle_use(void *handle)
{
    Handle *h;

    g_mutex_lock(&handles_lock);
    h = g_hash_table_lookup(handles, handle);
    if (h && h->loads) {
        h->users++;
    }
    g_mutex_unlock(&handles_lock);
    return h && h->loads;
}

/* Give a use back, running the dlclose() calls that waited for it. */
static void handle_unuse(void *handle)
{
    unsigned closes = 0;
    Handle *h;

    g_mutex_lock(&handles_lock);
    h = g_hash_table_lookup(handles, handle);
    if (!--h->users) {
        closes = h->closes;
        h->closes = 0;
        handle_drop_unused(handle, h);
    }
    g_mutex_unlock(&handles_lock);

    while (closes--) {
        dlclose(handle);
    }
}

/*
 * Drop a LOAD_LIBRARY reference: -1 if there is none, 1 if the caller
 * must dlclose() it now, 0 if a user in another thread will.
 */
static int handle_free(void *handle)
{
    int ret = -1;
    Handle *h;

    g_mutex_lock(&handles_lock);
    h = g_hash_table_lookup(handles, handle);
    if (h && h->loads) {
        h->loads--;
        if (h->users) {
            h->closes++;
            ret = 0;
        } else {
            ret = 1;
        }
        handle_drop_unused(handle, h);
    }
    g_mutex_unlock(&handles_lock);
    return ret;
}

static int load_library(uint64_t path_addr, int flags, uint64_t handle_out)
{
    g_autofree char *path = NULL;
    void *handle;

    /* A NULL path is the main program, as for dlopen(). */
    if (path_addr) {
        int err = guest_string(path_addr, &path);

        if (err) {
            return err;
        }
    }
    /* Nothing is done if handle_out cannot take the result. */
    if (!guest_put_ptr(handle_out, NULL)) {
        return -EFAULT;
    }

    keep_host_error();
    handle = dlopen(path, flags);
    if (!handle) {
        set_error(g_strdup(dlerror()));
        return 0;
    }
    if (!guest_put_ptr(handle_out, handle)) {
        /* Another thread unmapped handle_out meanwhile: undo the load. */
        dlclose(handle);
        return -EFAULT;
    }
    handle_loaded(handle);
    add_signal_hook(handle, path);
    return 0;
}

static int get_proc_address(void *handle, uint64_t name_addr,
                            uint64_t entry_out)
{
    g_autofree char *name = NULL;
    char *msg = NULL;
    void *entry = NULL;
    bool special = handle == RTLD_DEFAULT || handle == RTLD_NEXT;
    int err = guest_string(name_addr, &name);

    if (err) {
        return err;
    }

    if (!special && !handle_use(handle)) {
        msg = g_strdup_printf("dlcall: %p is not a handle from LOAD_LIBRARY, "
                              "or it is closed", handle);
    } else {
        keep_host_error();
        entry = dlsym(handle, name);
        if (!entry) {
            const char *why = dlerror();

            msg = g_strdup(why ? why : "dlcall: symbol has the value NULL");
        }
        if (!special) {
            handle_unuse(handle);
        }
    }

    if (!guest_put_ptr(entry_out, entry)) {
        g_free(msg);
        return -EFAULT;
    }
    if (msg) {
        set_error(msg);
    }
    return 0;
}

static int free_library(void *handle, uint64_t ret_out)
{
    int32_t ret = 0;

    /* Nothing is done if ret_out cannot take the result. */
    if (!qemu_plugin_copy_to_user(ret_out, &ret, sizeof(ret))) {
        return -EFAULT;
    }

    switch (handle_free(handle)) {
    case -1:
        set_error(g_strdup_printf("dlcall: %p is not a handle from "
                                  "LOAD_LIBRARY, or it is already closed",
                                  handle));
        ret = -1;
        break;
    case 1:
        keep_host_error();
        ret = dlclose(handle);
        if (ret) {
            set_error(g_strdup(dlerror()));
        }
        break;
    }

    /*
     * The library is closed even if the result cannot be written: only
     * possible when another thread unmaps ret_out during the call.
     */
    if (ret && !qemu_plugin_copy_to_user(ret_out, &ret, sizeof(ret))) {
        return -EFAULT;
    }
    return 0;
}

static int get_library_error(uint64_t error_out)
{
    ErrorState *es = get_error_state();

    keep_host_error();
    /* The message is only handed out, and forgotten, once written. */
    if (!guest_put_ptr(error_out, es->pending)) {
        return -EFAULT;
    }
    g_free(es->reported);
    es->reported = g_steal_pointer(&es->pending);
    return 0;
}

/*
 * The guest's pointers are host pointers only if guest_base is 0.
 * Learn it from the first translated instruction: the difference
 * between where the host keeps it and its guest address.
 */
static void vcpu_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    struct qemu_plugin_insn *insn;
    uintptr_t haddr;

    if (g_atomic_int_get(&guest_base_state) != BASE_UNKNOWN) {
        return;
    }
    insn = qemu_plugin_tb_get_insn(tb, 0);
    haddr = (uintptr_t)qemu_plugin_insn_haddr(insn);
    if (haddr) {
        guest_base = haddr - qemu_plugin_insn_vaddr(insn);
        g_atomic_int_set(&guest_base_state,
                         guest_base ? BASE_NONZERO : BASE_ZERO);
    }
}

/* Explain once why every dlcall fails; the guest only sees -ENOSYS. */
static G_GNUC_NO_INLINE void refuse_guest(void)
{
    static int warned;

    if (g_atomic_int_compare_and_exchange(&warned, 0, 1)) {
        fprintf(stderr, "dlcall: guest_base is 0x%" PRIx64 ", not 0, so "
                "guest pointers are not host pointers (do not use -B or "
                "QEMU_GUEST_BASE): every dlcall fails with ENOSYS\n",
                guest_base);
    }
}

/* The management operations: rare, so kept out of the filter's way. */
static G_GNUC_NO_INLINE int64_t dlcall_manage(uint64_t op, uint64_t a2,
                                              uint64_t a3, uint64_t a4)
{
    switch (op) {
    case DLCALL_GET_HOST_ATTRIBUTE:
        return get_host_attribute(a2, a3);
    case DLCALL_LOAD_LIBRARY:
        return load_library(a2, (int)a3, a4);
    case DLCALL_GET_PROC_ADDRESS:
        return get_proc_address((void *)(uintptr_t)a2, a3, a4);
    case DLCALL_FREE_LIBRARY:
        return free_library((void *)(uintptr_t)a2, a3);
    case DLCALL_GET_LIBRARY_ERROR:
        return get_library_error(a2);
    default:
        return -EINVAL;
    }
}

/*
 * Runs for every system call the guest makes: anything but syscall_num
 * passes straight on, and INVOKE_PROC goes straight to the host call.
 */
static bool dlcall_filter(unsigned int vcpu_index, int64_t num,
                          uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                          uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8,
                          int64_t *sysret, void *userdata)
{
    if (num != syscall_num) {
        return false;
    }

    if (G_UNLIKELY(g_atomic_int_get(&guest_base_state) != BASE_ZERO)) {
        refuse_guest();
        *sysret = -ENOSYS;
    } else if (a1 == DLCALL_INVOKE_PROC) {
        if (a2) {
            ((void (*)(void *, void *))(uintptr_t)a2)((void *)(uintptr_t)a3,
                                                      (void *)(uintptr_t)a4);
            *sysret = 0;
        } else {
            *sysret = -EFAULT;
        }
    } else {
        *sysret = dlcall_manage(a1, a2, a3, a4);
    }
    return true;
}

/*
 * A host signal reached a guest thread while one of the operations ran:
 * offer it to the libraries that want to know.
 */
static bool dlcall_signal(unsigned int vcpu_index, int signo, void *info,
                          void *context, void *userdata)
{
    unsigned n = g_atomic_int_get(&signal_hook_count);

    for (unsigned i = 0; i < n; i++) {
        if (signal_hooks[i](signo, info, context)) {
            return true;
        }
    }
    return false;
}

/*
 * A guest may fork while another of its threads holds the lock: take it
 * around fork() so that the child does not inherit it locked.  It is
 * only ever held for a table update, so fork() does not wait for long.
 */
static void prefork(void)
{
    g_mutex_lock(&handles_lock);
}

static void postfork(void)
{
    g_mutex_unlock(&handles_lock);
}

static void count_open(gpointer key, gpointer value, gpointer count)
{
    *(unsigned *)count += ((Handle *)value)->loads != 0;
}

/* For the plugin log (-d plugin): a guest that closes what it opens gets 0. */
static void plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    g_autofree char *msg = NULL;
    unsigned open = 0;

    g_mutex_lock(&handles_lock);
    g_hash_table_foreach(handles, count_open, &open);
    g_mutex_unlock(&handles_lock);
    msg = g_strdup_printf("dlcall: %u library handles open at exit\n", open);
    qemu_plugin_outs(msg);
}

/* Parse "syscall_num=N"; returns false after saying what is wrong. */
static bool parse_syscall_num(const char *value)
{
    guint64 n;
    char *end;

    if (!value || !*value) {
        fprintf(stderr, "dlcall: syscall_num needs a value\n");
        return false;
    }
    if (!g_ascii_isdigit(value[0])) {
        fprintf(stderr, "dlcall: syscall_num=%s is not a non-negative "
                "number\n", value);
        return false;
    }
    errno = 0;
    n = g_ascii_strtoull(value, &end, 0);
    if (*end) {
        fprintf(stderr, "dlcall: syscall_num=%s is not a number\n", value);
        return false;
    }
    if (errno || n < DLCALL_MIN_SYSCALL || n > INT32_MAX) {
        fprintf(stderr, "dlcall: syscall_num=%s is out of range: it must be "
                "at least %d (lower numbers can be real system calls) and at "
                "most %d (QEMU passes system call numbers as int)\n",
                value, DLCALL_MIN_SYSCALL, INT32_MAX);
        return false;
    }
    syscall_num = n;
    return true;
}

static bool supported_target(const char *name)
{
    for (int i = 0; supported_targets[i]; i++) {
        if (g_str_equal(name, supported_targets[i])) {
            return true;
        }
    }
    return false;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info,
                                           int argc, char **argv)
{
    if (info->system_emulation) {
        fprintf(stderr, "dlcall: only user-mode emulation (qemu-<arch>) "
                "can use dlcall, not system emulation\n");
        return -1;
    }
    if (UINTPTR_MAX != UINT64_MAX || G_BYTE_ORDER != G_LITTLE_ENDIAN ||
        !supported_target(info->target_name)) {
        g_autofree char *list = g_strjoinv(", ", (char **)supported_targets);

        fprintf(stderr, "dlcall: guest and host must both be 64-bit "
                "little-endian; this %s guest is not one of: %s\n",
                info->target_name, list);
        return -1;
    }

    for (int i = 0; i < argc; i++) {
        g_auto(GStrv) tokens = g_strsplit(argv[i], "=", 2);

        if (g_str_equal(tokens[0], "syscall_num")) {
            if (!parse_syscall_num(tokens[1])) {
                return -1;
            }
        } else {
            fprintf(stderr, "dlcall: unknown option '%s' (the only option "
                    "is syscall_num=N)\n", argv[i]);
            return -1;
        }
    }

    handles = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    pthread_atfork(prefork, postfork, postfork);
    qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
    qemu_plugin_register_vcpu_syscall_filter_cb(id, dlcall_filter, NULL);
    qemu_plugin_register_vcpu_syscall_filter_signal_cb(id, dlcall_signal,
                                                       NULL);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
