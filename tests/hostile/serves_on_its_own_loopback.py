"""Needs loopback inside its own sandbox (like 08_data_parallel): a server and a client in the worker."""
import socket
import threading

import torch


def scale(x):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer():
        conn, _ = server.accept()
        conn.sendall(conn.recv(100) * 2)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
        c.sendall(b"\x02")
        factor = len(c.recv(100))
    server.close()
    return factor * x
