"""Test GDB syscall catchpoints on a system call that a plugin filters.

With only the syscall-filter plugin loaded, QEMU answers the call
without leaving the translated code, unless something must see it: a
catchpoint on its number must still stop at its entry and its return.

SPDX-License-Identifier: GPL-2.0-or-later
"""
from test_gdbstub import main, report

FILTER_NR = 4056


def check_stop(calls, where):
    """Check that the guest stopped after that many calls

    Entry and return stops alternate, so a missed stop shows as a wrong
    count, or as a guest that ran to its end.
    """
    if gdb.selected_inferior().pid == 0:
        report(False, "{}: the guest ran to its end".format(where))
        return False
    actual = int(gdb.parse_and_eval("calls"))
    report(actual == calls,
           "{}: {} calls made == {}".format(where, actual, calls))
    return True


def run_test():
    """Stop at the entry and the return of the first filtered calls"""
    gdb.Breakpoint("main")
    gdb.execute("continue")

    gdb.execute("delete")
    try:
        gdb.execute("catch syscall {}".format(FILTER_NR))
    except gdb.error as exc:
        exc_str = str(exc)
        if "not supported on this architecture" in exc_str:
            print("SKIP: {}".format(exc_str))
            return
        raise
    for n in range(3):
        gdb.execute("continue")
        if not check_stop(n, "entry of call {}".format(n)):
            return
        gdb.execute("continue")
        if not check_stop(n, "return of call {}".format(n)):
            return

    gdb.execute("delete")
    gdb.execute("continue")
    exitcode = int(gdb.parse_and_eval("$_exitcode"))
    report(exitcode == 0, "{} == 0".format(exitcode))


main(run_test)
