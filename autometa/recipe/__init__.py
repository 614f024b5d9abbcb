"""The recipe: one YAML file that fully determines a run, its schema, search-space syntax and loading."""

from autometa.recipe.bounded_yaml import BoundedLoader, load_yaml_file
from autometa.recipe.json_schema import recipe_json_schema
from autometa.recipe.loading import dump_recipe, load_recipe, parse_recipe
from autometa.recipe.schema import (
    CompressionSection,
    DataSection,
    EpisodeShape,
    EvaluationSection,
    ExportSection,
    PretrainSection,
    Recipe,
    SearchSection,
    Section,
    Strategy,
    TrainingSection,
    Transforms,
)
from autometa.recipe.space import FixedSuggester, Suggester, candidates, contains_search, node_kind, resolve

__all__ = [
    "BoundedLoader",
    "load_yaml_file",
    "recipe_json_schema",
    "dump_recipe",
    "load_recipe",
    "parse_recipe",
    "CompressionSection",
    "DataSection",
    "EpisodeShape",
    "EvaluationSection",
    "ExportSection",
    "PretrainSection",
    "Recipe",
    "SearchSection",
    "Section",
    "Strategy",
    "TrainingSection",
    "Transforms",
    "FixedSuggester",
    "Suggester",
    "candidates",
    "contains_search",
    "node_kind",
    "resolve",
]
