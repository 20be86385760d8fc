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


def from_wire(v, depth=0, graph=None):
    """The value `to_wire` (or `Graph.encode`, given its `graph`) encoded; WireError for anything malformed."""
    if v is None or type(v) in (int, float, str, bool):  # json.loads builds only exact built-ins
        return v
    if depth >= MAX_DEPTH or type(v) is not list or len(v) != 2:
        raise WireError("malformed value")
    tag, items = v
    if tag == "i":
        if type(items) is not str or len(items) > MAX_HEX or not _HEX.match(items):
            raise WireError("malformed big int")
        return int(items, 16)
    if graph is not None and tag in ("r", "n"):
        return graph.resolve(tag, items)
    if graph is None or tag not in _MUTABLE_TAGS:
        return _build(tag, items, depth, graph)
    j = len(graph.built)
    graph.built.append(None)  # numbered before its items, as the sender did; None while open: no cycles
    graph.built[j] = value = _build(tag, items, depth, graph)
    return value


def _build(tag, items, depth, graph):
    if type(items) is not list:
        raise WireError("malformed value")
    try:
        if tag == "d":
            if any(type(kv) is not list or len(kv) != 2 for kv in items):
                raise WireError("malformed dict")
            pairs = [(from_wire(k, depth + 1, graph), from_wire(x, depth + 1, graph)) for k, x in items]
            _few_collisions([k for k, _ in pairs])
            return dict(pairs)
        if tag not in _TYPE_OF:
            raise WireError(f"unknown tag {str(tag)[:20]!r}")
        values = [from_wire(x, depth + 1, graph) for x in items]
        if tag in ("s", "f"):
            _few_collisions(values)
        return _TYPE_OF[tag](values)
    except TypeError as e:  # an unhashable key or set member
        raise WireError(str(e)) from None


# ------------------------------------------------------------------ identity across a call
#
# A call's arguments live in two processes: the check's objects, and the candidate's copies (pickled, so
# sharing between them is kept). For the check to see what Python would show it, the candidate's reply
# carries, besides the return value, the post-call contents of every list, dict and set reachable from the
# arguments, and both value and contents refer to those argument objects by number instead of copying
# them. `reachable` numbers them the same way on both sides: first the arguments themselves by position
# (any type: the return value may be one of them), then each list, dict and set reached depth-first through
# lists, tuples and dict values, once each. The encoding adds two tags to to_wire's: ["r", k] is known
# object k, and ["n", j] the j-th new list, dict or set of this reply (numbered in order of first
# appearance), so objects the candidate made and shares (`[[0] * 3] * 3`) arrive shared. A cycle through
# new objects is refused (TypeError / WireError); a cycle through argument objects is just a reference.

_MUTABLE = (list, dict, set)
_MUTABLE_TAGS = ("l", "d", "s")
# immutable leaves a check may pass besides plain data (they cross by pickle; they can only come back by "r")
_IMMUTABLE_LEAVES = (bytes, complex, range)


def reachable(args, kwargs) -> list:
    """The objects a call can change or hand back, numbered (see above). TypeError when an argument holds
    an object whose changes cannot be mirrored (a bytearray, an instance of a class, a list subclass...)."""
    known = list(args) + [kwargs[k] for k in sorted(kwargs)]
    seen = {id(x) for x in known}

    def walk(x, depth):
        t = type(x)
        if t is int or any(t is s for s in _SCALARS) or any(t is s for s in _IMMUTABLE_LEAVES):
            return
        if depth >= MAX_DEPTH or not any(t is c for c in (list, tuple, dict, set, frozenset)):
            raise TypeError(f"an argument holds {t.__name__} (nested {depth} deep): its changes cannot be mirrored")
        if t in _MUTABLE and depth and id(x) not in seen:
            seen.add(id(x))
            known.append(x)
        elif t in _MUTABLE and depth:
            return  # numbered already, its items walked or being walked
        for item in (x.items() if t is dict else x):
            if t is dict:
                walk(item[0], depth + 1)  # hashable: holds no list, dict or set, but may hold anything else
                walk(item[1], depth + 1)
            else:
                walk(item, depth + 1)

    for x in list(known):
        walk(x, 0)
    return known


class Graph:
    """One reply's numbering: `known` from `reachable`; the sender encodes, the receiver decodes."""

    def __init__(self, known: list):
        self.known = known  # held: no id is reused while the reply is made
        self.index: dict = {}
        for k, x in enumerate(known):
            self.index.setdefault(id(x), k)
        self.new: dict = {}  # sender: id -> number of a new list, dict or set
        self.open: set = set()
        self.held: list = []
        self.built: list = []  # receiver: the new objects by number (None while being built)

    def firsts(self) -> list:
        """The numbers whose post-call contents travel: mutable known objects, at their first number."""
        return [k for k, x in enumerate(self.known) if type(x) in _MUTABLE and self.index[id(x)] == k]

    def encode(self, x, depth=0, contents=False):
        """Like to_wire, with references. contents: x is a known object, sent as what it holds."""
        t = type(x)
        if not contents and id(x) in self.index:
            return ["r", self.index[id(x)]]
        if t is int or any(t is s for s in _SCALARS):
            return to_wire(x)
        if depth >= MAX_DEPTH:
            raise TypeError("nested too deeply")
        tag = next((v for k, v in _TAG_OF.items() if t is k), None)
        if tag is None:
            raise TypeError(f"not plain data: {t.__name__}")
        numbered = t in _MUTABLE and not contents
        if numbered:
            if id(x) in self.new:
                if self.new[id(x)] in self.open:
                    raise TypeError("a cycle through new objects")
                return ["n", self.new[id(x)]]
            j = self.new[id(x)] = len(self.new)
            self.open.add(j)
            self.held.append(x)
        if tag == "d":
            out = ["d", [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in x.items()]]
        else:
            out = [tag, [self.encode(v, depth + 1) for v in x]]
        if numbered:
            self.open.discard(j)
        return out

    def states(self) -> list:
        """Post-call contents of the known mutable objects, by number (None elsewhere); after `encode` of
        the value, as the receiver decodes in that order."""
        firsts = set(self.firsts())
        return [self.encode(x, contents=True) if k in firsts else None for k, x in enumerate(self.known)]

    def resolve(self, tag, n):
        pool = self.known if tag == "r" else self.built
        if type(n) is not int or not 0 <= n < len(pool) or pool[n] is None and tag == "n":
            raise WireError("a reference to no object (or a cycle)")
        return pool[n]

    def apply(self, states) -> None:
        """Write the reply's post-call contents into the known objects, in place (so every reference the
        check holds sees them): lists by slice assignment, dicts and sets by clear and update. Everything
        is decoded before anything is written; WireError for a malformed reply."""
        firsts = set(self.firsts())
        if type(states) is not list or len(states) != len(self.known):
            raise WireError("malformed argument states")
        updates = []
        for k, (x, state) in enumerate(zip(self.known, states)):
            if k not in firsts:
                if state is not None:
                    raise WireError("argument state for an object that has none")
                continue
            tag = _TAG_OF[type(x)]
            if type(state) is not list or len(state) != 2 or state[0] != tag:
                raise WireError("argument state of the wrong type")
            updates.append((x, _build(tag, state[1], 0, self)))
        for x, new in updates:
            if type(x) is list:
                x[:] = new
            else:
                x.clear()
                x.update(new)


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
