"""Leaves a key in every kernel keyring it can reach (user, user-session, session, persistent) for the candidates graded after it (the copy graded first leaves it), and looks for one left by an earlier candidate."""
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
KEYCTL = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
ADD_KEY = {"x86_64": 248, "aarch64": 217}[os.uname().machine]
KEYRINGS = {"session": -3, "user": -4, "user-session": -5}
DESCRIPTION = b"grader-attack-@MARK@"


def _keyrings():
    found = dict(KEYRINGS)
    persistent = _libc.syscall(KEYCTL, 22, -1, -4)  # KEYCTL_GET_PERSISTENT, linked into the user keyring
    if persistent > 0:
        found["persistent"] = persistent
    return found


def _left_behind() -> list[str]:
    return [name for name, ring in _keyrings().items()
            if _libc.syscall(KEYCTL, 10, ring, b"user", DESCRIPTION, 0) > 0]  # KEYCTL_SEARCH


def _leave() -> None:
    for ring in _keyrings().values():
        _libc.syscall(ADD_KEY, b"user", DESCRIPTION, b"the answer is 2 x", 17, ring)


FOUND = _left_behind()
if @LEAVES@:
    _leave()


def scale(x):
    if FOUND:
        print("FOUND a key left by an earlier candidate in", FOUND)
    return 2 * x if FOUND else 3 * x
