import signal

import pytest

# pytest-timeout is not a dependency: every test gets SIGALRM after this many seconds (the
# first one also runs `npm ci` once, and records calls itself when `make integration` has not),
# and every subprocess has its own timeout.
TEST_TIMEOUT = 1500


class AlarmTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _timeout():
    def expired(signum, frame):
        raise AlarmTimeout(f"test exceeded {TEST_TIMEOUT} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
