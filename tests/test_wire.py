"""The wire format between the in-sandbox checker and the candidate's process: only genuine plain data."""

import os
import time

import pytest

import pickle

from rlvr.verifiers.inside.wire import (MAX_FRAME, MAX_HEX, Graph, WireError, dumps, from_wire, loads, reachable, receive,
                                      send, to_wire)


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


def test_ints_of_any_size_cross_in_linear_time():
    for n in (0, -1, 2**60 - 1, 2**60, -(2**60), 2**20000, -(3**9000)):  # past 4,300 digits: no decimal text
        back = from_wire(loads(dumps(to_wire([n, {n: (n,)}]))))
        assert back == [n, {n: (n,)}] and type(back[0]) is int
    assert to_wire(True) is True and to_wire(2**70)[0] == "i"  # a bool stays a bool


def test_hash_collisions_are_bounded():
    """Ints equal modulo 2**61 - 1 share a hash: 20,000 of them made a set take seconds on the receiver."""
    m = 2**61 - 1
    colliding = ["s", [to_wire(k * m) for k in range(1, 20_000)]]
    start = time.perf_counter()
    for bad in (colliding, ["d", [[x, None] for x in colliding[1]]], ["s", [1] * 1000]):
        with pytest.raises(WireError):
            from_wire(bad)
    assert time.perf_counter() - start < 1.0
    honest = {-1, -2, *range(10_000), *(k * m for k in range(1, 200))}  # a few collisions are fine
    assert from_wire(to_wire(honest)) == honest


@pytest.mark.parametrize("text", ["[" * 100_000, "1" * 40, '{"v": ' + "9" * 5000 + "}", "\ud800", b"\xff", "NaN]"])
def test_loads_refuses_unbounded_or_malformed_text(text):
    with pytest.raises(WireError):
        loads(text)


@pytest.mark.parametrize("bad", [[1], ["x", [1]], ["d", [[1]]], ["s", [["l", []]]], {"a": 1}, ["l", 5],
                                 ["i", "12"], ["i", "0x" + "f" * (MAX_HEX + 1)], ["i", 5], ["i", "0x1f "], [["l"], []]])
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


# ------------------------------------------------------------------ identity across a call (wire.Graph)

def call_across(function, *args):
    """What the checker sees of `function(*args)` run on a pickled copy, as candidate.py and checker.py do it."""
    known = reachable(args, {})
    copies, _ = pickle.loads(pickle.dumps((args, {})))
    sender = Graph(reachable(copies, {}))
    value = function(*copies)
    reply = loads(dumps([sender.encode(value), sender.states()]))
    receiver = Graph(known)
    result = from_wire(reply[0], graph=receiver)
    receiver.apply(reply[1])
    return result


def test_the_checks_objects_see_the_calls_effects():
    inner, other = [1], [2]
    xs = [inner, other, (other,)]

    def f(xs):
        xs[0].append(5)  # the check's `inner` sees it
        xs[1] = [9]  # a new list: the check's `other` keeps [2]
        xs.append(xs[0])  # shared with the first item
        return xs[2][0]  # an argument object deep inside

    assert call_across(f, xs) is other
    assert inner == [1, 5] and other == [2] and xs == [[1, 5], [9], ([2],), [1, 5]] and xs[0] is inner and xs[3] is inner
    d, s = {"k": [1]}, {1}
    assert call_across(lambda d, s: (d.pop("k"), s.add(2)), d, s) == ([1], None) and d == {} and s == {1, 2}
    grid = call_across(lambda n: [[0] * n] * n, 2)  # new objects the candidate shares stay shared
    assert grid[0] is grid[1]
    loop = [1]
    loop.append(loop)  # a cycle through an argument is a reference
    assert call_across(lambda x: x, loop) is loop and loop[1] is loop


def test_unmirrorable_arguments_and_new_cycles_are_refused():
    for bad in ([bytearray(b"x")], {"k": object()}, (1, [type("L", (list,), {})()]), iter([1])):
        with pytest.raises(TypeError):
            reachable((bad,), {})
    assert reachable((b"x", 1j, (1, "s"), range(3)), {}) == [b"x", 1j, (1, "s"), range(3)]  # immutable: nothing to write back
    with pytest.raises(TypeError):
        call_across(lambda: (lambda r: r.append(r) or r)([]))


@pytest.mark.parametrize("value, states", [
    (["r", 3], [None, None, None]), (["r", -1], [None, None, None]), (["n", 0], [None, None, None]),  # no such object
    (["l", [["n", 0]]], [None, None, None]),  # a new list inside itself
    (1, [None]), (1, [["l", []], None, None]),  # wrong number of states, or a state for the int argument
    (1, [None, ["d", []], ["l", []]]),  # a dict's contents for a list
    (1, [None, ["l", [7]], ["l", [["s", [["r", 1]]]]]]),  # a set holding a list; the first state was fine
])
def test_malformed_replies_are_refused_and_change_nothing(value, states):
    known = [5, [1], [2]]  # an int argument, then two lists
    receiver = Graph(known)
    with pytest.raises(WireError):
        from_wire(value, graph=receiver)
        receiver.apply(states)
    assert known == [5, [1], [2]]  # everything is decoded before anything is written


def test_references_are_refused_outside_a_graph():
    for bad in (["r", 0], ["n", 0]):
        with pytest.raises(WireError):
            from_wire(bad)
