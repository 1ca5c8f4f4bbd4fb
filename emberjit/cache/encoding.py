"""The canonical encoding of values in result-cache keys: equal values give equal bytes, and
values that differ in anything a result may depend on give different bytes.

Every value carries its type: ``1``, ``1.0`` and ``True`` differ, as do ``"1"`` and ``b"1"``, a
``str`` and a ``str`` subclass, and two arrays with equal bytes but different dtypes or shapes.
A value of a class of the program (an enum, a dataclass, a namedtuple, a builtin's subclass) also
hands its class to the callback, so the methods a forward may call on it count.
Dict key order does not count (pairs are sorted by their encoded key); list order does. A value
with no faithful encoding (an open file, a lock, a client object) raises :class:`Uncacheable`
naming it: such a call is not cached, and explain says why. Objects the encoder does not know
are handed to a callback (:mod:`emberjit.cache.keys` encodes operators, models, functions and
classes there), so this module knows no emberjit type.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import types
from collections.abc import Callable
from typing import Any

__all__ = ["Encoder", "Uncacheable", "type_name"]


class Uncacheable(Exception):
    """A value (or an operator) a cache key cannot describe; ``reason`` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def type_name(value_or_type: object) -> str:
    """``module.QualName`` of a type (or of a value's type)."""
    cls = value_or_type if isinstance(value_or_type, type) else type(value_or_type)
    return f"{cls.__module__}.{cls.__qualname__}"


#: exact builtin types -> their one-byte tag (subclasses are tagged with their type's name)
_SCALARS: dict[type, bytes] = {type(None): b"N", bool: b"B", int: b"i", float: b"f",
                               complex: b"c", str: b"s", bytes: b"b", bytearray: b"y"}


class Encoder:
    """Appends values to one byte string. ``other(value, encoder)`` encodes what the encoder
    does not know itself, or raises :class:`Uncacheable`."""

    __slots__ = ("_active", "other", "out")

    def __init__(self, other: Callable[[Any, Encoder], None]) -> None:
        self.out = bytearray()
        self.other = other
        self._active: set[int] = set()  # containers being encoded (a cycle raises)

    def tag(self, tag: bytes, text: str = "") -> None:
        """A tag with a length-prefixed text (a type name, a source fingerprint)."""
        data = text.encode("utf-8", "surrogatepass")
        self.out += b"%s%d:%s" % (tag, len(data), data)

    def value(self, value: Any) -> None:
        cls = type(value)
        tag = _SCALARS.get(cls)
        if tag is not None:
            self._scalar(tag, value)
        elif cls in (list, tuple, dict, set, frozenset):
            self._container(value)
        elif cls is types.FunctionType or isinstance(value, type):
            self.other(value, self)  # the commonest others, without the checks below
        elif isinstance(value, enum.Enum):
            self.tag(b"E", type_name(value))
            self.other(cls, self)  # its class: the methods a forward may call on it
            self.value(value.value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            self.tag(b"D", type_name(value))
            self.other(cls, self)
            self._container({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        elif isinstance(value, tuple) and hasattr(cls, "_fields"):  # a namedtuple
            self.tag(b"T", type_name(value))
            self.other(cls, self)
            self._container(dict(zip(cls._fields, value, strict=True)))
        elif _is_array(value):
            self._array(value)
        elif isinstance(value, re.Pattern):
            self.tag(b"R", f"{value.flags}|")
            self.value(value.pattern)
        elif isinstance(value, (*_SCALARS, list, tuple, dict, set, frozenset)):
            self._subclass(value)
        else:
            self.other(value, self)

    def _subclass(self, value: Any) -> None:
        """A value of a subclass of a builtin type: its class, its builtin value and the
        attributes it carries."""
        cls = type(value)
        self.tag(b"X", type_name(value))
        self.other(cls, self)
        base = next(b for b in cls.__mro__ if b in _SCALARS or b in (
            list, tuple, dict, set, frozenset))
        self.value(base(value))
        self.value(dict(getattr(value, "__dict__", {})))

    def _scalar(self, tag: bytes, value: Any) -> None:
        if tag in (b"N", b"B"):
            self.out += b"N" if value is None else (b"T" if value else b"F")
        elif tag == b"i":
            self.tag(b"i", str(value))
        elif tag == b"f":
            self.tag(b"f", "nan" if math.isnan(value) else value.hex())
        elif tag == b"c":
            self.tag(b"c", f"{value.real.hex()},{value.imag.hex()}")
        elif tag == b"s":
            self.out += _str(value)
        else:
            self.out += tag + str(len(value)).encode() + b":" + bytes(value)

    def _container(self, value: Any) -> None:
        if id(value) in self._active:
            raise Uncacheable(f"a {type(value).__name__} that contains itself")
        self._active.add(id(value))
        try:
            if type(value) in (list, tuple):
                self.out += (b"l" if type(value) is list else b"t") + str(len(value)).encode()
                for item in value:
                    self.value(item)
            elif type(value) is dict:  # in the order of the keys' encodings, whatever the
                # dict's: its values (and what they share) are then met in one order too
                keys = sorted((_str(k) if type(k) is str else self._alone(k), i, k)
                              for i, k in enumerate(value))
                self.out += b"d%d" % len(keys)
                for encoded, _, k in keys:
                    self.out += encoded
                    self.value(value[k])
            else:
                items = sorted(self._alone(item) for item in value)
                self.out += (b"S" if type(value) is set else b"Z") + str(len(items)).encode()
                for item in items:
                    self.out += item
        finally:
            self._active.discard(id(value))

    def _alone(self, value: Any) -> bytes:
        """``value`` encoded on its own (to sort a dict's pairs or a set's items by)."""
        start = len(self.out)
        self.value(value)
        data = bytes(self.out[start:])
        del self.out[start:]
        return data

    def _array(self, value: Any) -> None:
        """An array (numpy's, or anything with ``dtype``, ``shape`` and ``tobytes``)."""
        self.tag(b"A", f"{type_name(value)}|{value.dtype}|{tuple(value.shape)}")
        data = value.tobytes()
        self.out += str(len(data)).encode() + b":" + data


def _str(text: str) -> bytes:
    """A str's encoding (what :meth:`Encoder.value` writes for it), made at once."""
    data = text.encode("utf-8", "surrogatepass")
    return b"s%d:%s" % (len(data), data)


def _is_array(value: object) -> bool:
    return all(hasattr(value, name) for name in ("dtype", "shape", "tobytes")) and \
        not isinstance(value, type)
