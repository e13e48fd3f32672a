"""One validation layer: every config that enters the program is checked here before work starts.

CLI flags, ``TrainConfig``, a run's ``config.json``, the model config, export options and the
settings file are pydantic models (or pydantic dataclasses) built from the types below. A
value of the wrong type, out of range or not finite fails *here*, with one sentence for a
person (:class:`ConfigError`, an :class:`InputError`), instead of deep inside the work, after
minutes of it were done.

>>> from pydantic.dataclasses import dataclass
>>> @dataclass(config=STRICT)
... class Example:
...     steps: PositiveInt = 10
>>> validated(Example, {"steps": 0}, what="the example").steps
Traceback (most recent call last):
ConfigError: the example: steps must be ≥ 1, got 0

Reading JSON that a user (or a crash) may have damaged goes through :func:`read_json_object`:
a size limit, a nesting limit, no NaN/Infinity, and an ``InputError`` for every failure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Mapping, TypeVar, get_type_hints

from pydantic import ConfigDict, Field, PlainValidator, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from .errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "STRICT",
    "ConfigError",
    "FiniteFloat",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PathText",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "Seed",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_SEED",
    "check_fields",
    "describe_errors",
    "dump_json",
    "parse_json",
    "read_json_object",
    "validated",
]

#: Seeds are what torch and numpy generators accept on every platform: 0 ≤ seed < 2⁶³.
MAX_SEED = 2**63 - 1
#: A config or metrics file bigger than this is not one we wrote.
MAX_JSON_BYTES = 16 * 2**20
#: Deeper nesting than any file of ours has; deeper input is refused before Python's recursion limit.
MAX_JSON_DEPTH = 64

#: Model config for user-facing settings: no unknown keys, no NaN/inf, ints stay ints.
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=False, validate_assignment=False,
                    str_strip_whitespace=True)

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(ge=1, le=2**31 - 1)]
NonNegativeInt = Annotated[int, Field(ge=0, le=2**31 - 1)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]



def _path_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a path (text)")
    if "\x00" in value or len(value) > 4096:
        raise ValueError("is not a usable path (a NUL character, or longer than 4096 characters)")
    return value


#: A file or folder path as text. pydantic's own ``str`` refuses the lone surrogates that stand
#: for the bytes of a file name that is not UTF-8; this type takes any ``str`` a file system gave us.
PathText = Annotated[str, PlainValidator(_path_text)]

T = TypeVar("T")


class ConfigError(InputError):
    """A setting (flag, config file field, form value) that cannot be used; the text says which and why."""


# ---------------------------------------------------------------------------- messages

_CONSTRAINT_WORDS = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be ≥ {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be ≤ {le}",
    "finite_number": "must be a finite number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "extra_forbidden": "is not a known setting",
    "unexpected_keyword_argument": "is not a known setting",
    "missing": "is missing",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "too_short": "needs at least {min_length} entries",
    "too_long": "takes at most {max_length} entries",
    "value_error": "{error}",
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _location(loc: tuple, labels: Mapping[str, str]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    if not parts:
        return "the value"
    head = labels.get(parts[0], parts[0])
    return head + "".join(f"[{p}]" for p in parts[1:])


def describe_errors(error: ValidationError, labels: Mapping[str, str] | None = None, limit: int = 2) -> str:
    """pydantic's errors as one line for a person: ``lr must be > 0, got -1; seed …``.

    ``labels`` maps field names to what the user knows them as (``{"lr": "--lr"}``).
    """
    labels = labels or {}
    sentences = []
    for item in error.errors(include_url=False)[:limit]:
        where = _location(tuple(item.get("loc", ())), labels)
        kind = item.get("type", "")
        ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in (item.get("ctx") or {}).items()}
        template = _CONSTRAINT_WORDS.get(kind)
        try:
            words = template.format(**ctx) if template else str(item.get("msg", "is not valid")).lower()
        except (KeyError, IndexError):
            words = str(item.get("msg", "is not valid")).lower()
        sentence = f"{where} {words}"
        if kind not in ("missing", "extra_forbidden", "unexpected_keyword_argument") and "input" in item:
            sentence += f", got {_shown(item['input'])}"
        sentences.append(sentence)
    hidden = error.error_count() - len(sentences)
    if hidden > 0:
        sentences.append(f"and {hidden} more")
    return "; ".join(sentences)


def validated(kind: Callable[..., T] | Any, data: Any, *, what: str, labels: Mapping[str, str] | None = None) -> T:
    """``data`` (a mapping) validated as ``kind`` (a pydantic model, dataclass or any type pydantic knows).

    Raises :class:`ConfigError` ``"<what>: <one line>"``. Nothing is built from invalid input.
    """
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(f"{what}: {describe_errors(exc, labels)}") from None
    except RecursionError:
        raise ConfigError(f"{what}: nested too deeply to be a settings file") from None


@functools.cache
def _fields_adapter(cls: type) -> TypeAdapter:
    hints = get_type_hints(cls, include_extras=True)
    schema = TypedDict(f"{cls.__name__}Fields", {f.name: hints[f.name] for f in dataclasses.fields(cls)})
    schema.__pydantic_config__ = STRICT  # type: ignore[attr-defined]
    return TypeAdapter(schema)


def check_fields(instance: Any, *, what: str, labels: Mapping[str, str] | None = None) -> None:
    """Validate a (frozen) stdlib dataclass's own fields against their annotations, from its ``__post_init__``.

    For a dataclass that must stay a plain dataclass (built directly by GUI forms and callers)
    yet raise :class:`ConfigError` for a bad value: annotate the fields with the types above
    (or any ``Annotated`` pydantic constraint) and call ``check_fields(self, what=...)``.
    Coerced values (a numpy number, a list for a tuple) are stored back.
    """
    values = {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}
    try:
        checked = _fields_adapter(type(instance)).validate_python(values)
    except ValidationError as exc:
        raise ConfigError(f"{what}: {describe_errors(exc, labels)}") from None
    for name, value in checked.items():
        object.__setattr__(instance, name, value)


# ---------------------------------------------------------------------------- JSON files


def _depth_ok(value: Any, limit: int) -> bool:
    # Iterative, so a hostile file cannot exhaust the stack while being checked.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


# A lone surrogate is how Python holds a byte of a file name that is not UTF-8 (surrogateescape).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dump_json(value: Any, **options: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False, **options)`` that can always be written as UTF-8.

    Lone surrogates (file names that are not UTF-8) are written as their ``\\udcXX`` escapes,
    which :func:`parse_json` (``json.loads``) turns back into the exact same string.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str | bytes, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses NaN/Infinity and deep nesting with an :class:`InputError`."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply to be one of our files") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not a text file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except ValueError as exc:
        raise InputError(f"{what} is not valid JSON ({exc})") from None
    if not _depth_ok(value, max_depth):
        raise InputError(f"{what} is nested too deeply to be one of our files")
    return value


def read_json_object(path: str | os.PathLike, *, what: str | None = None, max_bytes: int = MAX_JSON_BYTES,
                     max_depth: int = MAX_JSON_DEPTH) -> dict:
    """Read a JSON object from a regular file, with an :class:`InputError` for every way it can be bad.

    Missing, not a regular file (a FIFO would block forever), unreadable, larger than
    ``max_bytes``, not UTF-8, not JSON, NaN/Infinity, nested deeper than ``max_depth``, or not
    an object at the top.
    """
    path = Path(path)
    what = what or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what} is not a regular file")
    if info.st_size > max_bytes:
        raise InputError(f"{what} is {info.st_size / 2**20:.0f} MiB, too large to be one of our files")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise InputError(f"{what} is too large to be one of our files")
    value = parse_json(raw, what=what, max_depth=max_depth)
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    return value
