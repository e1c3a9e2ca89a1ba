"""What the Python test suites share (Tests/exporters-live, Tests/fleet): a free
loopback port, waiting for a condition, and the runner that ends a suite on
"N passed, N failed" (the line scripts/test.sh and Tests/fleet/run.sh count).

A suite imports it with its folder's parent on the path:
    sys.path.insert(0, os.path.join(ROOT, "Tests", "pylib"))
"""
import socket
import time
import traceback


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.2):
    """predicate()'s first true value, asked every `interval` s; fails after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def run_tests(namespace):
    """Runs every test_* function of a module's globals, in order; prints
    PASS/FAIL for each and the count line. Returns the exit status."""
    passed = failed = 0
    for name, fn in [(n, f) for n, f in namespace.items() if n.startswith("test_")]:
        try:
            fn()
            print("PASS " + name)
            passed += 1
        except Exception as error:  # noqa: BLE001: any failure is the test's
            traceback.print_exc()
            print("FAIL %s: %s" % (name, error))
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
