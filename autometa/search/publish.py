"""What a finished search leaves for people and their tools: ``report.html``, and the report and
model card attached to the study as Optuna artifacts (so ``optuna-dashboard`` shows them).

Both are conveniences on top of finished work: a failure is one warning line,
never a lost search.
"""

from __future__ import annotations

import optuna

from autometa.data.progress import say
from autometa.search.report_html import write_html_report
from autometa.search.run_directory import RunDirectory
from autometa.search.study_artifacts import StudyArtifacts


def publish_results(run: RunDirectory, study: optuna.Study, storage: str) -> None:
    """Write ``report.html`` and attach the study-level files (replacing what an earlier run attached)."""
    try:
        write_html_report(run.root, storage=storage, study=study)
    except Exception as exc:  # the search's results are saved; only the page is missing
        say(f"warning: report.html not written ({type(exc).__name__}: {exc}); retry with 'autometa report {run.root}'")
    cards = run.root / "artifacts"
    StudyArtifacts(run.artifact_store).attach_to_study(
        study, [run.html_report_file, run.report_file, cards / "model_card.md", cards / "model_card.json"]
    )
