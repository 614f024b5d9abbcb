"""Where the benchmarks find the shared, read-only data sets (never copied into the repo)."""

from pathlib import Path

#: Lake et al.'s Omniglot small sets, beside the repository in ../shared.
OMNIGLOT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "omniglot"
