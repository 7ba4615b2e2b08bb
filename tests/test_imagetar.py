"""workshop.imagetar's own tar reader against Python's tarfile, on every header format tarfile writes."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib

import pytest
import xxhash
import zstandard

from workshop import imagetar
from workshop.imagetar import TarStream, read_layer, read_saved_image

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


# --- compressed layers: gzip (docker save of the containerd image store) and zstd (BuildKit) -----

def _header(name: str, size: int = 0, kind: bytes = b"0") -> bytes:
    """A ustar header as tarfile writes it, made by hand: tarfile takes seconds for 50,000 of them."""
    block = bytearray(512)
    block[0:len(name)] = name.encode()
    block[100:136] = b"0000644\0" b"0000000\0" b"0000000\0" + b"%011o\0" % size
    block[136:156] = b"00000000000\0" + b" " * 8  # mtime; the checksum counts its own field as spaces
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _files_tar(count: int) -> tuple[bytes, list[tuple]]:
    """A layer tar of `count` small files (some empty) in directories of 1,000, without its two end
    blocks; and the (path, kind, size, digest) rows read_layer should give for it."""
    parts, rows = [], []
    for i in range(count):
        folder = f"srv/d{i // 1000:03d}"
        if i % 1000 == 0:
            parts.append(_header(folder, kind=b"5"))
            rows.append((folder, "dir", 0, 0))
        data = b"%d\n" % i * (i % 5)
        parts.append(_header(f"{folder}/f{i}", len(data)) + data + bytes(-len(data) % 512))
        rows.append((f"{folder}/f{i}", "file", len(data), xxhash.xxh3_64_intdigest(data) if data else 0))
    return b"".join(parts), rows


def _rows(layer) -> list[tuple]:
    return [(entry.path, entry.kind, entry.size, entry.digest) for entry in layer.entries]


def _zstd_frames(data: bytes, frames: int = 3) -> bytes:
    """zstd as BuildKit streams it (no content size in the frame header), in several frames."""
    out, step = [], -(-len(data) // frames)
    for start in range(0, len(data), step):
        compressor = zstandard.ZstdCompressor().compressobj()
        out.append(compressor.compress(data[start:start + step]) + compressor.flush())
    return b"".join(out)


def _read(data: bytes):
    return read_layer(io.BufferedReader(io.BytesIO(data)))


@pytest.fixture(scope="module")
def many_files() -> tuple[bytes, list[tuple]]:
    body, rows = _files_tar(50_000)
    return body + bytes(1024), rows


def test_a_gzipped_layer_of_50000_files_reads_as_its_plain_tar(many_files):
    """Names, kinds, sizes, digests (every field of every entry) agree with the plain tar's."""
    data, rows = many_files
    assert len(rows) > 50_000
    with tarfile.open(fileobj=io.BytesIO(_files_tar(3)[0] + bytes(1024))) as tar:  # the headers are tarfile's
        assert [(info.name, info.size) for info in tar] == [(row[0], row[2]) for row in _files_tar(3)[1]]
    plain = _read(data)
    assert _rows(plain) == rows
    assert _read(gzip.compress(data, 1)).entries == plain.entries


def test_a_zstd_layer_reads_as_its_plain_tar(many_files):
    """BuildKit's zstd layers (magic 28 B5 2F FD) are read through the zstandard package."""
    data, rows = many_files
    assert _rows(_read(_zstd_frames(data))) == rows


def test_a_zstd_layer_without_zstandard_is_an_error_that_names_the_package(monkeypatch):
    """Without the optional package a zstd layer stops the reading with a clear error, not garbage
    (nor a layer 'missing from the tarball', as before zstd was recognized)."""
    monkeypatch.setattr(imagetar, "zstandard", None)
    data = _tarball(tarfile.PAX_FORMAT)
    with pytest.raises(ModuleNotFoundError, match="zstd-compressed layer.*pip install zstandard"):
        _read(_zstd_frames(data))
    with pytest.raises(ModuleNotFoundError, match="zstandard"):
        read_saved_image(io.BufferedReader(io.BytesIO(_oci_save([_zstd_frames(data)]))))


def _member(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(format=tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512)


def _oci_save(blobs: list[bytes]) -> bytes:
    """A `docker save` tarball in the OCI layout (Docker 25+): the layer blobs first, then the config,
    the manifest and index.json, which must still be read whole after the layers."""
    names = [f"{index + 1:064x}" for index in range(len(blobs))]
    config = json.dumps({"rootfs": {"type": "layers"}}).encode()
    manifest = json.dumps({"config": {"digest": "sha256:" + "c" * 64},
                           "layers": [{"digest": "sha256:" + name} for name in names]}).encode()
    index = json.dumps({"manifests": [{"digest": "sha256:" + "d" * 64}]}).encode()
    members = [_member(f"blobs/sha256/{name}", blob) for name, blob in zip(names, blobs, strict=True)]
    members += [_member("blobs/sha256/" + "c" * 64, config), _member("blobs/sha256/" + "d" * 64, manifest),
                _member("index.json", index)]
    return b"".join(members) + bytes(1024)


def test_compressed_layers_in_a_saved_image_are_read_in_place():
    """Blobs stored gzipped or zstd-compressed give the entries of their plain tars, each read only as
    far as its own member: a gzip layer whose tar lacks its end blocks (so the reader goes on to the
    end of the gzip stream) leaves the members after it intact. Their stored size is their compressed size."""
    pax, gnu = _tarball(tarfile.PAX_FORMAT), _tarball(tarfile.GNU_FORMAT)
    files, rows = _files_tar(3000)
    cut = len(files) // 3
    blobs = [pax, gzip.compress(files[:cut]) + gzip.compress(files[cut:]), _zstd_frames(gnu)]
    image = read_saved_image(io.BufferedReader(io.BytesIO(_oci_save(blobs))), compressed=True)
    assert image.config == {"rootfs": {"type": "layers"}}
    assert [layer.tar_bytes for layer in image.layers] == [len(blob) for blob in blobs]
    assert [layer.compressed_bytes for layer in image.layers][1:] == [len(blob) for blob in blobs[1:]]
    assert image.layers[0].entries == _read(pax).entries
    assert _rows(image.layers[1]) == rows
    assert image.layers[2].entries == _read(gnu).entries


class _Socket(io.RawIOBase):
    """A socket's stream: each read ends at the next of `cuts` (offsets), as recv returns what arrived."""

    def __init__(self, data: bytes, cuts: list[int]):
        self._data, self._at, self._cuts = data, 0, sorted(cuts)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        end = min([cut for cut in self._cuts if cut > self._at] + [len(self._data)])
        n = min(len(buffer), end - self._at)
        buffer[:n] = self._data[self._at:self._at + n]
        self._at += n
        return n


@pytest.mark.parametrize("arrived", [1, 2, 261])
def test_blobs_are_recognised_however_few_of_their_bytes_arrived_with_their_header(arrived):
    """Over the engine's socket, a buffered file's peek gives what its buffer holds: when only a
    few bytes of a blob came with its tar header, the blob is still a layer (plain, gzipped or
    zstd), not a member skipped for looking like no tar (CI on Docker 28.5, 2026-12-07)."""
    pax, gnu = _tarball(tarfile.PAX_FORMAT), _tarball(tarfile.GNU_FORMAT)
    blobs = [pax, gzip.compress(gnu), _zstd_frames(pax)]
    saved = _oci_save(blobs)
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        cuts = [info.offset_data + arrived for info in tar]
    stream = io.BufferedReader(_Socket(saved, cuts), imagetar.BUFFER_SIZE)
    image = read_saved_image(stream)
    assert [layer.tar_bytes for layer in image.layers] == [len(blob) for blob in blobs]
    assert [layer.entries for layer in image.layers] == [_read(pax).entries, _read(gnu).entries, _read(pax).entries]


def test_a_layer_the_tarball_lacks_or_holds_as_no_tar_is_named():
    """A layer blob the engine left out of its save, and one that is no tar, each get their sentence."""
    saved = _oci_save([_tarball(tarfile.PAX_FORMAT), _tarball(tarfile.GNU_FORMAT)])
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        first = next(iter(tar))
    without_first = saved[first.offset_data + first.size + (-first.size % 512):]
    with pytest.raises(ValueError, match="missing from the tarball: the engine left it out.*build it again"):
        read_saved_image(io.BufferedReader(io.BytesIO(without_first)))
    with pytest.raises(ValueError, match="what the tarball holds under that name is no tar"):
        read_saved_image(io.BufferedReader(io.BytesIO(_oci_save([b"not a layer", _tarball(tarfile.GNU_FORMAT)]))))


def test_a_truncated_gzip_layer_is_an_error():
    """A gzip stream cut short in the middle of its tar is an error, alone or as a saved image's blob
    (whose member is whole), not a shorter file list."""
    files, _ = _files_tar(3000)
    cut_short = gzip.compress(files + bytes(1024))[:-5000]
    with pytest.raises(EOFError, match="gzip stream ended"):
        _read(cut_short)
    with pytest.raises(EOFError, match="gzip stream ended"):
        read_saved_image(io.BufferedReader(io.BytesIO(_oci_save([cut_short]))))


# --- edge cases: what a tar may hold that the lessons' images do not -----------------------------


def test_pax_global_records_apply_to_every_member_after_them():
    """A pax global header ('g', as `git archive` writes one) holds records for all the members
    that follow, not only the next one; tarfile reads it so."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uid": "4321", "comment": "a global record"}) as tar:
        for name in ("first", "second", "third"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"xyz"))
    data = out.getvalue()
    assert data[156:157] == b"g"
    ours = [(header.name, header.uid, header.size) for header in TarStream(io.BytesIO(data))]
    assert ours == [(row[0], row[7], row[5]) for row in _tarfile_view(data)] == [
        ("first", 4321, 3), ("second", 4321, 3), ("third", 4321, 3)]


def _base256(block: bytes, start: int, length: int, value: int) -> bytes:
    """`block` with the numeric field at start:start+length written in GNU base-256 (the checksum
    is not recomputed: the reader, as Docker's, does not check it)."""
    return block[:start] + b"\x80" + value.to_bytes(length - 1, "big") + block[start + length:]


def test_base_256_numbers_are_read():
    """GNU tar writes a number octal cannot hold (a file over 8 GiB, a uid over 2 097 151) in
    base 256, flagged by the high bit: size, uid and gid read as their values."""
    content = b"z" * 700
    info = tarfile.TarInfo("big-owner")
    info.size = len(content)
    block = info.tobuf(format=tarfile.GNU_FORMAT)
    block = _base256(_base256(_base256(block, 124, 12, 700), 108, 8, 3_000_000), 116, 8, 3_000_001)
    data = block + content + bytes(-len(content) % 512) + bytes(1024)
    stream = TarStream(io.BytesIO(data))
    headers = [(header.name, header.size, header.uid, header.gid, stream.read()) for header in stream]
    assert headers == [("big-owner", 700, 3_000_000, 3_000_001, content)]
    assert imagetar._number(b"\xff" + b"\xff" * 7) == -1  # negative: two's complement, as GNU writes it


def test_a_layer_cut_short_inside_a_file_is_an_error():
    """A layer tar that ends in the middle of a file's content (a download cut off) is an error,
    not a shorter file list; cut at a member's boundary it ends there, as tar itself reads it."""
    files, _ = _files_tar(20)
    cut_inside = files[: 512 * 3 + 100]  # the second member's header, then part of its content
    with pytest.raises(EOFError, match="ended inside a member"):
        _read(cut_inside)
    with tarfile.open(fileobj=io.BytesIO(files)) as tar:
        tenth = tar.getmembers()[10].offset  # where the eleventh member's header starts
    assert [entry.path for entry in _read(files[:tenth]).entries] == [entry.path for entry in _read(files).entries][:10]


def test_a_large_gzipped_layer_is_read_as_a_stream():
    """A layer of 600 MB gzipped to under 4 MB (as BuildKit pushes a file of zeros):
    read as its plain tar is, its one file's size and hash right, without holding it in memory."""
    size, chunk = 600 * 2**20, 2**20
    info = tarfile.TarInfo("zeros.bin")
    info.size = size
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: a gzip wrapper
    parts = [squeeze.compress(info.tobuf(format=tarfile.PAX_FORMAT))]
    zeros = bytes(chunk)
    hasher = xxhash.xxh3_64()
    for _ in range(size // chunk):
        parts.append(squeeze.compress(zeros))
        hasher.update(zeros)
    parts.append(squeeze.compress(bytes(1024)) + squeeze.flush())
    gzipped = b"".join(parts)
    assert len(gzipped) < 4 * 2**20
    layer = _read(gzipped)
    assert [(entry.path, entry.size, entry.digest) for entry in layer.entries] == [
        ("zeros.bin", size, hasher.intdigest())]
