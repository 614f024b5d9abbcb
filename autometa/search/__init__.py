"""The search: an Optuna study over strategies, its trials, workers, run directory, reports, views and observers."""

from autometa.search.budget import over_budget
from autometa.search.identity import STUDY_NAME, problem_fingerprint
from autometa.search.log_view import LogView, search_view
from autometa.search.objectives import DIRECTIONS, measure_costs
from autometa.search.observers import RecipeObservers, recipe_observers
from autometa.search.preview import PreviewEpisode, read_preview, update_preview
from autometa.search.pruning import TrainingAndEpisodePruner, episode_key, make_pruner
from autometa.search.publish import publish_results
from autometa.search.redact import redact_storage
from autometa.search.report import pruning_savings, write_report
from autometa.search.retries import MAX_RETRIES, count_finished, counts_toward_budget, requeue_unfinished
from autometa.search.run import finish, run_search, test_scores
from autometa.search.run_directory import RESUMABLE_SECTIONS, RunDirectory, read_json, write_json
from autometa.search.seeding import TrialSeededSampler, trial_seed
from autometa.search.storage import open_storage
from autometa.search.study import directions, make_sampler, open_study
from autometa.search.study_artifacts import StudyArtifacts
from autometa.search.summary import SearchSummary, TrialSummary, best_numbers, summarize
from autometa.search.trial import TrialEnded, TrialObjective, failure_reason, optimize
from autometa.search.view import SearchView, best_table, format_params, format_value, render_summary
from autometa.search.workers import run_workers, worker_main

__all__ = [
    "DIRECTIONS",
    "measure_costs",
    "TrainingAndEpisodePruner",
    "episode_key",
    "make_pruner",
    "pruning_savings",
    "write_report",
    "MAX_RETRIES",
    "count_finished",
    "counts_toward_budget",
    "requeue_unfinished",
    "finish",
    "run_search",
    "test_scores",
    "RESUMABLE_SECTIONS",
    "RunDirectory",
    "read_json",
    "write_json",
    "over_budget",
    "STUDY_NAME",
    "problem_fingerprint",
    "redact_storage",
    "TrialSeededSampler",
    "trial_seed",
    "open_storage",
    "directions",
    "make_sampler",
    "open_study",
    "SearchSummary",
    "TrialSummary",
    "best_numbers",
    "summarize",
    "TrialEnded",
    "TrialObjective",
    "failure_reason",
    "optimize",
    "SearchView",
    "best_table",
    "format_params",
    "format_value",
    "render_summary",
    "LogView",
    "search_view",
    "RecipeObservers",
    "recipe_observers",
    "PreviewEpisode",
    "read_preview",
    "update_preview",
    "publish_results",
    "StudyArtifacts",
    "run_workers",
    "worker_main",
]
