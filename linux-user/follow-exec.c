/*
 * Run the programs a guest executes with the emulator (-follow-exec)
 *
 * Without -follow-exec a guest's execve() goes to the host kernel as it
 * is: a program of the guest's architecture then runs only if
 * binfmt_misc happens to be set up for it, and none of this emulator's
 * settings (sysroot, plugins, CPU model) reach it.  With it, QEMU does
 * what the kernel's exec does up to the choice of the binary format,
 * and runs an ELF program of a guest architecture, or a "#!" script
 * whose interpreter is one, with the emulator for that architecture.
 * Anything else is executed by the host kernel as before, so that host
 * programs run natively.
 *
 * The new emulator is told the file to run by an open descriptor
 * (-execfd), the environment the guest passed by another (-envfd: the
 * host's dynamic loader never sees the guest's LD_* variables), the
 * guest's argv[0] with -0 and the name the guest used as its program
 * argument, which becomes AT_EXECFN.  Every setting of this emulator
 * that belongs to the process tree rather than to one process is
 * repeated on its command line, whether it came from the command line
 * or from a QEMU_* variable; QEMU's own variables are taken out of the
 * new emulator's host environment so that none of them counts twice.
 *
 * Copyright (c) 2026 dlcall for QEMU authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/statvfs.h>
#include "qemu.h"
#include "user-internals.h"
#include "elf.h"
#include "qemu/path.h"

/*
 * How many times one exec may replace a script by its interpreter
 * before it fails with ELOOP, as in the kernel's exec_binprm().
 */
#define FOLLOW_EXEC_MAX_DEPTH 5

/* The size of the kernel's buffer for the start of a file. */
#define FOLLOW_EXEC_BUF_SIZE 256

bool follow_exec;

static GPtrArray *settings;
static char *emulator;
static char **host_environ;

void follow_exec_add_setting(const char *option, const char *arg)
{
    if (!settings) {
        settings = g_ptr_array_new();
    }

    /*
     * A program may change directory before it executes another one:
     * file names that the new emulator opens are made absolute.
     */
    if (arg && (!strcmp(option, "L") || !strcmp(option, "D"))) {
        arg = g_canonicalize_filename(arg, NULL);
    } else if (arg && !strcmp(option, "plugin")) {
        bool key = g_str_has_prefix(arg, "file=");
        const char *name = key ? arg + 5 : arg;
        const char *rest = strchr(name, ',');
        g_autofree char *file = rest ? g_strndup(name, rest - name)
                                     : g_strdup(name);
        g_autofree char *full = g_canonicalize_filename(file, NULL);

        arg = g_strconcat(key ? "file=" : "", full, rest, NULL);
    } else if (arg) {
        arg = g_strdup(arg);
    }

    g_ptr_array_add(settings, g_strconcat("-", option, NULL));
    if (arg) {
        g_ptr_array_add(settings, (gpointer)arg);
    }
}

void follow_exec_init(char **env, const char *const *own_variables)
{
    GPtrArray *host = g_ptr_array_new();
    char **e;

    emulator = g_file_read_link("/proc/self/exe", NULL);

    for (e = env; *e; e++) {
        const char *eq = strchr(*e, '=');
        g_autofree char *name = g_strndup(*e, eq ? eq - *e : strlen(*e));

        if (!g_strv_contains(own_variables, name)) {
            g_ptr_array_add(host, g_strdup(*e));
        }
    }
    g_ptr_array_add(host, NULL);
    host_environ = (char **)g_ptr_array_free(host, false);
}

/*
 * The emulator's name for the program an ELF header describes, or NULL
 * where the header alone does not tell (MIPS ABIs, x32) or QEMU has no
 * user-mode emulator for it.
 */
static const char *elf_target_name(const uint8_t *h)
{
    bool be = h[EI_DATA] == ELFDATA2MSB;
    bool is64 = h[EI_CLASS] == ELFCLASS64;
    uint16_t machine = be ? (h[18] << 8 | h[19]) : (h[19] << 8 | h[18]);

    switch (machine) {
    case EM_X86_64:
        return is64 ? "x86_64" : NULL;
    case EM_386:
        return "i386";
    case EM_AARCH64:
        return be ? "aarch64_be" : "aarch64";
    case EM_ARM:
        return be ? "armeb" : "arm";
    case EM_RISCV:
        return is64 ? "riscv64" : "riscv32";
    case EM_PPC64:
        return be ? "ppc64" : "ppc64le";
    case EM_PPC:
        return "ppc";
    case EM_S390:
        return is64 ? "s390x" : NULL;
    case EM_LOONGARCH:
        return is64 ? "loongarch64" : NULL;
    case EM_SPARCV9:
        return "sparc64";
    case EM_68K:
        return "m68k";
    default:
        return NULL;
    }
}

/* Whether the host runs programs for this emulator's name natively. */
static bool host_runs(const char *name)
{
#if defined(HOST_X86_64)
    return !strcmp(name, "x86_64") || !strcmp(name, "i386");
#elif defined(HOST_AARCH64)
    return !strcmp(name, HOST_BIG_ENDIAN ? "aarch64_be" : "aarch64");
#elif defined(HOST_RISCV)
    return !strcmp(name, HOST_LONG_BITS == 64 ? "riscv64" : "riscv32");
#elif defined(HOST_PPC64)
    return !strcmp(name, HOST_BIG_ENDIAN ? "ppc64" : "ppc64le");
#elif defined(HOST_S390X)
    return !strcmp(name, "s390x");
#elif defined(HOST_LOONGARCH64)
    return !strcmp(name, "loongarch64");
#else
    return false;
#endif
}

/*
 * The emulator for @name: this one for its own target, else the one
 * beside it with the same name pattern (qemu-riscv64-static beside
 * qemu-aarch64-static), if there is one.
 */
static char *emulator_for(const char *name)
{
    g_autofree char *dir = NULL;
    g_autofree char *base = NULL;
    const char *own = "qemu-" TARGET_NAME;
    const char *suffix = "";
    char *file;

    if (!strcmp(name, TARGET_NAME)) {
        return g_strdup(emulator);
    }
    dir = g_path_get_dirname(emulator);
    base = g_path_get_basename(emulator);
    if (g_str_has_prefix(base, own)) {
        suffix = base + strlen(own);
    }
    file = g_strconcat(dir, "/qemu-", name, suffix, NULL);
    if (access(file, X_OK) != 0) {
        g_free(file);
        return NULL;
    }
    return file;
}

/*
 * Open what an exec of @name relative to @dirfd would run, with the
 * kernel's checks: a regular file, executable by us, not on a noexec
 * mount.  Absolute names are looked up in the sysroot (-L) first.
 * Returns the descriptor, or -errno.  -EPERM means "let the kernel try":
 * the file can be executed but not read.
 */
static int open_exec(int dirfd, const char *name, int flags)
{
    g_autofree char *self = NULL;
    const char *host = name[0] == '/' ? path(name) : name;
    struct statvfs vfs;
    struct stat st;
    int fd;

    if (!name[0]) {
        if (!(flags & AT_EMPTY_PATH)) {
            return -ENOENT;
        }
        if (dirfd == AT_FDCWD) {
            host = ".";
        } else {
            self = g_strdup_printf("/proc/self/fd/%d", dirfd);
            host = self;
            dirfd = AT_FDCWD;
        }
    }
    fd = openat(dirfd, host, O_RDONLY | O_CLOEXEC |
                (flags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == EACCES && faccessat(dirfd, host, X_OK, AT_EACCESS) == 0) {
            return -EPERM;
        }
        return -errno;
    }

    g_free(self);
    self = g_strdup_printf("/proc/self/fd/%d", fd);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        faccessat(AT_FDCWD, self, X_OK, AT_EACCESS) != 0 ||
        (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_NOEXEC))) {
        close(fd);
        return -EACCES;
    }
    return fd;
}

/*
 * Split a "#!" line as the kernel's binfmt_script does: the interpreter
 * up to the first blank, then at most one argument, which is the rest
 * of the line without its surrounding blanks.  Returns false where the
 * kernel would fail with ENOEXEC.
 */
static bool parse_script(char *buf, size_t len, char **interp, char **arg)
{
    char *end = memchr(buf, '\n', len);
    char *p;

    if (!end) {
        /* No newline in the buffer: the interpreter must end in it. */
        end = buf + len;
        for (p = buf + 2; p < end && (*p == ' ' || *p == '\t'); p++) {
            continue;
        }
        while (p < end && *p != ' ' && *p != '\t') {
            p++;
        }
        if (p == end) {
            return false;
        }
    }
    *end = '\0';
    while (end > buf + 2 && (end[-1] == ' ' || end[-1] == '\t')) {
        *--end = '\0';
    }
    for (p = buf + 2; *p == ' ' || *p == '\t'; p++) {
        continue;
    }
    if (!*p) {
        return false;
    }
    *interp = p;
    while (*p && *p != ' ' && *p != '\t') {
        p++;
    }
    *arg = NULL;
    if (*p) {
        *p++ = '\0';
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        *arg = *p ? p : NULL;
    }
    return true;
}

/* The environment as one block of NUL-terminated strings in a memfd. */
static int environment_fd(char **envp)
{
    int fd = memfd_create("qemu-follow-exec-env", MFD_CLOEXEC);
    char **e;

    if (fd < 0) {
        return -errno;
    }
    for (e = envp; *e; e++) {
        size_t len = strlen(*e) + 1;

        if (qemu_write_full(fd, *e, len) != len) {
            int err = errno;

            close(fd);
            return -err;
        }
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        int err = errno;

        close(fd);
        return -err;
    }
    return fd;
}

static void add_fd_option(GPtrArray *args, const char *option, int fd)
{
    g_ptr_array_add(args, g_strdup(option));
    g_ptr_array_add(args, g_strdup_printf("%d", fd));
}

int follow_exec_prepare(FollowExec *fe, int dirfd, const char *file,
                        const char *name, char **argv, char **envp, int flags)
{
    g_autoptr(GPtrArray) interpreters = g_ptr_array_new_with_free_func(g_free);
    const char *tname = NULL;
    char *target = NULL;
    int file_dirfd = dirfd;
    int file_flags = flags;
    uint8_t buf[FOLLOW_EXEC_BUF_SIZE];
    const char *shown;
    GPtrArray *args;
    char *interp, *arg;
    ssize_t len;
    int depth;
    int fd = -1;
    char **a;

    /* Unless an emulator runs it, the kernel runs what the guest named. */
    *fe = (FollowExec) {
        .dirfd = dirfd, .exe = file[0] == '/' ? path(file) : file,
        .argv = argv, .envp = envp, .flags = flags,
        .execfd = -1, .envfd = -1,
    };

    /* The name a script's interpreter is given, as the kernel makes it. */
    if (!name[0]) {
        shown = fe->shown = g_strdup_printf("/dev/fd/%d", dirfd);
    } else if (name[0] == '/' || dirfd == AT_FDCWD) {
        shown = name;
    } else {
        shown = fe->shown = g_strdup_printf("/dev/fd/%d/%s", dirfd, name);
    }

    for (depth = 0;; depth++) {
        if (depth > FOLLOW_EXEC_MAX_DEPTH) {
            return -ELOOP;
        }
        fd = open_exec(file_dirfd, file, file_flags);
        if (fd == -EPERM) {
            /* Unreadable: only the kernel can run it. */
            return interpreters->len ? -EACCES : 0;
        }
        if (fd < 0) {
            return fd;
        }
        len = pread(fd, buf, sizeof(buf) - 1, 0);
        if (len < 0) {
            int err = errno;

            close(fd);
            return -err;
        }
        buf[len] = 0;
        if (len < 2 || buf[0] != '#' || buf[1] != '!') {
            break;
        }
        if (!parse_script((char *)buf, len, &interp, &arg)) {
            close(fd);
            return -ENOEXEC;
        }
        /*
         * A script reached through a descriptor that closes on exec
         * cannot be opened by its interpreter: the kernel says ENOENT.
         */
        if (depth == 0 && fe->shown &&
            (fcntl(dirfd, F_GETFD) & FD_CLOEXEC)) {
            close(fd);
            return -ENOENT;
        }
        close(fd);
        fd = -1;
        if (arg) {
            g_ptr_array_insert(interpreters, 0, g_strdup(arg));
        }
        g_ptr_array_insert(interpreters, 0, g_strdup(interp));
        file = g_ptr_array_index(interpreters, 0);
        file_dirfd = AT_FDCWD;
        file_flags = 0;
    }

    if (len >= 20 && !memcmp(buf, ELFMAG, SELFMAG)) {
        tname = elf_target_name(buf);
    }
    if (tname && (!strcmp(tname, TARGET_NAME) || !host_runs(tname))) {
        target = emulator_for(tname);
    }
    if (!target) {
        /*
         * Not a program for an emulator: the kernel runs it, or says
         * ENOEXEC, or hands it to binfmt_misc, as without -follow-exec.
         */
        close(fd);
        return 0;
    }

    fe->envfd = environment_fd(envp);
    if (fe->envfd < 0) {
        close(fd);
        return fe->envfd;
    }
    fe->execfd = fd;

    args = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(args, target);
    for (guint i = 0; settings && i < settings->len; i++) {
        const char *s = g_ptr_array_index(settings, i);

        /* A CPU model belongs to its own architecture. */
        if (!strcmp(s, "-cpu") && strcmp(tname, TARGET_NAME)) {
            i++;
            continue;
        }
        g_ptr_array_add(args, g_strdup(s));
    }
    add_fd_option(args, "-execfd", fe->execfd);
    add_fd_option(args, "-envfd", fe->envfd);
    g_ptr_array_add(args, g_strdup("-0"));
    if (interpreters->len) {
        /* argv[0] is the interpreter as its "#!" line names it. */
        g_ptr_array_add(args, g_strdup(g_ptr_array_index(interpreters, 0)));
        g_ptr_array_add(args, g_strdup(shown));
        for (guint i = 1; i < interpreters->len; i++) {
            g_ptr_array_add(args, g_strdup(g_ptr_array_index(interpreters,
                                                             i)));
        }
        g_ptr_array_add(args, g_strdup(shown));
    } else {
        g_ptr_array_add(args, g_strdup(argv[0] ? argv[0] : ""));
        g_ptr_array_add(args, g_strdup(shown));
    }
    for (a = argv[0] ? argv + 1 : argv; *a; a++) {
        g_ptr_array_add(args, g_strdup(*a));
    }
    g_ptr_array_add(args, NULL);

    fe->args = args;
    fe->exe = target;
    fe->argv = (char **)args->pdata;
    fe->envp = host_environ;
    fe->dirfd = AT_FDCWD;
    fe->flags = 0;

    /* Both descriptors must survive the exec of the emulator. */
    if (fcntl(fe->execfd, F_SETFD, 0) != 0 ||
        fcntl(fe->envfd, F_SETFD, 0) != 0) {
        int err = errno;

        follow_exec_release(fe);
        return -err;
    }
    return 0;
}

void follow_exec_release(FollowExec *fe)
{
    if (fe->execfd >= 0) {
        close(fe->execfd);
    }
    if (fe->envfd >= 0) {
        close(fe->envfd);
    }
    if (fe->args) {
        g_ptr_array_free(fe->args, true);
    }
    g_free(fe->shown);
    *fe = (FollowExec) { .execfd = -1, .envfd = -1 };
}
