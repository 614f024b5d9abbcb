"""docs/recipes.md documents every recipe key, so the reference cannot drift from the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from autometa import recipe

REFERENCE = (Path(__file__).parents[1] / "docs" / "recipes.md").read_text()

SECTIONS = {
    "": recipe.Recipe,
    "data": recipe.DataSection,
    "evaluation": recipe.EvaluationSection,
    "strategy": recipe.Strategy,
    "training": recipe.TrainingSection,
    "search": recipe.SearchSection,
    "compression": recipe.CompressionSection,
    "export": recipe.ExportSection,
    "data.transforms": recipe.Transforms,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_key_is_documented(section):
    missing = [key for key in SECTIONS[section].model_fields if f"`{key}`" not in REFERENCE and f"`{section}.{key}`" not in REFERENCE]
    assert not missing, f"docs/recipes.md does not document {section or 'top-level'} keys {missing}"


def test_every_builtin_dataset_is_named():
    from autometa.plugins import default_host

    for name in default_host().registry.names("dataset"):
        assert f"`{name}`" in REFERENCE
