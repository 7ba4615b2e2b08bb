"""Read a `docker save` tarball as a stream: the file list of every layer, never the bytes.

An image tarball is a tar of tars: one `layer.tar` (or OCI blob) per layer, plus JSON that says
in which order the layers stack. The naive workshop image is about 7 GB, so we read it the way
`tar t` does: one pass, one member at a time, each layer opened as a nested tar *stream* over the
outer one (`tarfile` mode "r|"). What stays in memory is one file list per layer (paths, sizes,
modes, a CRC of each file's content), never file contents, a whole layer or the whole tarball.

Both layouts of `docker save` are understood:

- legacy (Docker Engine up to 24): ``<id>/layer.tar`` members, ``<config>.json``, and
  ``manifest.json`` last;
- OCI (Docker Engine 25+): ``blobs/sha256/<digest>`` members, ``index.json`` and
  ``manifest.json`` last.

Either way the stacking order is only known at the end, so layers are kept by member name until
then.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
import stat
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

log = logging.getLogger(__name__)

#: Read size for the outer and the nested tar streams. tarfile's default (10 KiB) costs a
#: multi-GB image hundreds of thousands of tiny reads; much larger is slower again, because the
#: stream reader copies its whole buffer on every 512-byte header it takes from it.
BUFFER_SIZE = 64 << 10
#: JSON members (config, manifests) are small; anything bigger that is not a tar is skipped.
MAX_JSON_BYTES = 16 << 20
GZIP_MAGIC = b"\x1f\x8b"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass(frozen=True, slots=True)
class Entry:
    """One member of a layer tar, as the layer records it.

    `path` is relative to the image root without a leading slash (``usr/bin/python3``), exactly
    as in the tar, so whiteouts keep their ``.wh.`` name. `size` is the number of content bytes
    the layer stores for it: 0 for directories, symlinks, hardlinks and whiteouts.
    """

    path: str
    kind: str  # file, dir, symlink, hardlink, other (devices, fifos), whiteout, opaque, meta
    size: int
    mode: int = 0
    uid: int = 0
    gid: int = 0
    link: str = ""
    crc: int = 0
    is_dir: bool = False  # as Go's archive/tar reports it (type flag or S_IFDIR mode bits)

    @property
    def target(self) -> str:
        """For a whiteout, the path it deletes; for an opaque marker, the directory it empties."""
        parent, name = posixpath.split(self.path)
        if self.kind == "whiteout":
            return posixpath.join(parent, name[len(WHITEOUT_PREFIX):])
        if self.kind == "opaque":
            return parent
        return self.path


@dataclass(slots=True)
class LayerTar:
    """The file list of one layer tar, in tar order."""

    name: str
    entries: list[Entry] = field(default_factory=list)
    size_bytes: int = 0  # sum of the tar headers' sizes, the figure dive shows per layer
    tar_bytes: int = 0  # length of the layer tar itself
    compressed_bytes: int | None = None
    alias_of: str | None = None  # set when the member was a symlink to another layer's tar


@dataclass(slots=True)
class SavedImage:
    """What a `docker save` stream holds: config, layer order and every layer's file list."""

    config: dict
    layers: list[LayerTar]
    repo_tags: list[str]


class _IterStream(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what the Docker SDK streams)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            try:
                self._left = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def open_chunks(chunks: Iterable[bytes]) -> BinaryIO:
    """A buffered file reading the byte chunks in order, e.g. ``client.api.get_image(name)``."""
    return io.BufferedReader(_IterStream(chunks), buffer_size=BUFFER_SIZE)


class _Counter:
    """Passes a layer's bytes through, counting them and, on request, gzipping them on the fly."""

    def __init__(self, raw: BinaryIO, compress: bool):
        self._raw = raw
        self.nbytes = 0
        self.compressed = 0
        # wbits=31: gzip framing, as a registry push stores layers; level -1 is zlib's default (6).
        self._zip = zlib.compressobj(-1, zlib.DEFLATED, 31) if compress else None

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.nbytes += len(data)
        if self._zip is not None and data:
            self.compressed += len(self._zip.compress(data))
        return data

    def finish(self) -> None:
        """Read what the nested tar reader left (end-of-archive padding) and close the gzip."""
        while self.read(BUFFER_SIZE):
            pass
        if self._zip is not None:
            self.compressed += len(self._zip.flush())


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of a stream-mode tar, one by one, without keeping them.

    `TarFile` remembers every member it has read (for random access we cannot do on a stream);
    a layer of 100,000 files would keep 100,000 `TarInfo` objects alive for nothing.
    """
    while (info := tar.next()) is not None:
        yield info
        tar.members.clear()


def _kind(info: tarfile.TarInfo, name: str) -> str:
    base = posixpath.basename(name)
    if base == OPAQUE_MARKER:
        return "opaque"
    if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
        return "meta"  # aufs bookkeeping (.wh..wh.plnk, ...), not part of the filesystem
    if base.startswith(WHITEOUT_PREFIX):
        return "whiteout"
    if info.isdir():
        return "dir"
    if info.isreg():
        return "file"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    return "other"


def clean_path(name: str) -> str:
    """A tar member name as a root-relative path ('./usr/bin/' -> 'usr/bin'); '' for the root."""
    name = posixpath.normpath("/" + name).lstrip("/")
    return "" if name == "." else name


def read_layer(stream: BinaryIO, name: str = "layer.tar") -> LayerTar:
    """The file list of one layer tar read from `stream` (plain or gzipped), start to end."""
    layer = LayerTar(name)
    with tarfile.open(fileobj=stream, mode="r|*", bufsize=BUFFER_SIZE) as tar:
        for info in members(tar):
            path = clean_path(info.name)
            if not path:
                continue
            kind = _kind(info, path)
            crc = 0
            if info.isreg() and info.size:
                # The CRC tells "modified" from "unchanged" when a later layer rewrites a file.
                data = tar.extractfile(info)
                while chunk := data.read(BUFFER_SIZE):
                    crc = zlib.crc32(chunk, crc)
            layer.entries.append(Entry(
                path=path, kind=kind, size=info.size, mode=stat.S_IMODE(info.mode),
                uid=info.uid, gid=info.gid, link=clean_path(info.linkname) if info.islnk() else info.linkname,
                crc=crc, is_dir=info.isdir() or stat.S_ISDIR(info.mode),
            ))
            layer.size_bytes += info.size
    return layer


def _looks_like_tar(name: str, head: bytes) -> bool:
    if name.endswith((".tar", ".tar.gz", ".tgz")):
        return True
    # OCI blobs have no extension: a tar has "ustar" at offset 257; an empty tar is all zeros.
    return head[257:262] == b"ustar" or head.startswith(GZIP_MAGIC) or (len(head) >= 1024 and not any(head[:1024]))


def read_saved_image(stream: BinaryIO, *, compressed: bool = False) -> SavedImage:
    """Read a whole `docker save` stream once, front to back, and return what it describes."""
    layers: dict[str, LayerTar] = {}
    documents: dict[str, bytes] = {}
    with tarfile.open(fileobj=stream, mode="r|", bufsize=BUFFER_SIZE) as outer:
        for info in members(outer):
            name = clean_path(info.name)
            if info.issym():
                # `docker save` writes a layer it already wrote (same content) as a symlink.
                target = clean_path(posixpath.join(posixpath.dirname(name), info.linkname))
                layers[name] = LayerTar(name, alias_of=target)
                continue
            if not info.isreg():
                continue
            member = outer.extractfile(info)
            head = member.peek(1024)[:1024]
            if _looks_like_tar(name, head):
                log.debug("reading layer %s (%d bytes)", name, info.size)
                gzipped = head.startswith(GZIP_MAGIC)
                counter = _Counter(member, compress=compressed and not gzipped)
                layer = read_layer(counter, name)
                counter.finish()
                layer.tar_bytes = counter.nbytes
                if compressed:
                    layer.compressed_bytes = counter.nbytes if gzipped else counter.compressed
                layers[name] = layer
            elif info.size <= MAX_JSON_BYTES:
                documents[name] = member.read()
    return _assemble(layers, documents)


def _assemble(layers: dict[str, LayerTar], documents: dict[str, bytes]) -> SavedImage:
    """Put the layers in stacking order using manifest.json (or index.json for OCI-only tars)."""
    if "manifest.json" in documents:
        manifest = json.loads(documents["manifest.json"])[0]
        config_name, layer_names = manifest["Config"], manifest["Layers"]
        repo_tags = manifest.get("RepoTags") or []
    elif "index.json" in documents:
        index = json.loads(documents["index.json"])
        manifest = json.loads(documents[_blob(index["manifests"][0]["digest"])])
        config_name = _blob(manifest["config"]["digest"])
        layer_names = [_blob(layer["digest"]) for layer in manifest["layers"]]
        repo_tags = []
    else:
        raise ValueError("not a docker save tarball: neither manifest.json nor index.json found")
    ordered = []
    for name in map(clean_path, layer_names):
        layer = layers.get(name)
        if layer is None:
            raise ValueError(f"layer {name} is listed in the manifest but missing from the tarball")
        if layer.alias_of is not None:
            target = layers[layer.alias_of]
            layer = LayerTar(name, target.entries, target.size_bytes, target.tar_bytes,
                             target.compressed_bytes, alias_of=target.name)
        ordered.append(layer)
    return SavedImage(config=json.loads(documents[clean_path(config_name)]), layers=ordered, repo_tags=repo_tags)


def _blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"

