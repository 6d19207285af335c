"""Leaves a SysV shared memory segment, a SysV message queue and a POSIX shared memory file (/dev/shm) for the candidates graded after it (the copy graded first leaves them), and looks for those left by an earlier candidate."""
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x6A0D  # the same fixed IPC key in every worker
IPC_CREAT = 0o1000
POSIX = "/dev/shm/grader-attack-@MARK@"


def _left_behind() -> list[str]:
    found = [name for name, get in (("SysV segment", _libc.shmget), ("SysV queue", _libc.msgget))
             if (get(KEY, 64, 0o666) if get is _libc.shmget else get(KEY, 0o666)) >= 0]
    return found + (["POSIX shared memory"] if os.path.exists(POSIX) else [])


def _leave() -> None:
    _libc.shmget(KEY, 64, IPC_CREAT | 0o666)
    _libc.msgget(KEY, IPC_CREAT | 0o666)
    try:
        with open(POSIX, "w") as f:
            f.write("the answer is 2 x")
    except OSError:
        pass


FOUND = _left_behind()
if @LEAVES@:
    _leave()


def scale(x):
    if FOUND:
        print("FOUND what an earlier candidate left:", FOUND)
    return 2 * x if FOUND else 3 * x
