"""Benchmarks of zhoubao: `python -m benchmarks [--quick]` prints the table of figures.

Each benchmark is a module of this package exposing `BENCHMARK = Benchmark(name, run_quick,
run_full)`; `benchmarks.__main__` lists the modules it runs. See docs/performance.md.
"""
