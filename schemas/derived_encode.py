"""Avro binary encoding of the derived records (nested records, arrays of records, doubles, unions with null), byte
for byte what fastavro writes, several times faster.

The processors emit a record per input event, and fastavro spends most of its time on the datum dict and on its
dispatch per field. Here each schema is compiled once into one Python function, as :mod:`dataclasses` builds
``__init__``: straight-line code that reads the dataclass attributes named like the schema's fields (nested
records and array items inlined) and appends each field's bytes to a list joined at the end. Strings, optional
strings included, come from a bounded cache of their encodings (symbols and prices repeat).

The schemas taken are records of ``string``, ``long``, ``int``, ``double``, records (defined inline or named, not
recursive), arrays, and two-branch unions of ``null`` with one of those primitives. Any other schema gets no
encoder. A value the fast path does not take (another type, even a compatible one, a number out of range, text
that is not valid UTF-8) makes the encoder return ``None``: the caller then encodes with fastavro, whose verdict
on the value stands.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from typing import Any

from schemas.fast_encode import DEFAULT_STRING_CACHE_SIZE, EncodedStrings, Unencodable, encode_long

__all__ = ["RecordEncoder", "record_encoder"]

RecordEncoder = Callable[[Any], bytes | None]

_MIN_INT, _MAX_INT = -(1 << 31), (1 << 31) - 1
_BRANCH = (b"\x00", b"\x02")
"""The union branch index 0 or 1 (zigzag varint)."""
_PRIMITIVES = ("string", "long", "int", "double")


class _Unsupported(Exception):
    """A schema the fast path does not take."""


def _int(value: Any) -> bytes:
    if type(value) is not int or not _MIN_INT <= value <= _MAX_INT:
        raise Unencodable
    return encode_long(value)


class _OptionalStrings(dict[Any, bytes]):
    """``None`` or text -> its encoding as a union of null and string, filled on a miss, emptied when full."""

    def __init__(self, strings: EncodedStrings, null_index: int, limit: int) -> None:
        super().__init__()
        self._strings = strings
        self._null = _BRANCH[null_index]
        self._branch = _BRANCH[1 - null_index]
        self._limit = limit
        self[None] = self._null

    def __missing__(self, text: Any) -> bytes:
        encoded = self._branch + self._strings[text]  # Unencodable unless text is a string
        if len(self) >= self._limit:
            self.clear()
            self[None] = self._null
        self[text] = encoded
        return encoded


def _unusual() -> bytes:
    raise Unencodable


class _Compiler:
    """The source of one schema's writer function and the objects it refers to (by name, in its globals).

    Each field's bytes are one expression; consecutive expressions go into ``parts`` with one ``extend``, and only
    records (their attributes) and arrays (their loop) need statements."""

    def __init__(self, header: bytes, cache_size: int) -> None:
        strings = EncodedStrings(cache_size)
        self.globals: dict[str, Any] = {
            "Unusual": Unencodable,
            "unusual": _unusual,
            "header": header,
            "string": strings.__getitem__,
            "long": encode_long,
            "int_": _int,
            "double": struct.Struct("<d").pack,
            "branch_double": struct.Struct("<Bd").pack,
            "end_of_array": b"\x00",
            "small": tuple(encode_long(n) for n in range(64)),
        }
        for null_index in (0, 1):
            self.globals[f"null_{null_index}"] = _BRANCH[null_index]
            self.globals[f"branch_{null_index}"] = _BRANCH[1 - null_index]
            optional = _OptionalStrings(strings, null_index, cache_size)
            self.globals[f"optional_string_{null_index}"] = optional.__getitem__
        self.lines = ["def encode(v0):", "    try:", "        parts = [header]", "        out = parts.extend"]
        self._pending: list[str] = []
        self._pending_indent = ""
        self._named: dict[str, tuple[dict[str, Any], str]] = {}
        """Full name -> the record's definition and the namespace it was defined in."""
        self._compiling: set[str] = set()
        self._variables = 0

    def field(self, schema: Any, value: str, namespace: str, indent: str) -> None:
        """Code appending the encoding of ``value`` (a variable) of type ``schema``."""
        if isinstance(schema, list):
            self._expression(self._union(schema, value), indent)
        elif isinstance(schema, dict):
            if "logicalType" in schema:
                raise _Unsupported
            if schema.get("type") == "record":
                self._record(schema, namespace, value, indent)
            elif schema.get("type") == "array":
                self._array(schema["items"], value, namespace, indent)
            else:
                raise _Unsupported  # maps, enums, fixed, primitives in dict form
        elif schema in _PRIMITIVES:
            self._expression(self._primitive(schema, value), indent)
        else:
            full_name = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            if full_name not in self._named or full_name in self._compiling:  # unknown, or recursive
                raise _Unsupported
            self._record(*self._named[full_name], value, indent)

    def source(self) -> str:
        """The whole function."""
        self._flush()
        self.lines += [
            '        return b"".join(parts)',
            "    except (Unusual, AttributeError, TypeError):",
            "        return None",
        ]
        return "\n".join(self.lines)

    @staticmethod
    def _primitive(kind: str, value: str) -> str:
        if kind == "double":
            return f"(double({value}) if type({value}) is float else unusual())"
        if kind in ("int", "long"):  # small counts and depths from a table, without a call
            writer = "int_" if kind == "int" else kind
            return f"(small[{value}] if type({value}) is int and 0 <= {value} < 64 else {writer}({value}))"
        return f"string({value})"

    def _union(self, branches: list[Any], value: str) -> str:
        if len(branches) != 2 or "null" not in branches:
            raise _Unsupported
        null_index = branches.index("null")
        other = branches[1 - null_index]
        if other not in _PRIMITIVES:  # a record or array branch could be meant by fastavro's tuple notation
            raise _Unsupported
        if other == "string":
            return f"optional_string_{null_index}({value})"
        if other == "double":
            branch = f"branch_double({2 - 2 * null_index}, {value}) if type({value}) is float else unusual()"
        else:
            branch = f"branch_{null_index} + {self._primitive(other, value)}"
        return f"(null_{null_index} if {value} is None else {branch})"

    def _array(self, items: Any, value: str, namespace: str, indent: str) -> None:
        item, count = self._variable(), self._variable()
        self._statements(
            f"{indent}if type({value}) is not tuple:",  # as the dataclasses declare (to_datum leaves a list as is)
            f"{indent}    raise Unusual",
            f"{indent}if {value}:",  # one block of all items, as fastavro writes it (none for an empty array)
            f"{indent}    {count} = len({value})",
        )
        self._expression(self._primitive("long", count), indent + "    ")
        self._statements(f"{indent}    for {item} in {value}:")
        self.field(items, item, namespace, indent + "        ")
        self._expression("end_of_array", indent)

    def _record(self, schema: dict[str, Any], outer_namespace: str, value: str, indent: str) -> None:
        name: str = schema["name"]
        if "." in name:
            namespace = name.rpartition(".")[0]
        else:
            namespace = schema.get("namespace", outer_namespace)
            name = f"{namespace}.{name}" if namespace else name
        names = [field["name"] for field in schema["fields"]]
        if not names:
            raise _Unsupported
        self._named[name] = schema, outer_namespace
        self._compiling.add(name)
        variables = [self._variable() for _ in names]
        getter = f"get_{len(self.globals)}"
        self.globals[getter] = operator.attrgetter(*names)  # one name: the bare value, else a tuple
        self._statements(f"{indent}{', '.join(variables)} = {getter}({value})")
        for field, variable in zip(schema["fields"], variables, strict=True):
            self.field(field["type"], variable, namespace, indent)
        self._compiling.discard(name)

    def _expression(self, expression: str, indent: str) -> None:
        if indent != self._pending_indent:
            self._flush()
        self._pending.append(expression)
        self._pending_indent = indent

    def _statements(self, *lines: str) -> None:
        self._flush()
        self.lines += lines

    def _flush(self) -> None:
        if self._pending:
            self.lines.append(f"{self._pending_indent}out(({', '.join(self._pending)},))")
            self._pending.clear()

    def _variable(self) -> str:
        self._variables += 1
        return f"v{self._variables}"


def record_encoder(
    definition: dict[str, Any], header: bytes, cache_size: int = DEFAULT_STRING_CACHE_SIZE
) -> RecordEncoder | None:
    """The encoder of a record schema of the types listed in the module docstring (None for any other): a record
    (attributes named like the fields, nested records' too) -> its payload framed with ``header``, or None when
    fastavro must encode it. An unhashable string value (TypeError) or a missing attribute is one of those."""
    if definition.get("type") != "record":
        return None
    compiler = _Compiler(header, cache_size)
    try:
        compiler.field(definition, "v0", "", " " * 8)
    except _Unsupported:
        return None
    exec(compiler.source(), compiler.globals)  # the source holds generated names only, no schema text
    encode: RecordEncoder = compiler.globals["encode"]
    return encode
