"""Starts threads until something gives."""
import threading
import time


def scale(x):
    threads = []
    for _ in range(100_000):
        t = threading.Thread(target=time.sleep, args=(3600,), daemon=True)
        t.start()
        threads.append(t)
    return 2 * x
