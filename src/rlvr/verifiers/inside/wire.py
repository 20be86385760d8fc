"""Plain data across a process boundary, without trusting the sender.

Values are JSON in which every container is a tagged array, so tuples, sets and dict keys that are not
strings survive the trip: `[1, (2, 3)]` travels as `["l", [1, ["t", [2, 3]]]]`. Decoding builds only
genuine built-in objects (int, float, str, bool, None, list, tuple, set, frozenset, dict): whatever a
hostile sender writes, the receiver never holds one of its objects, so an `__eq__` that always says yes
cannot reach the comparison. Messages are length-prefixed frames on a file descriptor.

Big ints: Python refuses to convert an int of more than 4,300 decimal digits to or from text (decimal
conversion is quadratic), so an honest big answer would fail. Ints past 2**60 travel in hex,
`["i", "-0x1f"]`, which converts in linear time and has no such limit; a hex form is at most MAX_HEX
characters, and a plain JSON number of more than MAX_DIGITS digits is refused before it is converted, so
decoding stays linear whatever the sender writes.
"""

import json
import os
import re
import struct

MAX_FRAME = 1 << 24  # bytes; a longer frame is refused, not read
MAX_DEPTH = 100
MAX_DIGITS = 30  # a plain JSON int token; to_wire writes longer ones in hex
MAX_HEX = 1 << 22  # characters of a hex int: 16 million bits
# Members of one set (keys of one dict) that share a hash with another member. Ints equal modulo 2**61 - 1
# all hash alike, so a sender could make building a set quadratic: 40,000 such ints in 1 MiB would take the
# receiver most of a minute. Genuine data almost never has more than a few.
MAX_COLLISIONS = 256
_BIG = 1 << 60
_HEX = re.compile(r"-?0x[0-9a-f]+\Z")

_SCALARS = (float, str, bool, type(None))
_TAG_OF = {list: "l", tuple: "t", set: "s", frozenset: "f", dict: "d"}
_TYPE_OF = {"l": list, "t": tuple, "s": set, "f": frozenset}


class WireError(ValueError):
    pass


def to_wire(x, depth=0):
    """A JSON-ready form of plain data; TypeError for anything else (exact types, so no subclasses)."""
    t = type(x)
    if t is int:  # identity: a metaclass can make `t == int` say yes
        return x if -_BIG < x < _BIG else ["i", hex(x)]
    if any(t is s for s in _SCALARS):
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
    if depth >= MAX_DEPTH or type(v) is not list or len(v) != 2:
        raise WireError("malformed value")
    tag, items = v
    if tag == "i":
        if type(items) is not str or len(items) > MAX_HEX or not _HEX.match(items):
            raise WireError("malformed big int")
        return int(items, 16)
    if type(items) is not list:
        raise WireError("malformed value")
    try:
        if tag == "d":
            if any(type(kv) is not list or len(kv) != 2 for kv in items):
                raise WireError("malformed dict")
            pairs = [(from_wire(k, depth + 1), from_wire(x, depth + 1)) for k, x in items]
            _few_collisions([k for k, _ in pairs])
            return dict(pairs)
        if tag not in _TYPE_OF:
            raise WireError(f"unknown tag {str(tag)[:20]!r}")
        values = [from_wire(x, depth + 1) for x in items]
        if tag in ("s", "f"):
            _few_collisions(values)
        return _TYPE_OF[tag](values)
    except TypeError as e:  # an unhashable key or set member
        raise WireError(str(e)) from None


def _few_collisions(members: list) -> None:
    if len(members) - len({hash(m) for m in members}) > MAX_COLLISIONS:  # duplicates count too: never genuine
        raise WireError("too many members with the same hash")


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


def _parse_int(token: str) -> int:
    if len(token) > MAX_DIGITS + 1:  # the sign
        raise WireError("number too long (big ints travel in hex)")
    return int(token)


def loads(data):
    """JSON text or UTF-8 bytes -> data; WireError for anything that is not bounded, well-formed JSON
    (deep nesting, invalid UTF-8 and long number tokens included)."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        return json.loads(text, parse_int=_parse_int)
    except (ValueError, RecursionError, MemoryError) as e:  # WireError and UnicodeDecodeError are ValueErrors
        raise WireError(f"malformed JSON ({type(e).__name__})") from None
