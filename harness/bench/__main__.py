"""`python -m harness.bench`: run the benchmarks."""

from harness.bench.suite import main

if __name__ == "__main__":
    main()
