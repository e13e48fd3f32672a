"""argparse flags generated from a config's field definitions, so defaults, help and ranges live in one place.

Every generated flag defaults to "not given" (``argparse.SUPPRESS``): :func:`given_values` returns
only the flags on the command line, and the config decides the rest — its own defaults for a new
run, the recorded settings for a resumed one. Values are validated by the config, not here, so a
bad value gets the same message in the CLI as in the app, naming the flag.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable, Sequence

__all__ = ["add_setting_flags", "given_values", "int_list"]


def int_list(text: str) -> tuple[int, ...]:
    """``"1,2,2"`` or ``"1 2 2"`` → ``(1, 2, 2)``."""
    try:
        return tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def _help(spec) -> str:
    details = []
    if spec.default not in (None, "", False) and spec.kind != "bool":
        shown = ",".join(map(str, spec.default)) if isinstance(spec.default, tuple) else spec.default
        details.append(f"default {shown}")
    if spec.describe_range():
        details.append(spec.describe_range())
    if spec.resumable and spec.name != "resume":
        details.append("may change on --resume")
    text = spec.help.replace("%", "%%")
    return f"{text} ({'; '.join(details)})" if details else text


def add_setting_flags(parser: argparse.ArgumentParser, settings: Iterable[Any], *, positional: Sequence[str] = (),
                      required: Sequence[str] = (), first_group: str | None = None) -> None:
    """One argument per setting (a :class:`~diffusion_studio.core.training.config.SettingSpec`), in argument
    groups named by each setting's ``group``; settings of ``first_group`` go on the parser itself."""
    groups: dict[str, Any] = {}
    for spec in settings:
        if spec.group == first_group:
            target = parser
        else:
            target = groups.get(spec.group) or groups.setdefault(spec.group, parser.add_argument_group(spec.group))
        kwargs: dict[str, Any] = {"help": _help(spec), "default": argparse.SUPPRESS}
        if spec.kind == "bool":
            plain_switch = spec.default is False and not spec.resumable
            kwargs["action"] = "store_true" if plain_switch else argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float, "ints": int_list}.get(spec.kind, str)
            if spec.choices is not None:
                kwargs["choices"] = spec.choices
            if spec.metavar:
                kwargs["metavar"] = spec.metavar
        if spec.name in positional:
            target.add_argument(spec.name, nargs="?", **kwargs)
        else:
            target.add_argument(spec.flag, dest=spec.name, required=spec.name in required, **kwargs)


def given_values(args: argparse.Namespace, settings: Iterable[Any]) -> dict[str, Any]:
    """The settings present on the command line, by field name."""
    return {spec.name: getattr(args, spec.name) for spec in settings if hasattr(args, spec.name)}
