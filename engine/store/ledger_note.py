"""Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), Ed25519.

A checkpoint's body::

    escalation-handlers/audit          origin ($ESCALATION_LEDGER_ORIGIN)
    1234                               tree size: ledger entries covered
    <base64 RFC 6962 root>
    chain <hex>                        extension lines: the hash chain's head,
    kind periodic|shutdown|prune|…     why it was written, and any extras (prune: cut, counts)

then a blank line and a signature line ``— <key name> <base64(key id ‖ signature)>`` over the body.
The key id is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), as signed-note defines
for Ed25519. Keys:

- signing: ``$ESCALATION_LEDGER_KEY`` (base64 of the 32-byte Ed25519 seed; never logged or stored),
  name ``$ESCALATION_LEDGER_KEY_NAME`` (default ``escalation-handlers``). Unset: checkpoints are written
  unsigned and ``verify`` says so.
- verifying: a file of verifier keys, one per line, ``<name>+<hex key id>+<base64(0x01 ‖ public key)>``
  optionally followed by `` from=<size>``: the key may only sign checkpoints of at least that size.
  Rotation = a new key with ``from=`` the ledger size at the switch; a checkpoint of an older size
  signed with it is refused (so a stolen new key cannot re-sign history).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DASH = "\u2014"


@dataclass(frozen=True)
class SigningKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public: bytes
    from_size: int = 0


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


def key_id_hex(key: SigningKey | None) -> str:
    return key_id(key.name, key.public).hex() if key else ""


def key_from_env() -> SigningKey | None:
    seed = os.environ.get("ESCALATION_LEDGER_KEY")
    if not seed:
        return None
    try:
        raw = base64.b64decode(seed, validate=True)
        private = Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        raise ValueError("ESCALATION_LEDGER_KEY is not the base64 of a 32-byte Ed25519 seed") from None
    return SigningKey(os.environ.get("ESCALATION_LEDGER_KEY_NAME", "escalation-handlers"), private)


def new_key(name: str = "escalation-handlers") -> tuple[str, str]:
    """(base64 seed for $ESCALATION_LEDGER_KEY, verifier key line)."""
    private = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(seed).decode(), vkey(SigningKey(name, private))


def vkey(key: SigningKey) -> str:
    encoded = base64.b64encode(b"\x01" + key.public).decode()
    return f"{key.name}+{key_id(key.name, key.public).hex()}+{encoded}"


def parse_vkeys(text: str) -> list[VerifierKey]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        try:
            name, kid, b64 = head.split("+", 2)
            raw = base64.b64decode(b64, validate=True)
            from_size = int(rest.strip().removeprefix("from=")) if rest.strip() else 0
        except ValueError:
            raise ValueError(f"line {n}: not a verifier key '<name>+<hex id>+<base64 key>' [from=N]") from None
        if raw[:1] != b"\x01" or len(raw) != 33 or key_id(name, raw[1:]).hex() != kid:
            raise ValueError(f"line {n}: key {name}: id or Ed25519 key malformed")
        out.append(VerifierKey(name, bytes.fromhex(kid), raw[1:], from_size))
    return out


def origin() -> str:
    return os.environ.get("ESCALATION_LEDGER_ORIGIN", "escalation-handlers/audit")


def body(size: int, head: bytes, chain: bytes, kind: str, extra: dict[str, Any] | None = None) -> str:
    lines = [origin(), str(size), base64.b64encode(head).decode(), f"chain {chain.hex()}", f"kind {kind}"]
    lines += [f"{k} {v}" for k, v in sorted((extra or {}).items())]
    return "\n".join(lines) + "\n"


def sign(text: str, key: SigningKey | None) -> str:
    if key is None:
        return text + "\n"
    sig = key.private.sign(text.encode())
    return text + f"\n{DASH} {key.name} {base64.b64encode(key_id(key.name, key.public) + sig).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    ext: dict[str, str]
    text: str  # the signed body
    signatures: list[tuple[str, bytes, bytes]]  # (name, key id, signature)


def parse(note: str) -> Checkpoint:
    text, sep, sigs = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note: no blank line before the signatures")
    lines = text.split("\n")
    if len(lines) < 3:
        raise ValueError("checkpoint body needs origin, size and root")
    ext = dict(line.split(" ", 1) for line in lines[3:] if " " in line)
    signatures = []
    for line in sigs.splitlines():
        if not line.startswith(DASH + " "):
            continue
        _, name, b64 = line.split(" ", 2)
        raw = base64.b64decode(b64)
        signatures.append((name, raw[:4], raw[4:]))
    return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2]), ext, text + "\n", signatures)


def check(cp: Checkpoint, keys: list[VerifierKey], *, predating: bool = False) -> str | None:
    """None when a known key validly signed ``cp`` within its epoch; else why not (one line). ``predating``
    (``verify`` of a whole log only, never a proof): an unsigned checkpoint below every key's ``from=`` passes."""
    if not cp.signatures:
        if predating and keys and cp.size < min(k.from_size for k in keys):
            return None  # written before any key took over (the first key's from=): nothing to sign it then
        return ("unsigned (if the log ran without a key before signing began, give the first verifier key "
                "' from=N', N one more than the ledger size then)")
    problems = []
    for name, kid, sig in cp.signatures:
        key = next((k for k in keys if k.name == name and k.key_id == kid), None)
        if key is None:
            problems.append(f"signed by unknown key {name}+{kid.hex()}")
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public).verify(sig, cp.text.encode())
        except InvalidSignature:
            problems.append(f"bad signature by {name}+{kid.hex()}")
            continue
        if cp.size < key.from_size:
            problems.append(f"signed by {name}+{kid.hex()}, a key valid only from size {key.from_size} "
                            f"(checkpoint size {cp.size}): re-signed after rotation")
            continue
        return None
    return "; ".join(problems)


def split_notes(text: str) -> list[str]:
    """The notes of an append-only checkpoint log (each: body, blank line, signature lines)."""
    notes: list[str] = []
    cur: list[str] = []
    in_sigs = False
    for line in text.split("\n"):
        if not line:
            if in_sigs and cur:
                notes.append("\n".join(cur) + "\n")
                cur, in_sigs = [], False
            elif cur:
                cur.append("")
                in_sigs = True
            continue
        cur.append(line)
    if cur:
        notes.append("\n".join(cur) + "\n")
    return notes
