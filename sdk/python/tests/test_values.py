"""Typed values <-> Python values, and signatures (no server needed)."""

from __future__ import annotations

import pytest

from aurora_sdk import Typed, plain
from aurora_sdk._urls import http_url, ws_url
from aurora_sdk.values import ConversionError, Signature, infer, to_python, to_typed


@pytest.mark.parametrize(
    "value, typed",
    [
        (True, {"type": "bool", "value": True}),
        (3, {"type": "int64", "value": 3}),
        (2**63, {"type": "uint64", "value": 2**63}),
        (1.5, {"type": "float64", "value": 1.5}),
        ("s", {"type": "string", "value": "s"}),
        ([1, 2], {"type": "[]int64", "value": [1, 2]}),
        ([1, 2.5], {"type": "[]float64", "value": [1.0, 2.5]}),
        (["a"], {"type": "[]string", "value": ["a"]}),
        ([True, False], {"type": "[]bool", "value": [True, False]}),
        (Typed("uint8", 7), {"type": "uint8", "value": 7}),
    ],
)
def test_inferred_types(value, typed):
    assert to_typed(value) == typed


@pytest.mark.parametrize("value", [[], None, {"a": 1}, b"x", 2**64, ["a", 1]])
def test_what_cannot_be_inferred_says_so(value):
    with pytest.raises(ConversionError):
        to_typed(value)


@pytest.mark.parametrize(
    "value, type_name, message",
    [
        (True, "int64", "expected int64, got bool True"),
        (1.0, "int64", "expected int64, got float 1.0 (convert it with int())"),
        (128, "int8", "128 is out of range for int8 (-128..=127)"),
        (-1, "uint", "-1 is out of range for uint (0..=18446744073709551615)"),
        (1e39, "float32", "out of range for float32"),
        (float("nan"), "float64", "not a finite number"),
        ("3", "float64", "expected float64, got str '3'"),
        ("x", "[]string", "expected []string (a list), got str 'x'"),
        ([1, "2"], "[]int64", "element 1: expected int64, got str '2'"),
        (1, "bool", "expected bool, got int 1"),
    ],
)
def test_declared_types_are_checked(value, type_name, message):
    with pytest.raises(ConversionError, match=None) as e:
        to_typed(value, type_name, "result 0")
    assert message in str(e.value)
    assert str(e.value).startswith("result 0")


def test_declared_types_convert():
    assert to_typed(2, "float64") == {"type": "float64", "value": 2.0}
    assert to_typed((1, 2), "[]int32") == {"type": "[]int32", "value": [1, 2]}
    assert to_typed(None, "[]string") == {"type": "[]string", "value": None}
    assert to_typed(Typed("int64", 3), "float64") == {"type": "int64", "value": 3}
    with pytest.raises(ConversionError, match="expected string, got a Typed int64"):
        to_typed(Typed("int64", 3), "string")


def test_typed_values_become_python_values():
    assert to_python({"type": "int", "value": 3}) == 3
    assert to_python({"type": "float32", "value": 8}) == 8.0
    assert type(to_python({"type": "float32", "value": 8})) is float
    assert to_python({"type": "int64", "value": 2}, "float64") == 2.0
    assert type(to_python({"type": "int64", "value": 2}, "float64")) is float
    assert to_python({"type": "[]bool", "value": None}) == []
    assert to_python({"type": "uint64", "value": 2**64 - 1}) == 2**64 - 1
    assert plain([{"type": "string", "value": "a"}, {"type": "[]int8", "value": [1]}]) == ["a", [1]]
    with pytest.raises(ConversionError, match="expected int64, got string"):
        to_python({"type": "string", "value": "x"}, "int64")


def test_signatures():
    s = Signature(["string", "...int64"])
    assert s.describe() == "at least 1 value (string, ...int64)"
    assert s.convert_args([{"type": "string", "value": "a"}, {"type": "int64", "value": 1}, {"type": "[]int64", "value": [2, 3]}]) == ["a", 1, 2, 3]
    assert Signature(["any", "...any"]).convert_args([{"type": "bool", "value": True}, {"type": "[]string", "value": ["x"]}]) == [True, ["x"]]
    with pytest.raises(ConversionError, match="takes exactly 1 value \\(int64\\), got 2"):
        Signature(["int64"]).convert_args([{"type": "int64", "value": 1}] * 2)
    with pytest.raises(ConversionError, match="must be the last"):
        Signature(["...int64", "string"])


def test_results_by_signature():
    assert Signature([]).convert_results(None) == []
    with pytest.raises(ConversionError, match="declares no results but returned int 1"):
        Signature([]).convert_results(1)
    assert Signature(["[]int64"]).convert_results((1, 2)) == [{"type": "[]int64", "value": [1, 2]}]
    assert Signature(["string", "int64"]).convert_results(("a", 1)) == [
        {"type": "string", "value": "a"}, {"type": "int64", "value": 1},
    ]
    with pytest.raises(ConversionError, match="return a tuple"):
        Signature(["string", "int64"]).convert_results(["a", 1])
    with pytest.raises(ConversionError, match="3 results returned"):
        Signature(["string", "int64"]).convert_results(("a", 1, 2))
    assert Signature(["...any"]).convert_results(("a", 1.5, Typed("uint8", 2))) == [
        {"type": "string", "value": "a"}, {"type": "float64", "value": 1.5}, {"type": "uint8", "value": 2},
    ]
    assert Signature(["...any"]).convert_results("one") == [{"type": "string", "value": "one"}]
    assert Signature(["...any"]).convert_results(None) == []


def test_infer_keeps_typed_values():
    t = Typed("int16", 5)
    assert infer(t) is t


def test_server_addresses():
    assert ws_url("http://127.0.0.1:4332", "/workers/ws") == "ws://127.0.0.1:4332/workers/ws"
    assert ws_url("https://a.example/aurora/graphql", "/workers/ws") == "wss://a.example/aurora/workers/ws"
    assert ws_url("127.0.0.1:4332/", "/graphql/ws") == "ws://127.0.0.1:4332/graphql/ws"
    assert http_url("ws://h:1/workers/ws", "/graphql") == "http://h:1/graphql"
    with pytest.raises(ValueError):
        http_url("ftp://h", "/graphql")
