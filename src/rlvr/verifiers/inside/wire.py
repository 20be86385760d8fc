"""Plain data across a process boundary, without trusting the sender.

Values are JSON in which every container is a tagged array, so tuples, sets and dict keys that are not
strings survive the trip: `[1, (2, 3)]` travels as `["l", [1, ["t", [2, 3]]]]`. Decoding builds only
genuine built-in objects (int, float, str, bool, None, list, tuple, set, frozenset, dict): whatever a
hostile sender writes, the receiver never holds one of its objects, so an `__eq__` that always says yes
cannot reach the comparison. Messages are length-prefixed frames on a file descriptor.
"""

import json
import os
import struct

MAX_FRAME = 1 << 24  # bytes; a longer frame is refused, not read
MAX_DEPTH = 100

_SCALARS = (int, float, str, bool, type(None))
_TAG_OF = {list: "l", tuple: "t", set: "s", frozenset: "f", dict: "d"}
_TYPE_OF = {"l": list, "t": tuple, "s": set, "f": frozenset}


class WireError(ValueError):
    pass


def to_wire(x, depth=0):
    """A JSON-ready form of plain data; TypeError for anything else (exact types, so no subclasses)."""
    t = type(x)
    if any(t is s for s in _SCALARS):  # identity: a metaclass can make `t == int` say yes
        return x
    if depth >= MAX_DEPTH:
        raise TypeError("nested too deeply")
    tag = next((v for k, v in _TAG_OF.items() if t is k), None)
    if tag is None:
        raise TypeError(f"not plain data: {t.__name__}")
    if tag == "d":
        return ["d", [[to_wire(k, depth + 1), to_wire(v, depth + 1)] for k, v in x.items()]]
    return [tag, [to_wire(v, depth + 1) for v in x]]


def from_wire(v, depth=0):
    """The value `to_wire` encoded; WireError for anything malformed."""
    if v is None or type(v) in (int, float, str, bool):  # json.loads builds only exact built-ins
        return v
    if depth >= MAX_DEPTH or type(v) is not list or len(v) != 2 or type(v[1]) is not list:
        raise WireError("malformed value")
    tag, items = v
    try:
        if tag == "d":
            if any(type(kv) is not list or len(kv) != 2 for kv in items):
                raise WireError("malformed dict")
            return {from_wire(k, depth + 1): from_wire(x, depth + 1) for k, x in items}
        if tag not in _TYPE_OF:
            raise WireError(f"unknown tag {tag!r}")
        return _TYPE_OF[tag](from_wire(x, depth + 1) for x in items)
    except TypeError as e:  # an unhashable key or set member
        raise WireError(str(e)) from None


def send(fd: int, payload: bytes) -> None:
    data = struct.pack(">I", len(payload)) + payload
    while data:
        data = data[os.write(fd, data):]


def receive(fd: int):
    """The next frame's bytes, or None at end of stream."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes")
    body = _read_exactly(fd, n)
    if body is None:
        raise WireError("stream ended inside a frame")
    return body


def _read_exactly(fd: int, n: int):
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def dumps(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def loads(data: bytes):
    return json.loads(data.decode())
