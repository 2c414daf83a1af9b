"""Aurora's typed values (``{"type": "int64", "value": 3}``) and plain Python values.

Type names are the seed's: ``bool``, ``int``, ``int8`` … ``int64``, ``uint``, ``uint8`` (``byte``)
… ``uint64``, ``float32``, ``float64``, ``string`` and ``[]T`` slices of them. A signature is a
list of type names where ``any`` takes any one value and a last ``...T`` takes any number of ``T``.
"""

from __future__ import annotations

import math
import operator
import reprlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = [
    "Typed",
    "ConversionError",
    "TYPE_NAMES",
    "to_python",
    "to_typed",
    "infer",
    "plain",
    "Signature",
]


class ConversionError(ValueError):
    """A value does not fit its declared type (the message says where and why)."""


# name -> (kind, bits); kind is bool, int, uint, float or string.
_SCALARS: Dict[str, Tuple[str, int]] = {
    "bool": ("bool", 0),
    "int": ("int", 64),
    "int8": ("int", 8),
    "int16": ("int", 16),
    "int32": ("int", 32),
    "int64": ("int", 64),
    "uint": ("uint", 64),
    "uint8": ("uint", 8),
    "byte": ("uint", 8),
    "uint16": ("uint", 16),
    "uint32": ("uint", 32),
    "uint64": ("uint", 64),
    "float32": ("float", 32),
    "float64": ("float", 64),
    "string": ("string", 0),
}

#: Every type name Aurora accepts.
TYPE_NAMES: Tuple[str, ...] = tuple(list(_SCALARS) + ["[]" + n for n in _SCALARS])

_FLOAT32_MAX = 3.4028234663852886e38
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class _Type:
    name: str  # as written, without the [] prefix
    kind: str
    bits: int
    slice: bool

    @property
    def full(self) -> str:
        return ("[]" if self.slice else "") + self.name

    def element(self) -> "_Type":
        return _Type(self.name, self.kind, self.bits, False)


def _parse_type(name: str) -> _Type:
    if not isinstance(name, str):
        raise ConversionError(f"a type name must be a string, got {_show(name)}")
    base, is_slice = (name[2:], True) if name.startswith("[]") else (name, False)
    if base not in _SCALARS:
        raise ConversionError(f"unknown type {name!r}; Aurora's types are {', '.join(TYPE_NAMES)}")
    kind, bits = _SCALARS[base]
    return _Type(base, kind, bits, is_slice)


def _show(v: Any) -> str:
    return f"{type(v).__name__} {reprlib.repr(v)}"


@dataclass(frozen=True)
class Typed:
    """A value with an explicit Aurora type, e.g. ``Typed("uint8", 3)``.

    Use it where the type cannot be inferred or should not be the default (``int64`` for ``int``,
    ``float64`` for ``float``): in a ``Graph`` task's args, or as a handler's result for an ``any``
    result type.
    """

    type: str
    value: Any

    def to_json(self) -> Dict[str, Any]:
        """The wire form, checked: ``{"type": ..., "value": ...}``."""
        t = _parse_type(self.type)
        return {"type": self.type, "value": _check(self.value, t, "value")}


# ---------------------------------------------------------------------------------------------
# Python -> typed


def _check_scalar(v: Any, t: _Type, where: str) -> Any:
    """Checks a Python value against a scalar type and returns its JSON form."""
    want = t.name
    if t.kind == "bool":
        if isinstance(v, bool):
            return v
    elif t.kind in ("int", "uint"):
        if not isinstance(v, (bool, float)):
            try:
                n = operator.index(v)
            except TypeError:
                n = None
            if n is not None:
                if t.kind == "int":
                    lo, hi = -(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1
                else:
                    lo, hi = 0, (1 << t.bits) - 1
                if not lo <= n <= hi:
                    raise ConversionError(f"{where}: {n} is out of range for {want} ({lo}..={hi})")
                return n
        elif isinstance(v, float) and v.is_integer():
            raise ConversionError(f"{where}: expected {want}, got float {v!r} (convert it with int())")
    elif t.kind == "float":
        if (isinstance(v, (int, float)) and not isinstance(v, bool)) or _is_real(v):
            f = float(v)
            if not math.isfinite(f):
                raise ConversionError(f"{where}: {f} is not a finite number, as {want} requires")
            if t.bits == 32 and abs(f) > _FLOAT32_MAX:
                raise ConversionError(f"{where}: {f} is out of range for float32")
            return f
    elif t.kind == "string":
        if isinstance(v, str):
            return v
    raise ConversionError(f"{where}: expected {want}, got {_show(v)}")


def _is_real(v: Any) -> bool:
    if isinstance(v, (bool, str, bytes)):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return hasattr(v, "__float__")


def _check(v: Any, t: _Type, where: str) -> Any:
    if not t.slice:
        return _check_scalar(v, t, where)
    if v is None:
        return None
    if isinstance(v, (str, bytes, dict)) or not isinstance(v, (list, tuple)):
        raise ConversionError(f"{where}: expected {t.full} (a list), got {_show(v)}")
    e = t.element()
    return [_check_scalar(x, e, f"{where} element {i}") for i, x in enumerate(v)]


def infer(value: Any, where: str = "value") -> Typed:
    """The typed value Aurora would get for a plain Python value: ``bool``, ``int`` (``int64``, or
    ``uint64`` beyond it), ``float`` (``float64``), ``str`` (``string``) or a non-empty list of one
    of those (``[]T``; ints and floats mixed give ``[]float64``). A ``Typed`` is returned as is."""
    if isinstance(value, Typed):
        return value
    scalar = _infer_scalar(value)
    if scalar is not None:
        return Typed(scalar, value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConversionError(
                f"{where}: cannot infer the type of an empty list; give it, e.g. Typed('[]string', [])"
            )
        names = set()
        for i, x in enumerate(value):
            n = _infer_scalar(x)
            if n is None:
                raise ConversionError(f"{where} element {i}: cannot infer an Aurora type for {_show(x)}")
            names.add(n)
        if len(names) == 1:
            return Typed("[]" + names.pop(), list(value))
        if names <= {"int64", "uint64"}:
            return Typed("[]uint64" if all(x >= 0 for x in value) else "[]int64", list(value))
        if names <= {"int64", "uint64", "float64"}:
            return Typed("[]float64", [float(x) for x in value])
        raise ConversionError(f"{where}: a list mixes {', '.join(sorted(names))}; give its type with Typed")
    raise ConversionError(f"{where}: cannot infer an Aurora type for {_show(value)}; give it with Typed")


def _infer_scalar(v: Any) -> Optional[str]:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        if _INT64_MIN <= v <= _INT64_MAX:
            return "int64"
        if 0 <= v <= _UINT64_MAX:
            return "uint64"
        return None
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    return None


def to_typed(value: Any, type_name: Optional[str] = None, where: str = "value") -> Dict[str, Any]:
    """A plain value (or a ``Typed``) as a wire typed value of ``type_name`` (inferred when
    ``None`` or ``any``), checked: raises ``ConversionError`` naming ``where`` and the problem."""
    if type_name is None or type_name == "any":
        tv = infer(value, where)
        return {"type": tv.type, "value": _check(tv.value, _parse_type(tv.type), where)}
    want = _parse_type(type_name)
    if isinstance(value, Typed):
        got = _parse_type(value.type)
        if not _fits(want, got):
            raise ConversionError(f"{where}: expected {want.full}, got a Typed {got.full}")
        return {"type": value.type, "value": _check(value.value, got, where)}
    return {"type": want.full, "value": _check(value, want, where)}


def _fits(want: _Type, got: _Type) -> bool:
    if want.slice != got.slice:
        return False
    if want.kind == got.kind and want.bits == got.bits:
        return True
    return want.kind == "float" and got.kind in ("int", "uint")


# ---------------------------------------------------------------------------------------------
# typed -> Python


def _from_scalar(v: Any, t: _Type, where: str) -> Any:
    if t.kind == "bool":
        if isinstance(v, bool):
            return v
    elif t.kind in ("int", "uint"):
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    elif t.kind == "float":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif t.kind == "string":
        if isinstance(v, str):
            return v
    raise ConversionError(f"{where}: {_show(v)} is not a valid {t.name}")


def to_python(tv: Dict[str, Any], want: Optional[str] = None, where: str = "value") -> Any:
    """The plain Python value of a wire typed value: ``int`` for the integer types, ``float`` for
    the float types (and for integers where ``want`` is a float type), ``str``, ``bool``, and lists
    of those for ``[]T`` (an absent slice is ``[]``)."""
    if not isinstance(tv, dict) or "type" not in tv:
        raise ConversionError(f"{where}: not a typed value: {_show(tv)}")
    got = _parse_type(tv["type"])
    target = got
    if want is not None and want != "any":
        w = _parse_type(want)
        numeric = ("int", "uint", "float")
        if w.slice != got.slice or (w.kind != got.kind and not (w.kind in numeric and got.kind in numeric)):
            raise ConversionError(f"{where}: expected {w.full}, got {got.full}")
        if w.kind == "float":
            target = w
    v = tv.get("value")
    if not got.slice:
        return _from_scalar(v, target, where)
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConversionError(f"{where}: {_show(v)} is not a valid {got.full}")
    e = target.element()
    return [_from_scalar(x, e, f"{where} element {i}") for i, x in enumerate(v)]


def plain(values: Optional[Iterable[Dict[str, Any]]]) -> List[Any]:
    """The plain Python values of a list of typed values (e.g. a task's ``results``)."""
    return [to_python(tv, where=f"value {i}") for i, tv in enumerate(values or [])]


# ---------------------------------------------------------------------------------------------
# signatures


class Signature:
    """A parsed list of type names: fixed positions, then optionally a variadic ``...T`` tail."""

    def __init__(self, names: Sequence[str]) -> None:
        if isinstance(names, str):
            raise ConversionError(f"a signature is a list of type names, not the string {names!r}")
        self.names: List[str] = list(names)
        self.fixed: List[Optional[str]] = []  # None: any
        self.rest: Optional[str] = None
        self.variadic = False
        for i, n in enumerate(self.names):
            if not isinstance(n, str):
                raise ConversionError(f"position {i}: a type name must be a string, got {_show(n)}")
            if n.startswith("..."):
                if i != len(self.names) - 1:
                    raise ConversionError(f"{n!r} at position {i}: a variadic ...T must be the last type")
                inner = n[3:]
                if inner != "any":
                    _parse_type(inner)
                self.variadic = True
                self.rest = None if inner == "any" else inner
            elif n == "any":
                self.fixed.append(None)
            else:
                _parse_type(n)
                self.fixed.append(n)

    def describe(self) -> str:
        inside = ", ".join(self.names)
        n = len(self.fixed)
        if self.variadic:
            return f"at least {n} value{'s' if n != 1 else ''} ({inside})" if n else f"any number of values ({inside})"
        return f"exactly {n} value{'s' if n != 1 else ''}" + (f" ({inside})" if inside else "")

    def convert_args(self, args: Sequence[Dict[str, Any]]) -> List[Any]:
        """The plain positional args for a handler: fixed positions converted by their declared
        type, a variadic tail flattened (``[]T`` values spread into it)."""
        n = len(self.fixed)
        if len(args) < n or (not self.variadic and len(args) > n):
            raise ConversionError(f"takes {self.describe()}, got {len(args)}")
        out = [to_python(tv, want, f"arg {i}") for i, (tv, want) in enumerate(zip(args, self.fixed))]
        for i, tv in enumerate(args[n:], start=n):
            if self.rest is None:
                out.append(to_python(tv, None, f"arg {i}"))
                continue
            tname = tv.get("type", "") if isinstance(tv, dict) else ""
            if isinstance(tname, str) and tname.startswith("[]") and not self.rest.startswith("[]"):
                out.extend(to_python(tv, "[]" + self.rest, f"arg {i}"))
            else:
                out.append(to_python(tv, self.rest, f"arg {i}"))
        return out

    def convert_results(self, returned: Any) -> List[Dict[str, Any]]:
        """A handler's return value as typed results: ``None`` for no results, the value itself for
        one, a tuple for several (or for a variadic list of results)."""
        n = len(self.fixed)
        if n == 0 and not self.variadic:
            if returned is not None:
                raise ConversionError(f"the handler declares no results but returned {_show(returned)}")
            values: List[Any] = []
        elif n == 1 and not self.variadic:
            values = [returned]
        elif isinstance(returned, tuple):
            values = list(returned)
        elif n == 0:
            values = [] if returned is None else [returned]
        else:
            raise ConversionError(
                f"the handler declares {self.describe()} as results: return a tuple, got {_show(returned)}"
            )
        if len(values) < n or (not self.variadic and len(values) > n):
            raise ConversionError(f"{len(values)} results returned; the handler declares {self.describe()}")
        out = []
        for i, v in enumerate(values):
            want = self.fixed[i] if i < n else self.rest
            out.append(to_typed(v, want, f"result {i}"))
        return out

