"""The journey on tiny data: search -> compress (in the search) -> model card -> `autometa evaluate`
on the artifact -> `autometa export` of the best checkpoint; and the CLI's one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from autometa import hookimpl
from autometa.authoring import testing
from autometa.cli import app
from autometa.plugins import default_host


@pytest.fixture()
def testing_plugin():
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    yield
    default_host().unregister(testing.TESTING_PLUGIN)


@pytest.mark.slow
def test_search_compresses_exports_and_documents_the_winner(tmp_path, testing_plugin):
    default_host().unregister(testing.TESTING_PLUGIN)  # run_tiny_search registers it itself
    summary = testing.run_tiny_search(
        tmp_path,
        {
            "pruner": {"channels": {"ratio": 0.5, "finetune_steps": 2}},
            "distiller": {"logits": {"steps": 2}},
            "exporter": "torch_export",
        },
    )
    default_host().register(testing, testing.TESTING_PLUGIN, "autometa (testing)")
    artifacts = summary.artifacts
    card = json.loads((artifacts / "model_card.json").read_text())
    stages = card["stages"]
    assert [s["stage"] for s in stages] == ["original", "pruner", "distiller"]
    assert stages[1]["parameters"] < stages[0]["parameters"]
    assert all(s["accuracy"]["episodes"] == 4 and s["latency"]["median_ms"] > 0 for s in stages)
    assert card["preprocessing"]["image_size"] == 16 and card["episode_shape"]["ways"] == 2
    (artifact,) = card["artifacts"]
    assert artifact["fresh_process"] and (artifacts / artifact["file"]).stat().st_size == artifact["size_bytes"]
    markdown = (artifacts / "model_card.md").read_text()
    assert "Load `predictor.pt2` in five lines" in markdown and "def load_image(path):" in markdown
    assert "What the predictor does: embeds the support and query images" in markdown
    assert "Episode sizes: S, Q and N dynamic." in markdown

    runner = CliRunner()
    evaluated = runner.invoke(
        app, ["evaluate", str(artifacts / "predictor.pt2"), "--data", str(tmp_path / "tiny.yaml"), "--episodes", "3"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "test accuracy:" in evaluated.output and "3 episodes" in evaluated.output

    exported = runner.invoke(
        app, ["export", str(summary.run_dir / "best" / "checkpoint.pt"), "--format", "onnx", "--out", str(tmp_path / "x")]
    )
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "x" / "predictor.onnx").is_file() and "loads without autometa" in exported.output


def test_compress_without_a_search_is_a_one_line_error(tmp_path):
    from autometa.deploy import compress_run
    from autometa.errors import AutometaError

    with pytest.raises(AutometaError, match="run 'autometa search'"):
        compress_run(tmp_path, default_host().registry)


def test_evaluate_rejects_an_unknown_artifact_format(tmp_path):
    from autometa.deploy import load_artifact
    from autometa.errors import AutometaError

    path = tmp_path / "model.bin"
    path.write_bytes(b"")
    with pytest.raises(AutometaError, match=r"no exporter reads '\.bin' files.*\.pt2"):
        load_artifact(path, default_host().registry)


class _LateFailure:
    """A plugin whose exporter works in the pre-flight (its first call) and fails after the search."""

    @hookimpl
    def register_exporters(self):
        from autometa_plugins.exporters.torch_export import TorchExport

        class FailsLate(TorchExport):
            name = "fails_late"
            suffix = ".late.pt2"
            calls = 0

            def export(self, traced, path):
                type(self).calls += 1
                if type(self).calls > 1:
                    raise RuntimeError("No space left on device\n(a second line torch would add)")
                return super().export(traced, path)

        return [FailsLate]


def test_an_export_failing_after_the_search_is_one_line_and_keeps_the_results(tmp_path):
    from autometa.errors import ExportError

    default_host().register(_LateFailure(), "fails-late")
    try:
        with pytest.raises(ExportError) as caught:
            testing.run_tiny_search(tmp_path, {"exporter": "fails_late"})
    finally:
        default_host().unregister("fails-late")
    assert str(caught.value) == "fails_late: RuntimeError: No space left on device"
    assert caught.value.exit_code == 1 and isinstance(caught.value.__cause__, RuntimeError)  # for --debug, the log
    run = tmp_path / "runs" / "tiny"
    assert (run / "report.md").is_file() and (run / "best" / "checkpoint.pt").is_file()
