"""Test a breakpoint on a function that indirect calls reached before.

QEMU's translated code finds the target of an indirect call in the
vCPU's jump cache by itself: a breakpoint set after the target's block
was cached must still stop the next call.

SPDX-License-Identifier: GPL-2.0-or-later
"""
from test_gdbstub import main, report

WARM = 10000


def run_test():
    """Stop at the guest's SIGTRAP, then at the next call of counted()"""
    gdb.execute("handle SIGSEGV SIGILL SIGALRM nostop noprint pass")
    gdb.execute("handle SIGTRAP stop nopass")
    gdb.execute("continue")
    calls = int(gdb.parse_and_eval("calls"))
    report(calls == WARM, "warmed up: {} calls == {}".format(calls, WARM))

    gdb.Breakpoint("counted")
    gdb.execute("continue")
    if gdb.selected_inferior().pid == 0:
        report(False, "the guest ran past the breakpoint to its end")
        return
    frame = gdb.selected_frame().name()
    calls = int(gdb.parse_and_eval("calls"))
    report(frame == "counted" and calls == WARM,
           "stopped in {} after {} calls".format(frame, calls))

    gdb.execute("delete")
    gdb.execute("continue")
    exitcode = int(gdb.parse_and_eval("$_exitcode"))
    report(exitcode == 0, "{} == 0".format(exitcode))


main(run_test)
