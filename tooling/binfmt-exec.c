/*
 * The binfmt_misc interpreter of a dlcall bundle, one per guest: the
 * kernel runs it for the guest's programs (flags F and P: argv[1] is
 * the program, argv[2] its original argv[0]), and it runs them under
 * the bundle's emulator with the plugin, the drop-ins and -follow-exec,
 * so that what they execute stays under the emulator without going
 * through binfmt_misc again.
 *
 * Built static by tooling/install with PREFIX (where the bundle is
 * seen when it runs) and GUEST; it needs nothing else at run time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THUNKS PREFIX "/thunks/" GUEST "/lib"

int main(int argc, char **argv)
{
    const char *old = getenv("LD_LIBRARY_PATH");
    char **args = calloc(argc + 16, sizeof(*args));
    char *path;
    int n = 0;

    if (argc < 3 || !args) {
        fprintf(stderr, "dlcall-binfmt-exec-" GUEST ": to be run by "
                "binfmt_misc with the flags F and P (see dlcall-binfmt)\n");
        return 127;
    }
    /* The drop-ins first on the guest's library path, once. */
    if (old && (!strcmp(old, THUNKS) ||
                !strncmp(old, THUNKS ":", strlen(THUNKS ":")))) {
        path = strdup(old);
    } else if (old && *old) {
        path = malloc(strlen("LD_LIBRARY_PATH=" THUNKS ":") + strlen(old) + 1);
        if (path) {
            sprintf(path, "LD_LIBRARY_PATH=%s:%s", THUNKS, old);
        }
    } else {
        path = strdup("LD_LIBRARY_PATH=" THUNKS);
    }
    if (!path) {
        perror("dlcall-binfmt-exec-" GUEST);
        return 127;
    }
    if (!getenv("DLCALL_THUNKS_HOST_DIR")) {
        setenv("DLCALL_THUNKS_HOST_DIR", HOST_DIRS, 1);
    }

    args[n++] = PREFIX "/bin/qemu-" GUEST;
    args[n++] = "-follow-exec";
    args[n++] = "-plugin";
    args[n++] = PREFIX "/lib/libdlcall.so";
    if (strncmp(path, "LD_LIBRARY_PATH=", 16) == 0) {
        args[n++] = "-E";
        args[n++] = path;
    }
    args[n++] = "-0";
    args[n++] = argv[2];
    args[n++] = argv[1];
    for (int i = 3; i < argc; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    execv(args[0], args);
    fprintf(stderr, "dlcall-binfmt-exec-" GUEST ": cannot run %s: %s "
            "(is the bundle mounted at " PREFIX "?)\n", args[0],
            strerror(errno));
    return 127;
}
