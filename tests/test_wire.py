"""The wire format between the in-sandbox checker and the candidate's process: only genuine plain data."""

import os

import pytest

from rlvr.verifiers.inside.wire import MAX_FRAME, WireError, from_wire, receive, send, to_wire


def test_round_trip_keeps_container_types():
    value = [1, 2.5, "s", True, None, (1, (2,)), {3, 4}, frozenset({5}), {"a": [1], (1, 2): {"b": None}}]
    back = from_wire(to_wire(value))
    assert back == value and type(back[5]) is tuple and type(back[6]) is set and type(back[7]) is frozenset


def test_subclasses_and_other_objects_are_refused():
    class M(type):
        def __eq__(cls, other):
            return True

        __hash__ = type.__hash__

    class AlwaysEqual(int, metaclass=M):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    for bad in (AlwaysEqual(0), [AlwaysEqual(0)], object(), {"k": lambda: 0}):
        with pytest.raises(TypeError):
            to_wire(bad)


@pytest.mark.parametrize("bad", [[1], ["x", [1]], ["d", [[1]]], ["s", [["l", []]]], {"a": 1}, ["l", 5]])
def test_malformed_input_is_an_error(bad):
    with pytest.raises(WireError):
        from_wire(bad)


def test_frames(tmp_path):
    r, w = os.pipe()
    send(w, b"hello")
    send(w, b"")
    os.write(w, (MAX_FRAME + 1).to_bytes(4, "big"))
    os.close(w)
    assert receive(r) == b"hello" and receive(r) == b""
    with pytest.raises(WireError):
        receive(r)
    os.close(r)
