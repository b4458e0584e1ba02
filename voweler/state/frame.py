"""How one committed state is laid out as bytes: a frame around an encoded model state.

A frame is a fixed 40-byte header followed by the payload::

    offset  size  field
    0       4     magic  b"VWLR"
    4       2     frame format (1)
    6       2     reserved (0)
    8       8     version, unsigned little-endian; +1 per committed transaction
    16      8     payload length in bytes
    24      16    BLAKE2b-128 digest of bytes 0-23 and the payload
    40      ...   payload

The digest makes a frame self-validating: a reader that copied a frame while a writer was
overwriting it, or a frame half-written by a process that was killed, fails validation and is
never decoded. Nothing scans for terminators: the length says where the payload ends.

The payload (:func:`encode_state`) is a model's ``to_state()`` dict: a 4-byte length, a JSON
document with the plain values and a table of the arrays, then the arrays' raw little-endian
bytes. It is not pickle, so a payload read from a shared store cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np
import orjson

MAGIC = b"VWLR"
FORMAT = 1
HEADER = struct.Struct("<4sHHQQ16s")
_PREFIX = struct.Struct("<4sHHQQ")  # the digested part of the header
HEADER_SIZE = HEADER.size  # 40


@dataclass(frozen=True)
class Frame:
    """One committed state: its version, its digest (the frame's identity) and its payload."""

    version: int
    digest: bytes
    payload: bytes

    @classmethod
    def build(cls, version: int, payload: bytes) -> "Frame":
        """Frame ``payload`` as ``version``.

        >>> frame = Frame.build(7, b"hello")
        >>> Frame.parse(frame.to_bytes()) == frame
        True
        """
        return cls(version, _digest(version, payload), payload)

    def to_bytes(self) -> bytes:
        return self.header() + self.payload

    def header(self) -> bytes:
        return HEADER.pack(MAGIC, FORMAT, 0, self.version, len(self.payload), self.digest)

    @property
    def size(self) -> int:
        """Bytes the frame occupies in a store."""
        return HEADER_SIZE + len(self.payload)

    @classmethod
    def parse(cls, data: bytes) -> "Frame | None":
        """The frame that ``data`` starts with, or None if it is not a complete, valid one.

        >>> data = bytearray(Frame.build(3, b"state").to_bytes())
        >>> data[-1] ^= 1  # one flipped bit, as a torn copy would have
        >>> Frame.parse(bytes(data)) is None
        True
        """
        header = peek(data)
        if header is None:
            return None
        version, length, digest = header
        if length > len(data) - HEADER_SIZE:
            return None
        payload = bytes(data[HEADER_SIZE : HEADER_SIZE + length])
        if _digest(version, payload) != digest:
            return None
        return cls(version, digest, payload)


def peek(buffer, offset: int = 0) -> tuple[int, int, bytes] | None:
    """(version, payload length, digest) from a header, unvalidated; None if no header is there.

    Cheap (no copy of the payload): readers use it to see whether anything changed.
    """
    if len(buffer) - offset < HEADER_SIZE:
        return None
    magic, fmt, _, version, length, digest = HEADER.unpack_from(buffer, offset)
    if magic != MAGIC or fmt != FORMAT:
        return None
    return version, length, digest


def _digest(version: int, payload: bytes) -> bytes:
    h = hashlib.blake2b(_PREFIX.pack(MAGIC, FORMAT, 0, version, len(payload)), digest_size=16)
    h.update(payload)
    return h.digest()


# -- payload: a model's state dict ------------------------------------------------------------

_META_LEN = struct.Struct("<I")


def encode_state(state: dict) -> bytes:
    """Encode a dict of JSON values and numpy arrays.

    >>> payload = encode_state({"dim": 2, "weights": np.array([0.5, -1.0])})
    >>> decode_state(payload)
    {'dim': 2, 'weights': array([ 0.5, -1. ])}
    """
    values, arrays, chunks, offset = {}, [], [], 0
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"array {key!r} holds Python objects")
            data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
            arrays.append([key, value.dtype.newbyteorder("<").str, list(value.shape), offset, len(data)])
            chunks.append(data)
            offset += len(data)
        else:
            values[key] = value
    meta = json.dumps({"values": values, "arrays": arrays}, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([_META_LEN.pack(len(meta)), meta, *chunks])


def decode_state(payload: bytes, writable: bool = False) -> dict:
    """Decode :func:`encode_state`'s output.

    Arrays are read-only views of ``payload`` unless ``writable`` is set, so a state shared by
    several readers cannot be changed by accident.
    """
    (meta_len,) = _META_LEN.unpack_from(payload, 0)
    start = _META_LEN.size + meta_len
    meta = orjson.loads(payload[_META_LEN.size : start])
    state = dict(meta["values"])
    for key, dtype, shape, offset, nbytes in meta["arrays"]:
        dtype = np.dtype(dtype)
        array = np.frombuffer(payload, dtype=dtype, count=nbytes // dtype.itemsize, offset=start + offset)
        array = array.reshape(shape)
        state[key] = array.copy() if writable else array
    return state
