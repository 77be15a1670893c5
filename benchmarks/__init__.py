"""Benchmarks: figures with a same-run baseline, never pass/fail tests.

Run them with `make bench` or `python -m benchmarks [NAME ...]` (NAME is `codec` or
`bench_codec`; no name runs every module). `--markdown` prints the table as Markdown.

Adding a benchmark: create `benchmarks/bench_<name>.py` with a function

    def run() -> list[Row]: ...

that measures and returns rows (`benchmarks.common.Row`). Each row holds one metric: our
figure, the name and figure of the baseline measured in the same run (the floor, or a peer
such as pymavlink), the unit, and optionally a target. `python -m benchmarks` prints ONE table
of the rows of every module it ran: benchmark, metric, ours, baseline, baseline figure, unit,
ratio (ours / baseline), target and whether it was met.

A target is either a ratio to the baseline (`target_ratio`) or an absolute figure
(`target_value`); `better` says which direction wins ("higher" for throughput, "lower" for
latency and memory). A missed target is reported in the table, and the exit status stays 0:
benchmarks give figures, the tests decide what is correct. A module that fails to run is
reported on stderr and makes the exit status 1 (a broken benchmark is not a figure).

Helpers in `benchmarks.common`: `best_rate()` (best-of-N throughput, gc off while timing) and
`best_time()`. Keep each module under about 20 s; interleave ours and the baseline, and take
the best of several repeats, so that a busy machine slows both alike.
"""
