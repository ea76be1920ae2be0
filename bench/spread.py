"""The one way the benchmark reports print repeated measurements."""
import statistics


def spread(values, fmt):
    """Median and range, e.g. "22.4 (21.9–27.7)"; one value alone."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"
