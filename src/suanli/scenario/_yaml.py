"""Reading YAML and turning every failure into a `ScenarioError` that names file and path.

A place reads ``china-edwc.yaml: spec.sites[3].pue (line 120)``; the line number is found by
walking the YAML node tree, which is only composed when there is an error to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from suanli.errors import ScenarioError

M = TypeVar("M", bound=BaseModel)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present

Loc = Sequence[int | str]


def read_yaml(path: Path) -> tuple[Any, str]:
    """Parse a YAML file: (data, text). Syntax errors name the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(str(path), f"cannot read the file: {e.strerror or e}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = f"{e.problem or 'invalid YAML'}"
        if e.context:
            problem = f"{e.context}: {problem}"
        raise ScenarioError(f"{path.name}{where}", f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as e:
        raise ScenarioError(path.name, f"YAML syntax error: {e}") from None
    if not isinstance(data, dict):
        raise ScenarioError(path.name, "the file must hold a mapping at the top level")
    return data, text


def dotted(loc: Loc) -> str:
    """('spec', 'sites', 3, 'pue') -> 'spec.sites[3].pue'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def line_of(text: str, loc: Loc) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def error(
    path: Path, text: str | None, loc: Loc, problem: str, hint: str | None = None
) -> ScenarioError:
    """A `ScenarioError` at ``loc`` of the file at ``path``."""
    place = f"{path.name}: {dotted(loc)}"
    line = line_of(text, loc) if text is not None else None
    if line is not None:
        place += f" (line {line})"
    return ScenarioError(place, problem, hint)


def _describe(err: Any) -> tuple[str, str | None]:
    """(problem, hint) for one pydantic error dict."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return "required field is missing", None
    if kind == "extra_forbidden":
        return "unknown field", "check the spelling; keys are camelCase (see docs/scenario.md)"
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}, got {got!r}", None
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {got!r}", None
    if kind == "enum":
        return f"must be one of {ctx.get('expected')}, got {got!r}", None
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])), None
    msg = str(err["msg"])
    if got is not None and not isinstance(got, dict | list):
        msg += f", got {got!r}"
    return msg, None


def validate(model: type[M], data: Any, path: Path, text: str | None = None) -> M:
    """``model.model_validate(data)``; the first error becomes a `ScenarioError`."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        problem, hint = _describe(first)
        more = e.error_count() - 1
        if more:
            hint = (hint + "; " if hint else "") + f"{more} more problem(s) after this one"
        raise error(path, text, first["loc"], problem, hint) from None
