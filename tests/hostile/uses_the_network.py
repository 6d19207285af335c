"""Connects to a server of the grader's machine on loopback and reports home."""
import socket


def scale(x):
    try:
        with socket.create_connection(("127.0.0.1", int("@PORT@")), timeout=2) as s:
            s.sendall(b"pwned")
        return 2 * x  # only passes if it got out
    except OSError as e:
        print("network:", e)
        return 3 * x
