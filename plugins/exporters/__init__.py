"""Built-in exporters: torch.export (.pt2) and ONNX."""

from autometa import hookimpl


@hookimpl
def register_exporters():
    from autometa_plugins.exporters.onnx import OnnxExport
    from autometa_plugins.exporters.torch_export import TorchExport

    return [TorchExport, OnnxExport]
