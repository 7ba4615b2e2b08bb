"""Stack an image's layers and count the bytes it ships for nothing, two ways.

``squash`` applies the layers the way the engine does (overlayfs semantics, as in the OCI image
spec): a whiteout ``.wh.NAME`` deletes NAME and everything under it, an opaque marker
``.wh..wh..opq`` hides everything the layers below put in its directory, a new entry replaces
what was at its path. It marks every path a layer touches as added, modified, removed or
unchanged, and records what happened to every file's bytes that did not survive.

``dive_figures`` recomputes dive 0.13.1's numbers (``dive IMAGE --ci``: wasted bytes, efficiency,
user wasted percent) with dive's own rules, quirks included, so the workshop can quote them
without the dive binary. dive's rule, in words:

- Every layer is a tree of the paths its tar lists. Only the *leaves* of each layer's tree count
  (files, symlinks, empty directories, whiteouts), keyed by path.
- A leaf's size is its size in the tar; a whiteout's size is the size of what it deletes, read
  from the layers below *if that was a directory*, else 0.
- A path seen as a leaf in two or more layers is "inefficient", and *all* its sizes count as
  wasted, the copy that survives included. Efficiency is sum(smallest size per path) /
  sum(all sizes) over all leaf paths.

What dive misses follows from "only leaves, keyed by path" (``ImageAnalysis.wasted_bytes`` adds
it back):

- ``RUN rm -rf /data`` after a layer filled ``/data``: the whiteout ``.wh.data`` is a leaf at
  ``/data``, but in the layer that filled it ``/data`` had children, so it was no leaf there. The
  path is seen once, so it is not inefficient, and the files under it were each seen once too.
  Their bytes are in the image but in no figure of dive's. (dive does count the directory when an
  earlier layer had it empty, e.g. ``/var/lib/apt/lists`` in a Debian base.)
- An opaque directory (``rm -rf /dir && mkdir /dir`` in one RUN): dive never adds ``.wh..wh..``
  names to its trees, so it neither hides nor counts what the directory held below.
- A directory replaced by a file (or a file by a non-empty directory): again no path is a leaf
  twice.

``rm -rf /var/lib/apt/lists/*`` in its own layer is *not* missed: the shell expands the glob, so
the layer holds one ``.wh.`` whiteout per file, each a leaf at the deleted file's path.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from workshop.imagetar import WHITEOUT_PREFIX, Entry

#: Names dive never adds to its trees (opaque markers, aufs bookkeeping).
_DIVE_SKIPPED_PREFIX = WHITEOUT_PREFIX + WHITEOUT_PREFIX

# How bytes stop being visible, as `waste_by_layer` words it.
DELETED = "deleted"
DELETED_WITH_DIR = "deleted with its directory"
OPAQUE = "hidden by an opaque directory"
OVERWRITTEN = "overwritten"
REPLACED = "replaced (directory <-> file)"
KEPT = "still in the image (dive counts every copy of a path it sees in several layers)"


# Change and FinalFile are named tuples, not dataclasses: an image has some 100,000 of each,
# and the analysis cache pickles tuples several times faster.
class Change(NamedTuple):
    """A path one layer touches, relative to the layers below it."""

    path: str  # root-relative, no leading slash
    kind: str  # file, dir, symlink, hardlink, other
    size: int  # bytes the layer adds here; for "removed", bytes it hides
    change: str  # added, modified, removed, unchanged
    files: int = 1  # for "removed", how many files it hides


class FinalFile(NamedTuple):
    """A path of the final (squashed) filesystem and the layer that provides it.

    A hardlink's `size` is that of the data it shares (as ``ls -l`` shows it) and `link` the
    path the layer stored the data under.
    """

    path: str
    kind: str
    size: int
    layer: int
    link: str = ""


@dataclass(slots=True)
class Squashed:
    """The result of stacking: final tree, per-layer changes, and the fate of lost bytes."""

    files: list[FinalFile]
    changes: list[list[Change]]
    #: (layer that added the file, path) -> (layer that hid it, how); only files with bytes.
    lost: dict[tuple[int, str], tuple[int, str]]
    sizes: dict[tuple[int, str], int]


class _Node:
    """A node of a stacked tree: what is at a path now, and which layer put it there."""

    __slots__ = ("children", "entry", "layer")

    def __init__(self, entry: Entry | None, layer: int):
        self.children: dict[str, _Node] = {}
        self.entry = entry  # None for a directory no layer listed (created as a parent)
        self.layer = layer

    @property
    def kind(self) -> str:
        return self.entry.kind if self.entry is not None else "dir"


def _walk(node: _Node, path: str) -> Iterator[tuple[str, _Node]]:
    """`node` and everything under it, with paths."""
    stack = [(path, node)]
    while stack:
        path, node = stack.pop()
        yield path, node
        prefix = f"{path}/" if path else ""
        stack.extend((prefix + name, child) for name, child in node.children.items())


def _file_bytes(node: _Node, path: str) -> tuple[int, int]:
    """Bytes and number of regular files under `node` (itself included)."""
    nbytes = nfiles = 0
    for _, n in _walk(node, path):
        if n.entry is not None and n.entry.kind == "file":  # n.kind == "file", with the entry narrowed
            nbytes += n.entry.size
            nfiles += 1
    return nbytes, nfiles


def _same(old: Entry | None, new: Entry) -> bool:
    return old is not None and (old.kind, old.size, old.digest, old.mode, old.uid, old.gid, old.link) == (
        new.kind, new.size, new.digest, new.mode, new.uid, new.gid, new.link)


def squash(layers: list[list[Entry]]) -> Squashed:  # noqa: C901 (each overlayfs case is a few lines of one loop over the entries; apart, each would need the whole tree)
    """Stack the layers' entries (oldest first) as the engine does; see the module docstring."""
    root = _Node(None, -1)
    lost: dict[tuple[int, str], tuple[int, str]] = {}
    sizes: dict[tuple[int, str], int] = {}
    changes: list[list[Change]] = []

    def hide(node: _Node, path: str, index: int, how: str, how_below: str) -> None:
        for p, n in _walk(node, path):
            if n.entry is not None and n.entry.kind == "file" and n.entry.size:  # n.kind == "file"
                lost[(n.layer, p)] = (index, how if n is node else how_below)

    def parent_of(path: str, index: int) -> _Node:
        node = root
        for name in path.split("/")[:-1]:
            child = node.children.get(name)
            if child is None or child.kind != "dir":
                child = node.children[name] = _Node(None, index)
            node = child
        return node

    def lookup(path: str) -> _Node | None:
        node = root
        for name in path.split("/") if path else []:
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    for index, entries in enumerate(layers):
        layer_changes: list[Change] = []
        # Deletions first: they apply to the layers below, never to this layer's own entries.
        for entry in entries:
            if entry.kind == "whiteout":
                target = entry.target
                node = lookup(target)
                if node is None or node is root:
                    continue
                nbytes, nfiles = _file_bytes(node, target)
                layer_changes.append(Change(target, node.kind, nbytes, "removed", nfiles))
                hide(node, target, index, DELETED, DELETED_WITH_DIR)
                above = lookup(posixpath.dirname(target))
                assert above is not None  # the parent of the node found above
                del above.children[posixpath.basename(target)]
            elif entry.kind == "opaque":
                opaque_dir = lookup(entry.target)
                if opaque_dir is None:
                    continue
                for name, hidden in list(opaque_dir.children.items()):
                    path = posixpath.join(entry.target, name)
                    nbytes, nfiles = _file_bytes(hidden, path)
                    layer_changes.append(Change(path, hidden.kind, nbytes, "removed", nfiles))
                    hide(hidden, path, index, OPAQUE, OPAQUE)
                opaque_dir.children.clear()
        # A tar lists a directory's entries together: the parent of the entry before, if it is
        # the same directory, is still in place (only the deletions above remove nodes).
        parent_path, parent = None, root
        for entry in entries:
            if entry.kind in ("whiteout", "opaque", "meta"):
                continue
            directory, _, name = entry.path.rpartition("/")
            if directory != parent_path:
                parent_path, parent = directory, parent_of(entry.path, index)
            old = parent.children.get(name)
            node = _Node(entry, index)
            if entry.kind == "file" and entry.size:
                sizes[(index, entry.path)] = entry.size
            if old is None:
                change = "added"
            else:
                change = "unchanged" if _same(old.entry, entry) else "modified"
                if old.kind == "dir" and entry.kind == "dir":
                    node.children = old.children  # directories merge
                else:
                    how = OVERWRITTEN if old.kind != "dir" and entry.kind != "dir" else REPLACED
                    hide(old, entry.path, index, how, REPLACED)
            parent.children[name] = node
            layer_changes.append(Change(entry.path, entry.kind, entry.size, change))
        changes.append(layer_changes)

    files = []
    stack = [("", root)]  # the walk of _walk, written out: it passes every node of the image
    while stack:
        path, dir_node = stack.pop()
        prefix = f"{path}/" if path else ""
        for name, node in dir_node.children.items():
            child = prefix + name
            if node.children:
                stack.append((child, node))
            final = node.entry
            if final is None:
                files.append(FinalFile(child, "dir", 0, node.layer))
            elif final.kind == "hardlink":
                files.append(FinalFile(child, "hardlink", sizes.get((node.layer, final.link), 0), node.layer, final.link))
            else:
                files.append(FinalFile(child, final.kind, final.size, node.layer, final.link))
    files.sort()  # by path: no two final files share one
    # Bytes still reachable through a surviving hardlink (same layer) are not lost.
    linked = {(f.layer, f.link) for f in files if f.kind == "hardlink"}
    for key in linked & lost.keys():
        del lost[key]
    return Squashed(files, changes, lost, sizes)


# --- dive's rules -------------------------------------------------------------------------


class _DiveNode:
    """A node of one of dive's trees; `info` is None where dive stores an empty FileInfo."""

    __slots__ = ("children", "info", "layer")

    def __init__(self, info: Entry | None = None, layer: int = -1):
        self.children: dict[str, _DiveNode] = {}
        self.info = info
        self.layer = layer

    def copy(self) -> _DiveNode:
        clone = _DiveNode(self.info, self.layer)
        clone.children = {name: child.copy() for name, child in self.children.items()}
        return clone


def _dive_add(start: _DiveNode, path: str, info: Entry | None, layer: int) -> _DiveNode | None:
    """dive's AddPath from `start`: create missing parents with an empty payload, replace the
    payload at the end of the path but keep its children, give up (None) at a missing
    ``.wh..wh..`` name. Returns the node at the end of the path."""
    node = start
    for name in path.split("/"):
        if not name:
            continue
        child = node.children.get(name)
        if child is None:
            if name.startswith(_DIVE_SKIPPED_PREFIX):
                return None
            child = node.children[name] = _DiveNode(None, layer)
        node = child
    node.info, node.layer = info, layer
    return node


def _dive_get(root: _DiveNode, path: str) -> _DiveNode | None:
    node = root
    for name in path.split("/"):
        if name:
            child = node.children.get(name)
            if child is None:
                return None
            node = child
    return node


def _dive_visit(node: _DiveNode, path: str) -> Iterator[tuple[str, str, _DiveNode]]:
    """Every node under `node`, children before parents, names in byte order, as dive visits
    them; yields (path as dive names it, with a leaf's .wh. prefix removed, raw path, node)."""
    # Depth-first with a stack of (path, shown path, node, its names still to visit): a
    # recursive generator costs a frame per level for every node it passes up.
    stack = [(path, path, node, iter(sorted(node.children)))]
    while stack:
        raw, shown, current, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            if stack:  # not the starting node: yield it after everything under it
                yield shown, raw, current
            continue
        child = current.children[name]
        child_shown = f"{raw}/{name[len(WHITEOUT_PREFIX):]}" if name.startswith(WHITEOUT_PREFIX) else f"{raw}/{name}"
        if child.children:
            stack.append((f"{raw}/{name}", child_shown, child, iter(sorted(child.children))))
        else:  # a leaf (most nodes): yielded at once, never put on the stack
            yield child_shown, f"{raw}/{name}", child


def _dive_stack(lower: _DiveNode, upper: _DiveNode) -> None:
    """dive's FileTree.Stack: remove what upper's whiteouts name, add (or re-add) all else.

    dive visits upper's nodes (children before parents, names in byte order) and adds each by
    its path from the root; walking both trees side by side does the same in one pass.
    """
    for name in sorted(upper.children):
        child = upper.children[name]
        below = lower.children.get(name)
        if below is None and not name.startswith(_DIVE_SKIPPED_PREFIX) and (
                child.children or not name.startswith(WHITEOUT_PREFIX)):
            below = lower.children[name] = _DiveNode(None, child.layer)
        if below is not None and child.children:
            _dive_stack(below, child)
        if name.startswith(WHITEOUT_PREFIX):
            lower.children.pop(name[len(WHITEOUT_PREFIX):], None)
        elif below is not None:
            below.info, below.layer = child.info, child.layer


def _dive_tree(entries: list[Entry], layer: int) -> _DiveNode:
    root = _DiveNode()
    nodes = {"": root}  # path -> node: a layer only adds, so a node once made stays in place
    for entry in entries:
        directory, _, name = entry.path.rpartition("/")
        parent = nodes.get(directory)
        node = _dive_add(root, entry.path, entry, layer) if parent is None else _dive_add(parent, name, entry, layer)
        if node is not None:
            nodes[entry.path] = node
    return root


@dataclass(slots=True)
class _PathStats:
    count: int = 0
    total: int = 0
    smallest: int = -1
    #: (layer that added the bytes, path as dive shows it, bytes) behind `total`, for attribution.
    parts: list[tuple[int, str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DiveFigures:
    """dive 0.13.1's figures for an image, computed with its rules."""

    wasted_bytes: int
    efficiency: float
    user_wasted_percent: float  # a ratio, as dive's --highestUserWastedPercent takes it
    size_bytes: int
    user_size_bytes: int
    #: (path, times seen, bytes counted), largest first: dive's "Inefficient Files".
    inefficient_files: list[tuple[str, int, int]]
    #: (layer, path) of every file copy whose bytes are inside `wasted_bytes`.
    counted: frozenset[tuple[int, str]]
    #: The per-copy parts of `wasted_bytes`: (layer that added the bytes, path, bytes).
    parts: list[tuple[int, str, int]]


def dive_figures(layers: list[list[Entry]], layer_sizes: list[int]) -> DiveFigures:
    """Recompute ``dive --ci``'s numbers from the layers' entries (oldest first).

    `layer_sizes` are dive's layer sizes: the sum of the tar headers' sizes, 0 for a layer that
    `docker save` wrote as a symlink to another (dive reads the symlink, not its target).
    """
    stats: dict[str, _PathStats] = {}
    base: _DiveNode | None = None
    stacked: _DiveNode | None = None
    for index, entries in enumerate(layers):
        tree = _dive_tree(entries, index)
        if index == 0:
            base = tree
        # dive looks up what a whiteout deletes in layers 0..index-1 stacked on a copy of layer
        # 0 (so layer 0 counts twice, which changes nothing), or in layer 0 itself for layer 0.
        below = base if index == 0 else stacked
        assert below is not None  # layer 0's tree for layer 0, then the stack made from it
        for shown, raw, node in _dive_visit(tree, ""):
            if node.children:
                continue  # dive only counts the leaves of each layer's tree
            # dive registers the path before it sizes a whiteout; when it cannot place the
            # whiteout, it stops reading this layer and the registered path keeps a smallest
            # size of -1, which then counts in the efficiency score.
            path_stats = stats.get(shown)
            if path_stats is None:
                path_stats = stats[shown] = _PathStats()
            if shown != raw:  # only a whiteout's name is shown without its .wh.
                deleted = _dive_get(below, shown)
                if deleted is None:
                    break
                parts = []
                if deleted.info is not None and deleted.info.is_dir:
                    parts = [(n.layer, p, n.info.size)
                             for _, p, n in _dive_visit(deleted, shown) if n.info is not None and n.info.size]
                    if deleted.info.size:
                        parts.append((deleted.layer, shown, deleted.info.size))
                size = sum(part[2] for part in parts)
                path_stats.parts.extend(parts)
            else:
                size = node.info.size if node.info is not None else 0
                if size:
                    path_stats.parts.append((index, shown, size))
            path_stats.count += 1
            path_stats.total += size
            if path_stats.smallest < 0 or size < path_stats.smallest:
                path_stats.smallest = size
        if index == len(layers) - 1:
            break  # the stack is only looked up by later layers' whiteouts
        if index == 0:
            stacked, base = tree.copy(), None  # base is tree at layer 0
        assert stacked is not None  # made at layer 0, above
        _dive_stack(stacked, tree)

    inefficient = [(path, s.count, s.total) for path, s in stats.items() if s.count >= 2]
    inefficient.sort(key=lambda item: item[2], reverse=True)
    wasted = sum(item[2] for item in inefficient)
    discovered = sum(s.total for s in stats.values())
    efficiency = sum(s.smallest for s in stats.values()) / discovered if discovered else 1.0
    user_size = sum(layer_sizes[1:])
    if user_size:
        user_wasted = wasted / user_size
    else:  # Go's float division: 0/0 is NaN, x/0 is +Inf
        user_wasted = float("nan") if wasted == 0 else float("inf")
    parts = [(layer, path.lstrip("/"), size) for s in stats.values() if s.count >= 2 for layer, path, size in s.parts]
    return DiveFigures(
        wasted_bytes=wasted, efficiency=efficiency, user_wasted_percent=user_wasted,
        size_bytes=sum(layer_sizes), user_size_bytes=user_size, inefficient_files=inefficient,
        counted=frozenset((layer, path) for layer, path, _ in parts), parts=parts,
    )


def waste_rows(squashed: Squashed, dive: DiveFigures) -> list[dict]:
    """Where the wasted bytes come from: one row per (layer that added them, layer that hid
    them, how), split into what dive counts and what only we count. Sums to dive's waste plus
    the bytes dive misses."""
    groups: dict[tuple, list[int]] = {}

    def add(layer: int, removed_by: int | None, how: str, counted: bool, nbytes: int) -> None:
        group = groups.setdefault((layer, removed_by, how, counted), [0, 0])
        group[0] += nbytes
        group[1] += 1

    for layer, path, nbytes in dive.parts:
        removed_by, how = squashed.lost.get((layer, path), (None, KEPT))
        add(layer, removed_by, how, True, nbytes)
    for (layer, path), (removed_by, how) in squashed.lost.items():
        if (layer, path) not in dive.counted:
            add(layer, removed_by, how, False, squashed.sizes[(layer, path)])
    return [
        {"layer": layer, "removed_by": removed_by, "how": how, "counted_by_dive": counted,
         "wasted_bytes": nbytes, "files": nfiles}
        for (layer, removed_by, how, counted), (nbytes, nfiles) in groups.items()
    ]
