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
 * for a NULL or unmapped pointer operand (nothing is then written) and
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
 * like dlopen, dlsym (RTLD_DEFAULT and RTLD_NEXT included) and dlclose;
 * a failure leaves a message that GET_LIBRARY_ERROR returns once, as
 * dlerror does, per guest thread.  FREE_LIBRARY refuses a handle that
 * LOAD_LIBRARY did not return or that is already closed.  INVOKE_PROC
 * calls proc(a, b) on the host.  Strings and values handed to the guest
 * live in host memory: the guest can read them, but its own system
 * calls (write(2) of an error message, say) cannot take them.
 *
 * Guest requirements: pointers pass between guest and host untouched,
 * so the guest must be 64-bit little-endian like the host, and its
 * guest_base must be 0 (qemu-user's default for such guests; -B or
 * QEMU_GUEST_BASE break it).  The plugin refuses to load for other
 * targets and answers -ENOSYS, with one message, if guest_base is not 0.
 *
 * WARNING: this is not a sandbox.  A guest that can use dlcall can run
 * any host code with the rights of the QEMU process.  The management
 * operations check their pointer operands against the guest's mappings,
 * but nothing can check what a host function called by INVOKE_PROC
 * does with its arguments.
 */

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

/* Longest string (NUL included) a guest can pass: a path. */
#define DLCALL_MAX_STRING 4096

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
 * Handles LOAD_LIBRARY returned, with how many times it returned each.
 * The lock is held across dlopen, dlsym and dlclose, so that no handle
 * is closed while another guest thread uses it.
 */
static GMutex handles_lock;
static GHashTable *handles;

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

static void G_GNUC_PRINTF(1, 2) set_error(const char *fmt, ...)
{
    ErrorState *es = get_error_state();
    va_list ap;

    va_start(ap, fmt);
    g_free(es->pending);
    es->pending = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

/*
 * Guest memory goes through QEMU's view of the guest's pages, so an
 * unmapped address fails cleanly instead of faulting in the host.
 */
static bool guest_readable(uint64_t addr, size_t len)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();

    return addr && qemu_plugin_read_memory_vaddr(addr, buf, len);
}

static bool guest_write(uint64_t addr, const void *val, size_t len)
{
    g_autoptr(GByteArray) buf = g_byte_array_sized_new(len);

    g_byte_array_append(buf, val, len);
    return addr && qemu_plugin_write_memory_vaddr(addr, buf);
}

static bool guest_write_ptr(uint64_t addr, const void *ptr)
{
    uint64_t val = (uintptr_t)ptr;

    return guest_write(addr, &val, sizeof(val));
}

/*
 * Copy the NUL-terminated guest string at addr into *out, reading at
 * most to the end of each page so that a string that ends just before
 * an unmapped page is still found.  Returns 0 or a negative errno.
 */
static int guest_string(uint64_t addr, char **out)
{
    g_autoptr(GByteArray) chunk = g_byte_array_new();
    g_autoptr(GString) str = g_string_new(NULL);
    const uint64_t page = 4096;

    if (!addr) {
        return -EFAULT;
    }
    while (str->len < DLCALL_MAX_STRING) {
        size_t len = page - (addr & (page - 1));
        const guint8 *nul;

        if (!qemu_plugin_read_memory_vaddr(addr, chunk, len)) {
            return -EFAULT;
        }
        nul = memchr(chunk->data, 0, len);
        if (nul) {
            len = nul - chunk->data;
        }
        g_string_append_len(str, (const char *)chunk->data, len);
        if (nul) {
            *out = g_string_free(g_steal_pointer(&str), false);
            return 0;
        }
        addr += len;
    }
    return -EINVAL;
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
    return guest_write_ptr(value_out, value) ? 0 : -EFAULT;
}

/* Count one more or one less LOAD_LIBRARY reference to handle; locked. */
static void count_handle(void *handle, int delta)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(handles, handle)) + delta;

    if (n) {
        g_hash_table_insert(handles, handle, GUINT_TO_POINTER(n));
    } else {
        g_hash_table_remove(handles, handle);
    }
}

static int load_library(uint64_t path_addr, int flags, uint64_t handle_out)
{
    g_autofree char *path = NULL;
    void *handle;
    int err = guest_string(path_addr, &path);

    if (err) {
        return err;
    }
    if (!guest_readable(handle_out, sizeof(uint64_t))) {
        return -EFAULT;
    }

    g_mutex_lock(&handles_lock);
    handle = dlopen(path, flags);
    if (handle) {
        count_handle(handle, 1);
    } else {
        set_error("%s", dlerror());
    }
    g_mutex_unlock(&handles_lock);

    if (!guest_write_ptr(handle_out, handle)) {
        /* The guest unmapped handle_out meanwhile: give the handle back. */
        if (handle) {
            g_mutex_lock(&handles_lock);
            dlclose(handle);
            count_handle(handle, -1);
            g_mutex_unlock(&handles_lock);
        }
        return -EFAULT;
    }
    return 0;
}

static int get_proc_address(void *handle, uint64_t name_addr,
                            uint64_t entry_out)
{
    g_autofree char *name = NULL;
    void *entry = NULL;
    int err = guest_string(name_addr, &name);

    if (err) {
        return err;
    }
    if (!guest_readable(entry_out, sizeof(uint64_t))) {
        return -EFAULT;
    }

    g_mutex_lock(&handles_lock);
    if (handle != RTLD_DEFAULT && handle != RTLD_NEXT &&
        !g_hash_table_contains(handles, handle)) {
        set_error("dlcall: %p is not a handle from LOAD_LIBRARY", handle);
    } else {
        dlerror();
        entry = dlsym(handle, name);
        if (!entry) {
            const char *msg = dlerror();

            set_error("%s", msg ? msg : "dlcall: symbol has the value NULL");
        }
    }
    g_mutex_unlock(&handles_lock);

    return guest_write_ptr(entry_out, entry) ? 0 : -EFAULT;
}

static int free_library(void *handle, uint64_t ret_out)
{
    int32_t ret = -1;

    if (!guest_readable(ret_out, sizeof(ret))) {
        return -EFAULT;
    }

    g_mutex_lock(&handles_lock);
    if (!g_hash_table_contains(handles, handle)) {
        set_error("dlcall: %p is not a handle from LOAD_LIBRARY, or it is "
                  "already closed", handle);
    } else {
        ret = dlclose(handle);
        if (ret) {
            set_error("%s", dlerror());
        }
        count_handle(handle, -1);
    }
    g_mutex_unlock(&handles_lock);

    return guest_write(ret_out, &ret, sizeof(ret)) ? 0 : -EFAULT;
}

static int get_library_error(uint64_t error_out)
{
    ErrorState *es = get_error_state();

    if (!guest_readable(error_out, sizeof(uint64_t))) {
        return -EFAULT;
    }
    g_free(es->reported);
    es->reported = g_steal_pointer(&es->pending);
    return guest_write_ptr(error_out, es->reported) ? 0 : -EFAULT;
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
 * A guest may fork while another of its threads holds the lock: take it
 * around fork() so the child does not inherit it locked.
 */
static void prefork(void)
{
    g_mutex_lock(&handles_lock);
}

static void postfork(void)
{
    g_mutex_unlock(&handles_lock);
}

/* For the plugin log (-d plugin): a guest that closes what it opens gets 0. */
static void plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    g_autofree char *msg = g_strdup_printf(
        "dlcall: %u library handles open at exit\n",
        g_hash_table_size(handles));

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

    handles = g_hash_table_new(NULL, NULL);
    pthread_atfork(prefork, postfork, postfork);
    qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
    qemu_plugin_register_vcpu_syscall_filter_cb(id, dlcall_filter, NULL);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
