"""A candidate handed in as an archive (.zip, .tar, .tar.gz, .tgz): unpacked on the trusted side
into a plain folder, refusing what a folder of source files never needs (links, devices, paths
that leave the folder, too many or too large members)."""
from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from grader.limits import MAX_ARCHIVE_BYTES as MAX_BYTES, MAX_ARCHIVE_MEMBERS as MAX_MEMBERS

SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


class ArchiveRefused(ValueError):
    """An archive that is not a plain folder of files within the limits."""


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIXES)


def candidate_name(path: Path) -> str:
    name = path.name
    return next(name[: -len(s)] for s in SUFFIXES if name.lower().endswith(s)) if is_archive(path) else name


def unpack(archive: Path, into: Path) -> Path:
    """Unpack `archive` into the new folder `into` (replacing it) and return the folder to grade
    (`into`, or the one folder the archive holds); ArchiveRefused says why not."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    try:
        members = _zip_members(archive) if archive.name.lower().endswith(".zip") else _tar_members(archive)
        if len(members) > MAX_MEMBERS:
            raise ArchiveRefused(f"{len(members)} members (at most {MAX_MEMBERS})")
        if sum(size for _, size, _ in members) > MAX_BYTES:
            raise ArchiveRefused(f"more than {MAX_BYTES // 2**20} MiB unpacked")
        for name, _, read in members:
            target = into / _safe(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read())
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise ArchiveRefused(f"unreadable: {e}") from None
    entries = list(into.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into  # alice.zip holding alice/


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in name:
        raise ArchiveRefused(f"member {name!r} would land outside its folder")
    return path


def _zip_members(archive: Path) -> list:
    z = zipfile.ZipFile(archive)
    found = []
    for info in z.infolist():
        if info.is_dir():
            continue
        if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):  # a link or device stored as such
            raise ArchiveRefused(f"member {info.filename!r} is not a plain file")
        found.append((info.filename, info.file_size, lambda info=info: _capped(z.read(info))))
    return found


def _tar_members(archive: Path) -> list:
    t = tarfile.open(archive)
    found = []
    for member in t.getmembers():
        if member.isdir():
            continue
        if not member.isfile():
            raise ArchiveRefused(f"member {member.name!r} is not a plain file")
        found.append((member.name, member.size, lambda m=member: _capped(t.extractfile(m).read(MAX_BYTES + 1))))
    return found


def _capped(data: bytes) -> bytes:
    if len(data) > MAX_BYTES:
        raise ArchiveRefused(f"a member unpacks past {MAX_BYTES // 2**20} MiB")
    return data
