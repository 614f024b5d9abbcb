"""Reading YAML a user may not have written: bounded in size, depth, node count, and without aliases.

PyYAML's safe loader refuses Python objects but still accepts documents that are
cheap to write and ruinous to walk: aliases (a 330-byte "billion laughs" recipe
expands to gigabytes once validated; ``foo: &r [*r]`` contains itself), deep
nesting (``[[[[...`` ends in RecursionError, which is no YAMLError), any size,
and, read through ``Path.read_text``, non-UTF-8 bytes (UnicodeDecodeError). Here
aliases are refused before anything is built (anchors alone are harmless), depth
is bounded in the scanner and the composer, the node count in the composer,
duplicate keys are refused instead of silently keeping the last, a file is never
read past its size limit and must be UTF-8. Every refusal is one
:class:`~autometa.errors.RecipeError` naming the file and line.

The C loader composes inside libyaml, where these hooks cannot reach; recipes
are small, so the pure-Python loader's speed is fine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from autometa.errors import RecipeError

# The repo's recipes: at most 1.6 KiB, 109 nodes, depth 8 (a resolved recipe: ~140 nodes).
# PyYAML's pure-Python scanner reads ~10k nodes/s on a busy 2-core machine, so these bounds
# keep the worst case near 0.3 s while leaving a wide margin for real recipes.
MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_NODES = 2_000


def _where(filename: str, mark: Any) -> str:
    return f"{filename}:{mark.line + 1}" if mark is not None else filename


class BoundedLoader(yaml.SafeLoader):
    """Safe loader without aliases, with depth and node-count limits, refusing duplicate keys.

    Reads ``1e-3`` as a number (YAML 1.2) instead of a string (YAML 1.1).
    """

    max_depth = MAX_DEPTH
    max_nodes = MAX_NODES

    def __init__(self, stream: str, filename: str = "<yaml>") -> None:
        super().__init__(stream)
        self.filename = filename
        self._depth = 0
        self._nodes = 0

    # Scanner: stop deep nesting at the first bracket or indent past the limit. The composer's
    # check alone comes too late for "[[[[...": the scanner looks ahead over the whole line,
    # in time quadratic in the depth (2,000 "[" took 1.3 s).
    def _too_deep(self, mark: Any) -> RecipeError:
        return RecipeError(f"{_where(self.filename, mark)}: nested deeper than {self.max_depth} levels")

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        super().fetch_flow_collection_start(TokenClass)
        if self.flow_level > self.max_depth:
            raise self._too_deep(self.get_mark())

    def add_indent(self, column: int) -> bool:
        added = super().add_indent(column)
        if len(self.indents) > self.max_depth:
            raise self._too_deep(self.get_mark())
        return added

    # Composer: no aliases; node count and depth bounded (mixed flow and block nesting too).
    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise RecipeError(
                f"{_where(self.filename, event.start_mark)}: YAML aliases (*{event.anchor}) are not allowed; "
                "write the value out in full"
            )
        self._nodes += 1
        if self._nodes > self.max_nodes:
            raise RecipeError(f"{_where(self.filename, event.start_mark)}: more than {self.max_nodes} YAML nodes")
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise self._too_deep(event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: SafeConstructor reports it
                    continue
                if first is not key_node.start_mark:
                    raise RecipeError(
                        f"{_where(self.filename, key_node.start_mark)}: duplicate key {key!r} "
                        f"(first on line {first.line + 1})"
                    )
        return super().construct_mapping(node, deep=deep)


BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, filename: str = "<yaml>") -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree (for line numbers), parsed once; one RecipeError on any problem."""
    loader = None
    try:
        loader = BoundedLoader(text, filename)  # the reader refuses non-printable characters here
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{_where(filename, mark)}: invalid YAML: {problem}") from None
    except RecursionError:  # not reachable under MAX_DEPTH; a last guard
        raise RecipeError(f"{filename}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def decode_utf8(data: bytes, filename: str = "<yaml>", *, max_bytes: int = MAX_BYTES) -> str:
    """Strict UTF-8 text of at most ``max_bytes`` (a leading byte-order mark is dropped)."""
    if len(data) > max_bytes:
        raise RecipeError(f"{filename}: larger than {max_bytes} bytes; a recipe is a short YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RecipeError(
            f"{filename}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def read_yaml_text(path: str | Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a YAML file, never reading more than ``max_bytes + 1`` bytes of it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and its permissions") from None
    return decode_utf8(data, str(path), max_bytes=max_bytes)


def load_yaml_file(path: str | Path) -> Any:
    """The data of a YAML file, under the same limits."""
    return parse_yaml(read_yaml_text(path), str(path))[0]
