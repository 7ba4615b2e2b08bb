"""workshop.imagetar's own tar reader against Python's tarfile, on every header format tarfile writes."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib

import pytest

from workshop.imagetar import TarStream, read_layer

LONG = "deep/" * 30 + "name-longer-than-one-hundred-characters.txt"


def _tarball(fmt: int) -> bytes:
    """A tar with a file, an empty file, a long name, a directory, a symlink with a long target, a
    hard link, a fifo and unusual owners, in format `fmt`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mode = kind, len(data), fields.pop("mode", 0o644)
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("etc", tarfile.DIRTYPE, mode=0o755)
        add("etc/hello.txt", data=b"hello\n" * 1000, uid=1000, gid=1001)
        add("etc/empty")
        add(LONG, data=b"x" * 513)
        add("etc/link", tarfile.SYMTYPE, linkname="../" + LONG)
        add("etc/hard", tarfile.LNKTYPE, linkname="etc/hello.txt")
        add("run/fifo", tarfile.FIFOTYPE)
        add("opt/.wh..wh..opq")
    return out.getvalue()


def _tarfile_view(data: bytes) -> list[tuple]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        rows = []
        for info in tar:
            content = tar.extractfile(info).read() if info.isreg() else b""
            rows.append((info.name, info.isreg(), info.isdir(), info.issym(), info.islnk(), info.size,
                         info.mode, info.uid, info.gid, info.linkname, zlib.crc32(content)))
        return rows


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
def test_tar_stream_reads_what_tarfile_reads(fmt):
    """Names (long ones included), types, sizes, modes, owners, link targets and contents agree."""
    name = LONG if fmt != tarfile.USTAR_FORMAT else "etc/short"
    data = _tarball(fmt) if fmt != tarfile.USTAR_FORMAT else _ustar_only()
    stream = TarStream(io.BufferedReader(io.BytesIO(data)))
    ours = []
    for header in stream:
        content = stream.read() if header.isreg() else b""
        ours.append((header.name, header.isreg(), header.isdir(), header.issym(), header.islnk(), header.size,
                     header.mode, header.uid, header.gid, header.linkname, zlib.crc32(content)))
    assert ours == _tarfile_view(data)
    assert any(row[0] == name for row in ours)


def test_readinto_gives_each_member_its_own_content_in_pieces():
    """readinto fills a caller's buffer from the current member only (never past its end), as
    many times as it takes; what is left unread is skipped at the next member."""
    data = _tarball(tarfile.PAX_FORMAT)
    expected = {row[0]: row[-1] for row in _tarfile_view(data) if row[1]}
    stream = TarStream(io.BufferedReader(io.BytesIO(data)))
    buffer = memoryview(bytearray(100))
    seen = {}
    for header in stream:
        if not header.isreg() or header.name == "etc/empty":
            continue  # left unread: skipped
        content = b""
        while got := stream.readinto(buffer):
            content += buffer[:got]
        seen[header.name] = zlib.crc32(content)
    assert seen == {name: crc for name, crc in expected.items() if name != "etc/empty"}


def _ustar_only() -> bytes:
    """USTAR holds names up to 255 characters split at a slash (prefix field), no longer."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("a/" * 60 + "file", b"abc"), ("etc/short", b"12345")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_unread_content_is_skipped_and_a_gzipped_layer_is_read():
    """Members whose content nobody reads are skipped; read_layer takes plain and gzipped layers alike."""
    data = _tarball(tarfile.PAX_FORMAT)
    assert [h.name for h in TarStream(io.BufferedReader(io.BytesIO(data)))] == [row[0] for row in _tarfile_view(data)]
    plain = read_layer(io.BufferedReader(io.BytesIO(data)))
    zipped = read_layer(io.BufferedReader(io.BytesIO(gzip.compress(data))))
    assert plain.entries == zipped.entries
    kinds = {entry.path: entry.kind for entry in plain.entries}
    assert (kinds["etc/hard"], kinds["etc/link"], kinds["run/fifo"], kinds["opt/.wh..wh..opq"]) == (
        "hardlink", "symlink", "other", "opaque")
