"""Writes a file of several GiB in its working folder."""


def scale(x):
    block = b"\0" * (16 << 20)
    with open("huge.bin", "wb") as f:
        for _ in range(512):
            f.write(block)
    return 2 * x
