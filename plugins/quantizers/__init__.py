"""Built-in quantizers: PT2E post-training int8."""

from autometa import hookimpl


@hookimpl
def register_quantizers():
    from autometa_plugins.quantizers.pt2e import Int8Quantizer

    return [Int8Quantizer]
