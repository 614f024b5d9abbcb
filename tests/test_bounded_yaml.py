"""Hostile and broken recipe files: each is one clear RecipeError (exit 2), never a hang or a traceback.

Before the bounded loader, a 330-byte "billion laughs" recipe ran for minutes and
gigabytes, ``foo: &r [*r]`` and deep nesting ended in RecursionError, and a
binary or Latin-1 file in UnicodeDecodeError.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autometa.errors import RecipeError
from autometa.recipe import BoundedLoader, load_recipe, load_yaml_file, parse_recipe
from autometa.recipe.bounded_yaml import decode_utf8, parse_yaml

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion laughs": (billion_laughs(), r"recipe.yaml:2: YAML aliases \(\*a0\) are not allowed"),
    "ten-level laughs": (billion_laughs(levels=10, width=10), r"recipe.yaml:2: YAML aliases \(\*a0\) are not allowed"),
    "recursive sequence alias": ("foo: &r [*r]\n", r"recipe.yaml:1: YAML aliases \(\*r\) are not allowed"),
    "recursive mapping alias": ("foo: &r {x: *r}\n", r"recipe.yaml:1: YAML aliases \(\*r\) are not allowed"),
    "merge key": ("base: &b {lr: 1}\nrun:\n  <<: *b\n", r"recipe.yaml:3: YAML aliases \(\*b\) are not allowed"),
    "deep flow nesting": ("x: " + "[" * 30_000 + "]" * 30_000 + "\n", r"recipe.yaml:1: nested deeper than 32 levels"),
    "deep block nesting": ("".join(" " * i + "- \n" for i in range(3000)), r"recipe.yaml:\d+: nested deeper than 32"),
    "deep mapping nesting": ("".join(" " * i + f"k{i}:\n" for i in range(500)), r"nested deeper than 32 levels"),
    "deep mixed nesting": ("".join(" " * i + f"k{i}:\n" for i in range(20)) + " " * 20 + "k: " + "[" * 20 + "]" * 20,
                           r"recipe.yaml:21: nested deeper than 32 levels"),
    "too many nodes": ("x: [" + ", ".join(["1"] * 10_000) + "]\n", r"recipe.yaml:1: more than 2000 YAML nodes"),
    "python object tag": ("x: !!python/object/apply:os.system ['echo pwned']\n",
                          r"recipe.yaml:1: invalid YAML: could not determine a constructor"),
    "duplicate key": ("seed: 1\nname: a\nseed: 2\n", r"recipe.yaml:3: duplicate key 'seed' \(first on line 1\)"),
    "syntax error": ("a: [1, 2\n", r"recipe.yaml:2: invalid YAML"),
    "NUL byte": ("name: to\x00y\n", r"recipe.yaml: invalid YAML: unacceptable character #x0000"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_is_one_clear_recipe_error(name):
    text, pattern = HOSTILE[name]
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, registry=None, filename="recipe.yaml")
    message = str(info.value)
    assert "\n" not in message and info.value.__cause__ is None
    assert re.search(pattern, message), message


def test_not_utf8_names_the_line_and_byte():
    with pytest.raises(RecipeError) as info:
        decode_utf8(b"name: toy\nnote: caf\xe9\n", "recipe.yaml")
    assert str(info.value) == "recipe.yaml:2: not UTF-8 text (byte 0xe9 at offset 19); save the file as UTF-8"
    with pytest.raises(RecipeError, match="not UTF-8"):
        decode_utf8("name: toy\n".encode("utf-16"), "recipe.yaml")


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:  # a sparse 2 GiB file
        handle.truncate(2 << 30)
    with pytest.raises(RecipeError, match=r"big.yaml: larger than 65536 bytes"):
        load_yaml_file(path)


def test_an_ordinary_recipe_reads_like_safe_load_with_yaml_12_floats():
    text = (
        "\ufeffname: quickstart  # comment\n"
        "anchored: &ok {a: 1}\n"  # an anchor without an alias is harmless
        "strategy:\n"
        "  outer_lr: {log_uniform: [1e-3, 0.1]}\n"
        "  tags: [a, 'b', \"c\"]\n"
    )
    data, node = parse_yaml(decode_utf8(text.encode()), "r.yaml")
    expected = yaml.safe_load(text.lstrip("\ufeff"))
    expected["strategy"]["outer_lr"]["log_uniform"][0] = 1e-3  # YAML 1.1 reads "1e-3" as a string
    assert data == expected and node.start_mark.line == 0


def test_the_shipped_recipes_are_far_inside_the_limits():
    tight = type("Tight", (BoundedLoader,), {"max_depth": 12, "max_nodes": 400})
    recipes = sorted(RECIPES.glob("*.yaml"))
    assert recipes
    for path in recipes:
        assert isinstance(yaml.load(path.read_text(encoding="utf-8"), Loader=tight), dict)


def test_binary_or_hostile_recipe_files_are_one_line_exit_2_on_the_command_line(tmp_path):
    files = {
        "binary.yaml": bytes(range(256)) * 8,
        "latin1.yaml": "name: café\n".encode("latin-1"),
        "laughs.yaml": billion_laughs().encode(),
        "loop.yaml": b"foo: &r [*r]\n",
    }
    for i, (name, data) in enumerate(files.items()):
        (tmp_path / name).write_bytes(data)
        command = ["search", name, "--quiet"] if i % 2 else ["recipe", "validate", name]
        result = subprocess.run([sys.executable, "-m", "autometa.cli", *command], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.startswith(f"error: {name}") and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "runs").exists()


def test_load_recipe_reads_the_file_once_bounded(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"x: " + b"a" * 70_000)
    with pytest.raises(RecipeError, match="larger than 65536 bytes"):
        load_recipe(path, registry=None)
