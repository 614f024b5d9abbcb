"""Reading a recipe file: YAML in, a validated :class:`Recipe` out, or one ``file:line`` error.

The YAML is read by :mod:`autometa.recipe.bounded_yaml` (bounded size, depth and
node count, no aliases, strict UTF-8). Loading is then two passes. First the
structure is checked by the pydantic models of :mod:`autometa.recipe.schema`.
Then :func:`~autometa.recipe.checking.check_tree` validates every component's
options against its plugin. Every error becomes one
:class:`~autometa.errors.RecipeError` line: ``file:line: dotted.path: problem``,
with a "did you mean" for misspelt keys and names.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from autometa.components.registry import Registry
from autometa.errors import RecipeError
from autometa.recipe.bounded_yaml import parse_yaml, read_yaml_text
from autometa.recipe.checking import TreeError, check_stages, check_tree, join, model_class, unknown_key
from autometa.recipe.schema import Recipe, Strategy


def load_recipe(path: str | Path, registry: Registry) -> Recipe:
    """Read, parse and fully validate a recipe file against the plugins in ``registry``."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found; check the path")
    return parse_recipe(read_yaml_text(path), registry, str(path))


def parse_recipe(text: str, registry: Registry, filename: str = "<recipe>") -> Recipe:
    """Parse and validate recipe text; errors name ``filename`` and the line."""
    data, node = parse_yaml(text, filename)
    lines = _line_numbers(node)
    if data is None:
        raise RecipeError(f"{filename}: the recipe is empty; start from recipes/quickstart.yaml")
    if not isinstance(data, dict):
        raise RecipeError(f"{filename}:1: a recipe is a mapping of sections (name, data, strategy, ...)")
    try:
        recipe = Recipe.model_validate(data)
        check_tree(Recipe, data, "", registry, allow_search=False, skip={"strategy"})
        check_tree(Strategy, recipe.strategy, "strategy", registry, allow_search=True)
        check_stages(recipe.strategy, recipe.training.meta_steps)
    except ValidationError as exc:
        raise _from_validation_error(exc, Recipe, filename, lines) from None
    except TreeError as exc:
        raise RecipeError(f"{_where(filename, lines, exc.path)}: {exc.path}: {exc.message}") from None
    return recipe


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe (defaults filled in) as YAML."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)


def _from_validation_error(
    exc: ValidationError, model: type[BaseModel], filename: str, lines: dict[str, int]
) -> RecipeError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    path = ".".join(loc)
    if err["type"] == "extra_forbidden":
        known = list(_model_at(model, loc[:-1]).model_fields) if _model_at(model, loc[:-1]) else []
        message = unknown_key(loc[-1], known)
    elif err["type"] == "missing":
        message = "required key is missing"
    else:
        message = err["msg"]
        if "input" in err and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
    return RecipeError(f"{_where(filename, lines, path)}: {path or '(top)'}: {message}")


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    for key in loc:
        field = model.model_fields.get(key)
        sub = model_class(field.annotation) if field else None
        if sub is None:
            return None
        model = sub
    return model


def _line_numbers(node: yaml.Node | None, path: str = "") -> dict[str, int]:
    """Map each dotted path in a composed YAML document to its 1-based line."""
    lines: dict[str, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = join(path, str(key.value))
            lines.update(_line_numbers(value, here))
            lines[here] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines.update(_line_numbers(value, join(path, str(i))))
    return lines


def _where(filename: str, lines: dict[str, int], path: str) -> str:
    """``file:line`` of the deepest known part of ``path``.

    Search-node keys (``choice``) appear in the YAML but not in option paths, so
    lines are looked up with them removed.
    """
    logical: dict[str, int] = {}
    for yaml_path, line in lines.items():
        key = ".".join(p for p in yaml_path.split(".") if p != "choice")
        logical.setdefault(key, line)
    parts = path.split(".") if path else []
    while parts and ".".join(parts) not in logical:
        parts.pop()
    line = logical.get(".".join(parts))
    return f"{filename}:{line}" if line else filename
