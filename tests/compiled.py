"""What a compiled XLA program does, read off its text (no JAX config is touched: safe to import anywhere)."""

import re


def fft_rows(compiled) -> int:
    """The most rows (leading extent) of any FFT in a compiled program: on N devices a device's share of the
    batch, unless the partitioner gathered the batch and transforms all of it on every device; in a chain
    run in passes (augment.clips_per_pass), one pass's clips."""
    return max((int(n) for n in re.findall(r"= \w+\[(\d+)[^\]]*\]\S* fft\(", compiled.as_text())), default=0)
