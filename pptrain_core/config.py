"""Strict configuration: attrs classes structured by cattrs, errors as one line with a path.

* Primitives are strict: ``"3"`` is not an ``int``, ``3`` is not a ``str``, ``1`` is not a
  ``bool``; an ``int`` is accepted where a ``float`` is expected.
* Unknown keys are rejected and answered with the closest valid names.
* Every error becomes a :class:`~pptrain_core.errors.ConfigError` whose message starts
  with the path of the offending value (``$.task.params.k``).
* Config files are YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON (``.json``, what
  ``pptrain replicate --dry-run`` prints).
* Error messages quote a user's value shortened (:func:`~pptrain_core.errors.quote`).

Family config classes validate ranges with the helpers below (:func:`at_least`,
:func:`positive`, :func:`in_range`, :func:`one_of`; ``Literal[...]`` fields, alone or in a
union with primitives such as ``Literal["auto"] | int``, are checked with the same wording) or raise :class:`FieldValueError` from
``__attrs_post_init__`` for checks across fields, so the error names the field.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from pptrain_core.errors import ConfigError, UserError, did_you_mean, quote

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# --------------------------------------------------------------------------- validators


class FieldValueError(ValueError):
    """A config value out of range; ``field`` names it so the error path can point at it."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def at_least(minimum: float):
    """attrs validator: ``value >= minimum``."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value < minimum:
            raise FieldValueError(attribute.name, f"must be at least {minimum}, got {quote(value)}")

    return check


def in_range(low: float, high: float, *, low_open: bool = False, high_open: bool = False):
    """attrs validator: ``low <= value <= high`` (either end may be open)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        ok_low = value > low if low_open else value >= low
        ok_high = value < high if high_open else value <= high
        if not (ok_low and ok_high):
            lb = "(" if low_open else "["
            hb = ")" if high_open else "]"
            raise FieldValueError(attribute.name, f"must be in {lb}{low}, {high}{hb}, got {quote(value)}")

    return check


def positive():
    """attrs validator: ``value > 0`` strictly (a count, a size, a temperature)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not value > 0:
            raise FieldValueError(attribute.name, f"must be greater than 0, got {quote(value)}")

    return check


def choice_message(value: Any, choices: tuple[Any, ...]) -> str:
    """``'fsat' is not one of 'fast', 'slow' (did you mean 'fast'?)``: the one wording for a bad choice.

    Shared by :func:`one_of` and ``Literal[...]`` fields so both read the same.
    """
    shown = ", ".join(repr(c) for c in choices)
    hint = ""
    same_text = [c for c in choices if not isinstance(c, str) and str(c) == str(value)]
    if isinstance(value, str) and same_text:
        hint = f" (did you mean {same_text[0]!r}, without quotes?)"
    elif isinstance(value, str):
        hint = _near(value, choices)
    return f"{quote(value)} is not one of {shown}{hint}"


def _near(value: str, choices: tuple[Any, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest text choice, or ``""``."""
    near = did_you_mean(value[:200], [c for c in choices if isinstance(c, str)])
    return near if "did you mean" in near else ""


def one_of(*choices: Any):
    """attrs validator: the value is one of ``choices`` (compared with ``==``)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise FieldValueError(attribute.name, choice_message(value, choices))

    return check


# --------------------------------------------------------------------------- converter


def _strict(kind: type, *accepted: type):
    words = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}

    def structure(value: Any, _type: type) -> Any:
        if type(value) not in accepted:
            raise TypeError(f"expected {words[kind]}, got {type(value).__name__} {quote(value)}")
        return kind(value)

    return structure


def _is_collection(tp: Any) -> bool:
    import collections.abc
    import typing

    origin = typing.get_origin(tp) or tp
    return origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)


def _is_literal(tp: Any) -> bool:
    import typing

    return typing.get_origin(tp) is typing.Literal


def _literal_hook(tp: Any):
    """A ``Literal`` check with :func:`choice_message`'s wording (cattrs' own repeats the value whole)."""
    import typing

    choices = typing.get_args(tp)

    def structure(value: Any, _type: Any) -> Any:
        for choice in choices:
            if type(value) is type(choice) and value == choice:
                return value
        raise ValueError(choice_message(value, choices))

    return structure


_PRIMITIVES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}


def _is_simple_union(tp: Any) -> bool:
    """``Literal["auto"] | int`` and the like: members are primitives or literals, not just ``X | None``."""
    import types
    import typing

    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    args = typing.get_args(tp)
    non_none = [a for a in args if a is not type(None)]
    if len(non_none) < 2 and not any(_is_literal(a) for a in non_none):
        return False
    return all(a in _PRIMITIVES or _is_literal(a) for a in args)


def _union_hook(tp: Any):
    """Try each member strictly, in order; one sentence listing what is accepted otherwise."""
    import typing

    args = typing.get_args(tp)
    literals = tuple(c for a in args if _is_literal(a) for c in typing.get_args(a))
    kinds = [a for a in args if a in _PRIMITIVES]

    def accepts(kind: type, value: Any) -> bool:
        if kind is float:
            return type(value) in (float, int)
        return type(value) is kind

    def structure(value: Any, _type: Any) -> Any:
        for choice in literals:
            if type(value) is type(choice) and value == choice:
                return value
        for kind in kinds:
            if accepts(kind, value):
                return float(value) if kind is float else value
        wanted = [repr(c) for c in literals] + [_PRIMITIVES[k] for k in kinds]
        hint = _near(value, literals) if isinstance(value, str) else ""
        raise ValueError(f"expected {', '.join(wanted[:-1])} or {wanted[-1]}, got {quote(value)}{hint}")

    return structure


def _attrs_hook(conv: cattrs.Converter):
    """attrs classes from mappings only: a list where settings belong is one clear sentence."""
    from cattrs.gen import make_dict_structure_fn

    def factory(cl: Any):
        inner = make_dict_structure_fn(cl, conv)

        def structure(value: Any, _type: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a mapping of settings, got {type(value).__name__} {quote(value)}")
            return inner(value, cl)

        return structure

    return factory


def _base_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(int, _strict(int, int))
    conv.register_structure_hook(float, _strict(float, float, int))
    conv.register_structure_hook(str, _strict(str, str))
    conv.register_structure_hook(bool, _strict(bool, bool))
    conv.register_structure_hook_factory(_is_literal, _literal_hook)
    conv.register_structure_hook_factory(_is_simple_union, _union_hook)
    conv.register_structure_hook_factory(attrs.has, _attrs_hook(conv))
    return conv


def make_converter() -> cattrs.Converter:
    """A cattrs converter with strict primitives and unknown keys forbidden.

    A string (or a mapping) is never accepted where a list or tuple is expected: cattrs
    would otherwise split ``"lm_head"`` into characters.
    """
    conv = _base_converter()
    plain = _base_converter()  # collection hooks without the check, to delegate to

    def collection_hook(tp: Any):
        def structure(value: Any, _type: Any) -> Any:
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
                raise TypeError(f"expected a list, got {type(value).__name__} {quote(value)}")
            return plain.structure(value, _type)

        return structure

    conv.register_structure_hook_factory(_is_collection, collection_hook)
    return conv


converter = make_converter()


def _flatten(exc: BaseException, path: str, cls: type | None) -> list[tuple[str, str]]:
    """(path, message) for every leaf error in a cattrs exception tree."""
    out: list[tuple[str, str]] = []
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", []):
                name = getattr(note, "name", None)
                index = getattr(note, "index", None)
                if name is not None:
                    sub_path = f"{path}.{name}"
                elif index is not None:
                    sub_path = f"{path}[{index!r}]"
            sub_cls = getattr(exc, "cl", None)
            out.extend(_flatten(sub, sub_path, sub_cls))
        return out
    if isinstance(exc, ForbiddenExtraKeysError):
        valid = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            shown = quote(key).strip("'") if isinstance(key, str) else quote(key)
            out.append((f"{path}.{shown}", f"unknown key '{shown}'{did_you_mean(str(key)[:200], valid)}"))
        return out
    if isinstance(exc, FieldValueError):
        return [(f"{path}.{exc.field}", exc.message)]
    if isinstance(exc, KeyError) and exc.args:
        name = str(exc.args[0])
        where = path if path.endswith(f".{name}") else f"{path}.{name}"
        return [(where, "is required but missing")]
    if isinstance(exc, TypeError) and "missing" in str(exc) and "required" in str(exc):
        return [(path, str(exc).split(") ", 1)[-1])]
    return [(path, str(exc))]


def structure(data: Any, cls: type, path: str = "$") -> Any:
    """Build ``cls`` from plain data, raising :class:`ConfigError` on the first problem."""
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ConfigError(path, f"expected a mapping of settings, got {type(data).__name__} {quote(data)}")
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        problems = _flatten(exc, path, cls)
        where, message = problems[0]
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
        raise ConfigError(where, message) from None
    except FieldValueError as exc:
        raise ConfigError(f"{path}.{exc.field}", exc.message) from None


def unstructure(obj: Any) -> Any:
    """Plain JSON-ready data for a config object."""
    return converter.unstructure(obj)


# --------------------------------------------------------------------------- files and overrides


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML, TOML or JSON config file into plain data."""
    p = Path(path)
    if p.is_dir():
        raise UserError(
            f"config file {quote(str(p), 300)} is a directory; pass the file itself (.yaml, .yml, .toml or .json)."
        )
    if not p.exists():
        raise UserError(f"config file {quote(str(p), 300)} does not exist; check the path.")
    if not p.is_file():
        raise UserError(
            f"config file {quote(str(p), 300)} is not a regular file; pass a .yaml, .yml, .toml or .json file."
        )
    suffix = p.suffix.lower()
    kinds = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML", ".json": "JSON"}
    if suffix not in kinds:
        raise UserError(f"config file {quote(str(p), 300)} must end in .yaml, .yml, .toml or .json.")
    try:
        text = p.read_text(encoding="utf-8")
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            import json

            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise UserError(f"config file {quote(str(p), 300)} is not UTF-8 text; save it as UTF-8.") from None
    except Exception as exc:  # yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"config file {quote(str(p), 300)} is not valid {kinds[suffix]}: {first[:200]}.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("$", f"the file must hold a mapping of settings, got {type(data).__name__}")
    return data


def parse_override(text: str, path: str = "$.task.params") -> tuple[str, Any]:
    """``"k=8"`` -> ``("k", 8)``; the value is read as a YAML scalar (so ``8`` is an int)."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"override {text!r} must look like key=value, e.g. --set k=8.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` inside nested dicts, creating levels as needed."""
    parts = dotted.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise UserError(f"override {dotted!r} descends into {part!r}, which is not a mapping.")
        cur = nxt
    cur[parts[-1]] = value
