"""``make bench``: run every benchmark in turn (each prints its own figures and ratios)."""

from __future__ import annotations

from bench import callback_throughput, polling


def main() -> None:
    polling.main()
    callback_throughput.main()


if __name__ == "__main__":
    main()
