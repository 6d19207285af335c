"""Candidates handed in as archives: unpacked safely on the trusted side, graded like folders;
an archive that is not a plain folder of files is that candidate's error row, never the batch's end."""
from __future__ import annotations

import csv
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader import archives
from grader.archives import ArchiveRefused
from tests.conftest import TINY_REFERENCE, make_tiny_project, run_grade


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], link: str = "") -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            t.addfile(info)
    return path


def test_a_zip_with_one_top_folder_unpacks_to_that_folder(tmp_path):
    archive = _zip(tmp_path / "alice.zip", {"alice/90_scale.py": b"x = 1\n", "alice/notes/a.txt": b"hi"})
    folder = archives.unpack(archive, tmp_path / "out")
    assert folder == tmp_path / "out" / "alice" and (folder / "90_scale.py").read_bytes() == b"x = 1\n"
    assert archives.candidate_name(archive) == "alice" and archives.candidate_name(tmp_path / "bob.tar.gz") == "bob.tar.gz"


@pytest.mark.parametrize("members, link, words", [
    ({"../escape.py": b"x"}, "", "outside its folder"),
    ({"/abs.py": b"x"}, "", "outside its folder"),
    ({"ok.py": b"x"}, "evil", "not a plain file"),
    ({f"f{k}.py": b"" for k in range(archives.MAX_MEMBERS + 1)}, "", "members (at most"),
    ({"big.bin": b"0" * (archives.MAX_BYTES + 1)}, "", "MiB unpacked"),
])
def test_what_a_folder_of_sources_never_needs_is_refused(tmp_path, members, link, words):
    archive = _tar(tmp_path / "c.tgz", members, link)
    with pytest.raises(ArchiveRefused, match=words.replace("(", r"\(")):
        archives.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escape.py").exists()


def test_a_corrupt_archive_is_refused(tmp_path):
    (tmp_path / "c.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ArchiveRefused, match="unreadable"):
        archives.unpack(tmp_path / "c.zip", tmp_path / "out")


@pytest.mark.slow
def test_a_batch_grades_archives_beside_folders(tmp_path):
    project = make_tiny_project(tmp_path)
    subs = project / "candidates"
    (subs / "folder_ann").mkdir(parents=True)
    (subs / "folder_ann" / "90_scale.py").write_text(TINY_REFERENCE)
    _zip(subs / "zip_bob.zip", {"zip_bob/90_scale.py": TINY_REFERENCE.encode()})
    _tar(subs / "tar_cy.tar.gz", {"90_scale.py": b"def scale(x):\n    return 3 * x\n"})
    _tar(subs / "evil_dan.tgz", {"../../x.py": b"x"})
    done = run_grade("batch", subs, "--exercise", "90_scale", "--out", project / "out", cwd=project)
    assert done.returncode == 2, done.stderr  # one candidate could not be graded: the operator should look
    rows = {r["candidate"]: r for r in csv.DictReader(open(project / "out" / "leaderboard.csv", encoding="utf-8"))}
    assert {k: rows[k]["status"] for k in rows} == {"folder_ann": "pass", "zip_bob": "pass", "tar_cy": "fail",
                                                   "evil_dan": "error"}
    assert "archive refused" in rows["evil_dan"]["error"] and not (project / "x.py").exists()
