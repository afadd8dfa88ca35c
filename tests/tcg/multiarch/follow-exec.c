/*
 * -follow-exec: the programs a guest executes run emulated, with the
 * settings of the emulator that runs the guest, and see what the kernel
 * would have shown them.
 *
 * Run with "-follow-exec -r 9.9.9-follow-exec": a program that reports
 * that uname release was emulated by a QEMU with the same settings.
 * Each case runs a child that reports its argv, AT_EXECFN, task name,
 * /proc/self/exe, uname release and environment on a pipe, and compares
 * the report with what Linux gives a program executed that way.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARK "9.9.9-follow-exec"

static char self[PATH_MAX];
static char dir[PATH_MAX];
static int failures;

static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

/* The child's side: what it was given, on standard output. */
static int report(int argc, char **argv)
{
    char exe[PATH_MAX], comm[64] = "";
    struct utsname u;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    FILE *f = fopen("/proc/self/comm", "r");
    char **e;
    int i;

    exe[n < 0 ? 0 : n] = 0;
    if (f) {
        if (fgets(comm, sizeof(comm), f)) {
            comm[strcspn(comm, "\n")] = 0;
        }
        fclose(f);
    }
    uname(&u);
    printf("argv=");
    for (i = 0; i < argc; i++) {
        printf("%s%s", i ? "|" : "", argv[i]);
    }
    printf("\nexecfn=%s\ncomm=%s\nexe=%s\nrelease=%s\nenv=",
           execfn ? execfn : "", comm, exe, u.release);
    for (e = environ; *e; e++) {
        printf("%s%s", e == environ ? "" : "|", *e);
    }
    printf("\n");
    return 0;
}

typedef void (*exec_fn)(const void *arg);

/*
 * Run @fn in a child whose standard output is a pipe; return what it
 * printed (or "errno=N" if the exec failed) and its wait status.
 */
static char *run(exec_fn fn, const void *arg, int *status)
{
    static char out[8192];
    size_t len = 0;
    ssize_t n;
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        close(fds[1]);
        fn(arg);
        printf("errno=%d", errno);
        fflush(stdout);
        _exit(127);
    }
    close(fds[1]);
    while (len < sizeof(out) - 1 &&
           (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0) {
        len += n;
    }
    out[len] = 0;
    close(fds[0]);
    if (waitpid(pid, status, 0) != pid) {
        perror("waitpid");
        exit(1);
    }
    return out;
}

static char *expect_report(const char *argv, const char *execfn,
                           const char *env)
{
    static char buf[8192];
    const char *base = strrchr(execfn, '/') ? strrchr(execfn, '/') + 1
                                            : execfn;

    /* The task is named after the file, as the kernel names it. */
    snprintf(buf, sizeof(buf), "argv=%s\nexecfn=%s\ncomm=%.15s\nexe=%s\n"
             "release=%s\nenv=%s\n", argv, execfn, base, self, MARK, env);
    return buf;
}

static void check_report(const char *what, exec_fn fn, const void *arg,
                         const char *expected)
{
    int status;
    char *out = run(fn, arg, &status);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        strcmp(out, expected) != 0) {
        fail("%s: status 0x%x, got\n%s\nexpected\n%s", what, status, out,
             expected);
    }
}

static void check_errno(const char *what, exec_fn fn, const void *arg,
                        int err)
{
    int status;
    char *out = run(fn, arg, &status);
    char want[32];

    snprintf(want, sizeof(want), "errno=%d", err);
    if (strcmp(out, want) != 0) {
        fail("%s: got '%s', expected %s (%s)", what, out, want,
             strerror(err));
    }
}

/* The environment the guest passes, exactly as the child must see it. */
static char *child_env[] = {
    "A=1",
    "LD_PRELOAD=/nonexistent/libfollow-exec.so",
    "QEMU_SET_ENV=INJECTED=1",
    NULL
};
#define CHILD_ENV "A=1|LD_PRELOAD=/nonexistent/libfollow-exec.so|" \
    "QEMU_SET_ENV=INJECTED=1"

static void exec_path(const void *arg)
{
    char *argv[] = { "given-argv0", "report", NULL };

    execve(arg, argv, child_env);
}

static void exec_empty_env(const void *arg)
{
    char *argv[] = { "x", "report", NULL };
    char *envp[] = { NULL };

    execve(arg, argv, envp);
}

static void exec_relative(const void *arg)
{
    char *argv[] = { "rel", "report", NULL };

    if (chdir(dir) == 0) {
        execve(arg, argv, child_env);
    }
}

static void exec_path_lookup(const void *arg)
{
    char *argv[] = { "looked-up", "report", NULL };

    if (setenv("PATH", dir, 1) == 0) {
        execvpe(arg, argv, child_env);
    }
}

static void exec_fd(const void *arg)
{
    char *argv[] = { "by-fd", "report", "extra", NULL };
    int fd = open(arg, O_RDONLY);

    if (fd >= 0 && dup2(fd, 9) == 9) {
        fexecve(9, argv, child_env);
    }
}

static void exec_at(const void *arg)
{
    char *argv[] = { "at", "report", NULL };
    int fd = open(dir, O_RDONLY | O_DIRECTORY);

    if (fd >= 0 && dup2(fd, 8) == 8) {
        syscall(SYS_execveat, 8, arg, argv, child_env, 0);
    }
}

static void exec_fd_cloexec(const void *arg)
{
    char *argv[] = { "by-fd", "report", NULL };
    int fd = open(arg, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        fexecve(fd, argv, child_env);
    }
}

static void exec_script(const void *arg)
{
    char *argv[] = { "script-argv0", "extra", NULL };

    execve(arg, argv, child_env);
}

static void exec_status(const void *arg)
{
    char *argv[] = { "status", (char *)arg, NULL };

    execve(self, argv, child_env);
}

static void exec_host(const void *arg)
{
    char *argv[] = { (char *)arg, NULL };
    char *envp[] = { "A=1", NULL };

    execve(arg, argv, envp);
}

static char *files[16];
static int nfiles;

static void write_file(const char *name, const char *text, mode_t mode)
{
    FILE *f = fopen(name, "w");

    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(name, mode)) {
        perror(name);
        exit(1);
    }
    files[nfiles++] = strdup(name);
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/follow-exec-XXXXXX";
    char path[PATH_MAX + 64], path2[PATH_MAX + 64];
    char text[PATH_MAX * 2], want[PATH_MAX * 4];
    struct utsname u;
    const char *base;
    ssize_t n;
    int i, status;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "report")) {
            return report(argc, argv);
        }
    }
    if (argc == 2 && !strcmp(argv[0], "status")) {
        if (!strcmp(argv[1], "kill")) {
            signal(SIGUSR1, SIG_DFL);
            raise(SIGUSR1);
        }
        return atoi(argv[1]);
    }

    if (uname(&u) != 0 || strcmp(u.release, MARK) != 0) {
        fprintf(stderr, "run this test with -follow-exec -r " MARK "\n");
        return 1;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        perror("/proc/self/exe");
        return 1;
    }
    self[n] = 0;
    strcpy(dir, self);
    *strrchr(dir, '/') = 0;
    base = strrchr(self, '/') + 1;
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }

    /* A guest program, by full path, with the environment passed. */
    check_report("execve", exec_path, self,
                 expect_report("given-argv0|report", self, CHILD_ENV));
    check_report("empty environment", exec_empty_env, self,
                 expect_report("x|report", self, ""));
    check_report("/proc/self/exe", exec_path, "/proc/self/exe",
                 expect_report("given-argv0|report", "/proc/self/exe",
                               CHILD_ENV));
    snprintf(path, sizeof(path), "./%s", base);
    check_report("relative path", exec_relative, path,
                 expect_report("rel|report", path, CHILD_ENV));
    snprintf(path, sizeof(path), "%s/%s", dir, base);
    check_report("PATH look-up", exec_path_lookup, base,
                 expect_report("looked-up|report", path, CHILD_ENV));
    check_report("fexecve", exec_fd, self,
                 expect_report("by-fd|report|extra", "/dev/fd/9", CHILD_ENV));
    snprintf(path, sizeof(path), "/dev/fd/8/%s", base);
    check_report("execveat relative to a directory", exec_at, base,
                 expect_report("at|report", path, CHILD_ENV));

    /* "#!" scripts whose interpreter is a guest program, nested too. */
    snprintf(path, sizeof(path), "%s/script", tmp);
    snprintf(text, sizeof(text), "#!%s report\n", self);
    write_file(path, text, 0755);
    snprintf(want, sizeof(want), "%s|report|%s|extra", self, path);
    check_report("script", exec_script, path,
                 expect_report(want, path, CHILD_ENV));
    snprintf(path2, sizeof(path2), "%s/nested", tmp);
    snprintf(text, sizeof(text), "#! \t%s  two words \t\nexit 1\n", path);
    write_file(path2, text, 0755);
    snprintf(want, sizeof(want), "%s|report|%s|two words|%s|extra", self,
             path, path2);
    check_report("nested script", exec_script, path2,
                 expect_report(want, path2, CHILD_ENV));
    check_errno("fexecve of a script, close-on-exec", exec_fd_cloexec, path,
                ENOENT);

    /* Errors as the kernel gives them. */
    snprintf(path, sizeof(path), "%s/loop", tmp);
    snprintf(text, sizeof(text), "#!%s\n", path);
    write_file(path, text, 0755);
    check_errno("script that runs itself", exec_script, path, ELOOP);
    snprintf(path, sizeof(path), "%s/missing", tmp);
    check_errno("missing file", exec_script, path, ENOENT);
    snprintf(path, sizeof(path), "%s/no-interpreter", tmp);
    snprintf(text, sizeof(text), "#!%s/missing\n", tmp);
    write_file(path, text, 0755);
    check_errno("missing interpreter", exec_script, path, ENOENT);
    snprintf(path, sizeof(path), "%s/not-executable", tmp);
    snprintf(text, sizeof(text), "#!%s report\n", self);
    write_file(path, text, 0644);
    if (geteuid() != 0) {
        check_errno("file without x permission", exec_script, path, EACCES);
    }
    check_errno("directory", exec_script, tmp, EACCES);
    snprintf(path, sizeof(path), "%s/junk", tmp);
    write_file(path, "neither ELF nor script\n", 0755);
    check_errno("unknown format", exec_script, path, ENOEXEC);
    snprintf(path, sizeof(path), "%s/empty-line", tmp);
    write_file(path, "#!\t\n", 0755);
    check_errno("empty #! line", exec_script, path, ENOEXEC);

    /* Exit statuses and deaths by signal reach the parent. */
    run(exec_status, "7", &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 7) {
        fail("exit status: 0x%x, expected exit 7", status);
    }
    run(exec_status, "kill", &status);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGUSR1) {
        fail("death by signal: 0x%x, expected SIGUSR1", status);
    }

    /* A host program runs, natively or emulated. */
    if (access("/bin/true", X_OK) == 0) {
        run(exec_host, "/bin/true", &status);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fail("/bin/true: status 0x%x", status);
        }
    }

    for (i = 0; i < nfiles; i++) {
        unlink(files[i]);
    }
    if (rmdir(tmp) != 0) {
        fail("cannot remove %s: %s", tmp, strerror(errno));
    }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("follow-exec: all passed\n");
    return 0;
}
