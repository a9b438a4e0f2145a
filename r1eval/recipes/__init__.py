"""Command options from one source: dataclasses whose fields (type, default, help) make the flags, the
shipped recipe files (YAML) and a user's `--config` file.

A command's options are one or more dataclasses (TRL's `TrlParser` idea: every field is a flag and a YAML
key). The value of each field comes from, lowest to highest:

1. the dataclass default;
2. a named recipe (`--preset NAME`, or a `preset: NAME` key in the config file): `recipes/<command>/NAME.yaml`;
3. the `--config FILE` YAML (or JSON) mapping, whose keys are field names;
4. flags given on the command line.

`resolve_options` does this without argparse (the `r1eval loop` recipes and Python callers use it);
`add_option_flags` + `flag_values` are the command-line side. Recipe files in this folder are package data:
`grpo/*.yaml` (GRPO), `sft/*.yaml` (`distill train`), `accelerate/*.yaml` (DeepSpeed configs for
`accelerate launch --config_file`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError

RECIPE_DIR = Path(__file__).parent
ACCELERATE_DIR = RECIPE_DIR / "accelerate"  # shipped `accelerate launch --config_file` files (DeepSpeed ZeRO)
PRESET_KEY = "preset"  # a config file naming the recipe it starts from


def option(default: Any, help: str, **meta: Any) -> Any:
    """A dataclass field with its help text (the flag's help and the recipe key's documentation). `meta`:
    `flags` (other spellings), `append` (a list flag given once per item), `show_default`."""
    if isinstance(default, dict | list):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **meta})
    return dataclasses.field(default=default, metadata={"help": help, **meta})


def recipe_names(command: str) -> list[str]:
    """The shipped recipes of `command` (file stems under recipes/<command>/)."""
    return sorted(p.stem for p in (RECIPE_DIR / command).glob("*.yaml"))


def recipe_path(command: str, name: str) -> Path:
    """The shipped recipe file `name` of `command`, or a UsageError listing the known ones."""
    path = RECIPE_DIR / command / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown preset {name!r} for {command}; choose one of {', '.join(recipe_names(command))}")
    return path


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) file holding one mapping; a missing file or another shape is a UsageError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path}: not valid YAML{where}; fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of option names to values, got a {type(data).__name__}")
    return data


def load_recipe(command: str, name_or_path: str | Path) -> dict[str, Any]:
    """A recipe's values: a shipped name or a YAML path, following its `preset:` key (a recipe may start from
    another), the later file's values winning."""
    text = str(name_or_path)
    path = Path(text) if text.endswith((".yaml", ".yml", ".json")) else recipe_path(command, text)
    values = read_mapping(path)
    base = values.pop(PRESET_KEY, None)
    if base is None:
        return values
    if str(base) == text:
        raise UsageError(f"{path}: preset {base!r} names the file itself")
    return {**load_recipe(command, base), **values}


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _type_name(tp: Any) -> str:
    return getattr(typing.get_origin(tp) or tp, "__name__", str(tp))


def coerce(name: str, tp: Any, value: Any) -> Any:
    """`value` (from YAML or a flag's text) as a value of the field type `tp`; a UsageError names the field.

    Text is parsed for numbers (YAML reads `3e-6` as text), booleans (true/false), None (none/null, for
    optional fields) and mappings/lists (YAML/JSON text)."""
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if optional:
            return None
        raise UsageError(f"{name}: a value is required (got none)")
    origin = typing.get_origin(base) or base
    try:
        if origin is bool:
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.strip().lower() in ("true", "yes", "1")
            if isinstance(value, bool):
                return value
        elif origin is int:
            if isinstance(value, str):
                return int(value.strip())
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif origin is float:
            if isinstance(value, str):
                return float(value.strip())
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif origin is str:
            if isinstance(value, str):
                return value
        elif origin is Path:
            if isinstance(value, str | Path):
                return Path(value)
        elif origin in (dict, list):
            if isinstance(value, str):
                import yaml

                value = yaml.safe_load(value)
            if origin is list and isinstance(value, str | int | float):
                value = [value]
            if isinstance(value, origin):
                return dict(value) if origin is dict else list(value)
        elif origin is typing.Literal:
            if value in typing.get_args(base):
                return value
            raise UsageError(f"{name}: expected one of {', '.join(map(str, typing.get_args(base)))}, got {value!r}")
        else:
            return value
    except (ValueError, TypeError):
        pass
    except Exception as exc:  # a YAML error in a flag's mapping text
        raise UsageError(f"{name}: cannot read {value!r} as a {_type_name(base)} ({exc.__class__.__name__})") from None
    raise UsageError(f"{name}: expected a {_type_name(base)}{' or none' if optional else ''}, got {value!r}")


def build(cls: type, values: Mapping[str, Any]) -> Any:
    """`cls(**values)` with every value coerced to its field's type (keys must be fields of `cls`)."""
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    if "description" not in names:  # a recipe's description documents it unless it is a field
        values = {k: v for k, v in values.items() if k != "description"}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(f"unknown {cls.__name__} fields {unknown}")
    return cls(**{k: coerce(k, hints[k], v) for k, v in values.items()})


def option_names(classes: Iterable[type]) -> dict[str, type]:
    """Field name -> the dataclass that owns it, over `classes` (a name in two classes is a bug)."""
    owner: dict[str, type] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.init and not f.metadata.get("internal"):
                if f.name in owner:
                    raise TypeError(f"option {f.name} is in both {owner[f.name].__name__} and {cls.__name__}")
                owner[f.name] = cls
    return owner


def resolve_options(command: str, classes: Iterable[type], *, preset: str | None = None,
                    config: str | Path | Mapping[str, Any] | None = None,
                    overrides: Mapping[str, Any] | None = None,
                    default_preset: str | None = None) -> tuple[Any, ...]:
    """One instance of each of `classes` (a command's option dataclasses), from their defaults < the recipe
    (`preset`, else the config's `preset:` key, else `default_preset`) < `config` (a YAML path or a mapping)
    < `overrides` (field name -> value; None values are skipped). Unknown keys are a UsageError that names
    them; this is what `r1eval loop` calls with a stage's keys."""
    classes = tuple(classes)
    owner = option_names(classes)
    source = "config"
    if config is None:
        given: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        given = dict(config)
    else:
        source, given = str(config), read_mapping(config)
    base_name = preset or given.pop(PRESET_KEY, None) or default_preset
    given.pop(PRESET_KEY, None)
    base = load_recipe(command, base_name) if base_name else {}
    merged: dict[str, Any] = {}
    for where, layer in ((f"preset {base_name}", base), (source, given),
                         ("overrides", {k: v for k, v in (overrides or {}).items() if v is not None})):
        if "description" not in owner:  # a recipe's description is documentation unless it is an option
            layer.pop("description", None)
        unknown = sorted(set(layer) - set(owner))
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], owner, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(owner))}"
            raise UsageError(f"{where}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for "
                             f"{command}; {hint}")
        merged.update(layer)
    return tuple(build(cls, {k: v for k, v in merged.items() if owner[k] is cls}) for cls in classes)


def as_plain(value: Any) -> Any:
    """A dataclass / Path / nested value as JSON-ready data (what `--dry-run` prints)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    return value


def options_dict(*instances: Any) -> dict[str, Any]:
    """The fields of several option dataclasses as one flat JSON-ready mapping (the config file's shape)."""
    out: dict[str, Any] = {}
    for inst in instances:
        out.update({f.name: as_plain(getattr(inst, f.name)) for f in dataclasses.fields(inst)
                    if f.init and not f.metadata.get("internal")})
    return out


def flag_of(name: str) -> str:
    """The command-line flag of option `name`."""
    return "--" + name.replace("_", "-")


def _default_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def add_option_flags(parser: argparse.ArgumentParser, cls: type, *, title: str | None = None,
                     skip: Iterable[str] = ()) -> None:
    """One flag per field of `cls` (`--field-name`; bools also `--no-field-name`), the help from the field's
    `metadata["help"]`, extra spellings from `metadata["flags"]`. Flags have no argparse default: only the
    flags given appear in the namespace (`flag_values`), so a config file's value is overridden only by a
    flag the user typed."""
    group = parser.add_argument_group(title or f"{cls.__name__} options") if title is not False else parser
    hints = _field_types(cls)
    skip = set(skip)
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip or f.metadata.get("internal"):
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        origin = typing.get_origin(tp) or tp
        names = [flag_of(f.name), *f.metadata.get("flags", ())]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        if f.metadata.get("show_default", True):
            help_text += f" (default {_default_text(default)})" if help_text else f"default {_default_text(default)}"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text.replace("%", "%%")}
        if origin is bool:
            group.add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if origin is list and f.metadata.get("append", False):
            item = typing.get_args(tp)[0] if typing.get_args(tp) else str
            group.add_argument(*names, action="append", type=_flag_type(f.name, item), metavar=_metavar(item), **kwargs)
            continue
        if origin is typing.Literal:
            group.add_argument(*names, choices=list(typing.get_args(tp)), **kwargs)
            continue
        group.add_argument(*names, type=_flag_type(f.name, hints[f.name]), metavar=_metavar(tp), **kwargs)


def _metavar(tp: Any) -> str:
    origin = typing.get_origin(tp) or tp
    return {int: "INT", float: "FLOAT", str: "TEXT", Path: "PATH", dict: "YAML", list: "YAML",
            bool: "BOOL"}.get(origin, "VALUE")


def _flag_type(name: str, tp: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            return coerce(name, tp, text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    convert.__name__ = _type_name(_unwrap_optional(tp)[0])
    return convert


def flag_values(args: argparse.Namespace, classes: Iterable[type]) -> dict[str, Any]:
    """The option values the user gave as flags (absent flags are not in the namespace)."""
    names = option_names(classes)
    return {k: v for k, v in vars(args).items() if k in names}


def recipes_help(command: str, describe: Any = None) -> str:
    """Lines listing `command`'s shipped recipes (for a parser's epilog)."""
    lines = [f"recipes for --preset (files in {RECIPE_DIR / command}):"]
    for name in recipe_names(command):
        values = read_mapping(recipe_path(command, name))
        lines.append(f"  {name}: {values.get('description', '') if describe is None else describe(values)}")
    return "\n".join(lines)


def accelerate_help() -> str:
    """The shipped accelerate configs, for --help epilogs."""
    names = ", ".join(sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml")))
    return (f"accelerate configs (--accelerate-config NAME to plan; `accelerate launch --config_file "
            f"{ACCELERATE_DIR}/NAME.yaml` to run): {names}")


def add_recipe_flags(p: argparse.ArgumentParser, command: str, default_preset: str) -> None:
    """--preset, --config and --dry-run, the flags every training command has besides its options."""
    p.add_argument("--preset", help=f"a shipped recipe: {' | '.join(recipe_names(command))} (default "
                                    f"{default_preset}, or the `preset:` of --config)")
    p.add_argument("--config", type=Path, metavar="YAML",
                   help="recipe file: option names (as below, with underscores) -> values; `preset: NAME` starts "
                        "from a shipped recipe; flags override it")
    p.add_argument("--dry-run", action="store_true",
                   help="print the options, the batch plan and the full TRL config as one JSON object, then exit "
                        "(no model load)")


def command_line(command: str, args: argparse.Namespace, classes: tuple[type, ...]) -> str:
    """The command's arguments as given, without --dry-run (for the printed launch lines)."""
    words = command.split()
    if getattr(args, "preset", None):
        words += ["--preset", args.preset]
    if getattr(args, "config", None):
        words += ["--config", str(args.config)]
    for name, value in flag_values(args, classes).items():
        if isinstance(value, bool):
            words.append(flag_of(name) if value else "--no-" + flag_of(name)[2:])
        elif isinstance(value, list) and name.startswith("gate_bench"):
            for item in value:
                words += [flag_of(name), str(item)]
        elif value is not None:
            plain = as_plain(value)
            words += [flag_of(name), json.dumps(plain) if isinstance(plain, dict | list) else str(plain)]
    return " ".join(shlex.quote(w) for w in words)
