"""The one way the benchmark reports print repeated measurements and goals."""
import statistics


def spread(values, fmt):
    """Median and range, e.g. "22.4 (21.9–27.7)"; one value alone."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def verdict(ok, text, miss):
    """A goal's line: "**met**: TEXT", or "**missed**: TEXT; MISS"."""
    return f"**met**: {text}" if ok else f"**missed**: {text}; {miss}"
