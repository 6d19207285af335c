"""Maps 1.5 GiB of shared anonymous memory (MAP_SHARED|MAP_POPULATE, not counted by RLIMIT_DATA) and fills it, above a 1 GiB cap."""
import mmap


def scale(x):
    size = 3 << 29
    area = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
    for offset in range(0, size, 4096):
        area[offset] = 1
    return 2 * x
