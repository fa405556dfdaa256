"""hch's benchmark suite: ``python -m benchmarks`` (see benchmarks/README.md).

Every figure is printed as a ratio against a floor measured in the same run, on
the same machine, interleaved with it, so that a machine loaded by other work
slows both alike and the ratio stays readable.
"""
