"""RFC 6962 / RFC 9162 Merkle tree hashing: leaf ``H(0x00 ‖ d)``, node ``H(0x01 ‖ l ‖ r)``, SHA-256.

Pure functions over lists of leaf hashes: the tree head (MTH), inclusion proofs (RFC 9162 §2.1.3)
and their verification (§2.1.3.2), and a compact range (the roots of the perfect subtrees, left to
right) that appends a leaf in O(log n) and gives the head at any size without the leaves.
"""

from __future__ import annotations

import hashlib

try:
    from engine.store import _sealc  # type: ignore[attr-defined]  # C, when built (engine/store/_sealc.c)
except ImportError:
    _sealc = None

EMPTY = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: list[bytes]) -> bytes:
    """MTH over leaf *hashes* (RFC 9162 §2.1.1), in C when built (:func:`root_py` is the definition)."""
    if _sealc is not None and all(len(h) == 32 for h in leaves):
        return bytes(_sealc.merkle_root(b"".join(leaves)))
    return root_py(leaves)


def root_of(hashes: bytes) -> bytes:
    """:func:`root` over concatenated 32-byte leaf hashes."""
    if _sealc is not None:
        return bytes(_sealc.merkle_root(hashes))
    return root_py([hashes[i:i + 32] for i in range(0, len(hashes), 32)])


def root_py(leaves: list[bytes]) -> bytes:
    """MTH over leaf *hashes*, iteratively: pair left to right, carry an odd last node up."""
    if not leaves:
        return EMPTY
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 9162 §2.1.3.1), leaf to root."""
    n = len(leaves)
    if n <= 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_path(index, leaves[:k]) + [root(leaves[k:])]
    return inclusion_path(index - k, leaves[k:]) + [root(leaves[:k])]


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """The root an inclusion path of ``leaf`` at ``index`` in a tree of ``size`` leads to (RFC 9162 §2.1.3.2
    without the final comparison); None when the path cannot belong to such a tree."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove ``leaf`` at ``index`` in the tree of ``size`` with ``expected_root``?"""
    return root_from_path(index, size, leaf, path) == expected_root


class CompactRange:
    """The perfect-subtree roots of a tree of ``size`` leaves, largest first: append and head in O(log n)."""

    def __init__(self, size: int = 0, nodes: list[bytes] | None = None) -> None:
        self.size = size
        self.nodes = list(nodes or [])

    def append(self, leaf: bytes) -> None:
        self.nodes.append(leaf)
        n = self.size
        while n & 1:  # merge equal-height subtrees
            right = self.nodes.pop()
            self.nodes[-1] = node_hash(self.nodes[-1], right)
            n >>= 1
        self.size += 1

    def head(self) -> bytes:
        if not self.nodes:
            return EMPTY
        acc = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.nodes)
