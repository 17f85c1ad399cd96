"""Load YAML config files into pydantic models with errors a technician can act on.

An error names the file, the line and the field path, and says what was expected, e.g.::

    config/hall.yaml:42: queues.3.letter: String should match pattern '^[A-Z]$' (got 'AA')

PyYAML does not keep line numbers on the Python objects it builds, so we compose the node
tree ourselves and record the line of every mapping key and sequence item.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]


class LocatedError(ValueError):
    """Raised by a model validator that knows which nested field is wrong, so the message
    can name that field and its line instead of the model's (pydantic keeps the original
    exception in the error's ``ctx``)."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


class ConfigFileError(Exception):
    """A config file that cannot be used; ``problems`` lists every finding."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            _walk(value, (*loc, k), lines)
            # An error about a key is reported on the key's line, not its value's.
            lines[(*loc, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines)


#: libyaml's loader when PyYAML has it (about ten times faster than the pure-Python one:
#: the hall config is read at every start of the controller and the kiosks).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigFileError(path, [f"{path}: cannot read: {err.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigFileError(path, [f"{path}: not UTF-8 text"]) from None


def _syntax(path: Path, err: yaml.YAMLError) -> ConfigFileError:
    mark = getattr(err, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err)
    return ConfigFileError(path, [f"{path}{line}: YAML syntax error: {problem}"])


def _lines(text: str) -> dict[Loc, int]:
    """The line of every key and item (parsed again: only needed to report an error)."""
    lines: dict[Loc, int] = {}
    node = yaml.compose(text, Loader=_Loader)
    if node is not None:
        _walk(node, (), lines)
    return lines


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """The data of a YAML file and the line of every key and item in it."""
    text = _read(path)
    try:
        return yaml.load(text, Loader=_Loader), _lines(text)
    except yaml.YAMLError as err:
        raise _syntax(path, err) from None


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    while True:
        if loc in lines:
            return lines[loc]
        if not loc:
            return None
        loc = loc[:-1]


def describe(err: ValidationError, path: Path, lines: dict[Loc, int]) -> list[str]:
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedError):
            loc = (*loc, *cause.loc)
        where = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_for(loc, lines)
        got = ""
        if e["type"] not in ("missing",) and not isinstance(e.get("input"), dict | list):
            got = f" (got {e.get('input')!r})"
        prefix = f"{path}:{line}" if line else f"{path}"
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{prefix}: {where}: {msg}{got}")
    return out


def load_model(model: type[M], path: str | Path) -> M:
    p = Path(path)
    text = _read(p)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        raise _syntax(p, err) from None
    if data is None:
        raise ConfigFileError(p, [f"{p}: the file is empty"])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigFileError(p, describe(err, p, _lines(text))) from None


def file_problems(
    path: str | Path, files: Sequence[tuple[Loc, str, Path]], *, readable: bool = True
) -> list[str]:
    """Problems with the files a config file names, as ``FILE:LINE: field: why``.

    ``files``: (field path in the YAML, the value as written, the file it points to).
    ``readable``: the file must be readable by this user, not only exist."""
    problems: list[str] = []
    lines: dict[Loc, int] | None = None
    for loc, value, f in files:
        if f.is_file() and (not readable or os.access(f, os.R_OK)):
            continue
        if lines is None:
            lines = load_yaml(Path(path))[1]
        line = _line_for(loc, lines)
        why = "cannot read the file (permissions)" if f.is_file() else "no such file"
        seen = "" if Path(value).is_absolute() else f", looked at {f.resolve()}"
        where = f"{path}:{line}" if line else str(path)
        field = ".".join(str(p) for p in loc)
        problems.append(f"{where}: {field}: {why} (got {value!r}{seen})")
    return problems
