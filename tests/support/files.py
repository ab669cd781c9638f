"""Files' permissions as another user of the machine would meet them."""

import os
import stat
from contextlib import contextmanager


@contextmanager
def ordinary_umask():
    """The umask most shells start with (files readable by everyone), for what runs inside:
    Switchboard must not rely on a stricter one. Set after the app is made (making it
    tightens the process's umask)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)
