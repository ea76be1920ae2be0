#!/usr/bin/python3
"""The "## Daemon" section of docs/BENCHMARKS.md and its latency plot, from
the raw results bench/daemon.sh leaves in build/bench/daemon/.

    report.py RESULTS_DIR FRAGMENT.md PLOT.png
"""
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (needs the backend chosen first)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from spread import spread, verdict  # noqa: E402 (bench/spread.py, shared by the reports)

CLIENTS = (1, 10, 100)
# Issue 16: root's Status stays fast and the daemon small whatever clients
# do and while chunks move.  A goal holds only if every run met it.
GOAL_P99_US = 10000
GOAL_HWM_MIB = 64


def rows(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def meta(path):
    return dict(line.rstrip("\n").split(" ", 1) for line in open(path) if " " in line)


def us(v):
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} µs"


def ms(v):
    return f"{v:.1f} ms"


def latency_table(lat, calls):
    out = ["| clients | calls per client | runs | p50 median (range) | p99 median (range) "
           "| max median | throughput median (range) | clients / throughput |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in CLIENTS:
        r = [x for x in lat if x[0] == c]
        tput = statistics.median([x[5] for x in r])
        out.append(f"| {c} | {calls // c} | {len(r)} | {spread([x[2] for x in r], us)} "
                   f"| {spread([x[3] for x in r], us)} "
                   f"| {us(statistics.median([x[4] for x in r]))} "
                   f"| {spread([x[5] for x in r], lambda v: f'{v:,.0f}')} calls/s "
                   f"| {us(c / tput * 1e6)} |")
    return out


def plot_latency(lat, path, runs):
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    values = [v for x in lat for v in x[2:4]]
    lo_y, hi_y = min(values) / 1.5, max(values) * 1.5
    for col, name, color in ((2, "p50", "tab:blue"), (3, "p99", "tab:red")):
        med, lo, hi = [], [], []
        for c in CLIENTS:
            v = [x[col] for x in lat if x[0] == c]
            m = statistics.median(v)
            med.append(m)
            lo.append(m - min(v))
            hi.append(max(v) - m)
        ax.errorbar(CLIENTS, med, yerr=[lo, hi], marker="o", capsize=4, color=color,
                    label=f"{name} (median of {runs} runs, bar: min–max)")
        for c, m in zip(CLIENTS, med):
            ax.annotate(us(m), (c, m), textcoords="offset points", xytext=(8, -4 if name == "p50" else 6),
                        fontsize=8, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(CLIENTS, [str(c) for c in CLIENTS])
    ax.set_xlim(0.7, 200)
    ax.set_xlabel("concurrent clients, each with one call outstanding")
    ticks = [t for t in (1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000)
             if lo_y <= t <= hi_y]
    ax.set_ylim(lo_y, hi_y)
    ax.set_yticks(ticks, [us(t).replace(".0 µs", " µs").replace(".00 ms", " ms") for t in ticks])
    ax.minorticks_off()
    ax.set_ylabel("Status call latency")
    ax.set_title("gigapoold: Status latency vs concurrent clients (one thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def moving_section(moving, mmeta, load):
    """Root's Status while the daemon lends 8 slow chunks, against the idle daemon."""
    md = ["### Status while chunks move", "",
          "`bench/daemon/moving.sh`: gigapoold against the fake pool of the integration tests "
          "(`daemon/build/fakepool.so` and a fake sysfs root), in which every chunk lent takes "
          f"{mmeta['delay_ms']} ms, as a 1 GiB clear or a CMA migration can on a real host. Each "
          "run: root's `gigapool-bench` with one client and 10,000 Status calls against the idle "
          "daemon, then a Reserve of 8 GiB that makes the daemon lend 8 chunks "
          f"({8 * int(mmeta['delay_ms']) / 1000:.0f} s on its worker thread) and the same bench, "
          "started once the first chunk is lent and over before the last one is (a run where "
          f"it is not fails). {len({r[0] for r in moving})} runs. Load average "
          f"{load['moving start']} before, {load['moving end']} after.", "",
          "| root's Status, 1 client | p50 median (range) | p99 median (range) | max median |",
          "| --- | --- | --- | --- |"]
    for state, label in (("idle", "idle daemon"), ("moving", "while it lends 8 chunks")):
        r = [tuple(map(float, x[2:])) for x in moving if x[1] == state]
        md.append(f"| {label} | {spread([x[0] for x in r], us)} | {spread([x[1] for x in r], us)} "
                  f"| {us(statistics.median([x[2] for x in r]))} |")
    p99 = max(float(x[3]) for x in moving if x[1] == "moving")
    return md + ["", "- " + verdict(p99 <= GOAL_P99_US,
                                    f"root's Status p99 while the daemon lends is {us(p99)} in the "
                                    f"worst run (goal ≤ {GOAL_P99_US / 1000:.0f} ms)",
                                    "a call waited on the moves"), ""]


def lend8_section(lend8, load):
    """Root's Status in the guest while gigapoold lends 8 chunks, against it idle."""
    runs = len(lend8)
    idle = [x[1:5] for x in lend8]
    lending = [x[5:9] for x in lend8]
    lend_s = [x[9] / 1000 for x in lend8]
    window = [x[11] / 1000 for x in lend8]
    md = ["### Status while the guest lends 8 chunks", "",
          "In the same guest as above, after its low-watermark runs: gigapoold afresh with "
          "`bench/daemon/lend8.json` (one free chunk a node, up to 8 moves a cycle, no cooldown, "
          "no timer cycle) on the real pool; `bench/daemon/lend8.sh` runs root's "
          f"`gigapool-bench` in the guest, one client, Status calls for {window[0]:.0f} s "
          "against the idle daemon, then two Reserves of 4 GiB (confidential), one on each node, "
          "which make the daemon lend 4 chunks on each, 8 in all (each a 1 GiB CMA allocation "
          "or free hugetlb page that the kernel clears), and the same bench, started once the first of them is lent. "
          "Every run checks the pool's `lends` counters of both nodes: 8 more after the "
          "Reserves, the first already done when the bench starts, and the bench over before "
          "the daemon answers the Reserves (which it does once their lends are done); a run "
          "where not fails. The reservations are released, their chunks reclaimed, between "
          f"runs. {runs} runs; median and range. Load average {load['guest start']} before the "
          f"guest, {load['guest end']} after. TCG emulates every instruction: the guest's "
          "Status is slower than the host's above, both rows alike.", "",
          "| root's Status in the guest, 1 client | calls a run (median) | p50 median (range) "
          "| p99 median (range) | max median (range) |",
          "| --- | --- | --- | --- | --- |"]
    for rows_, label in ((idle, "idle daemon"), (lending, "while it lends 8 chunks")):
        md.append(f"| {label} | {statistics.median([x[3] for x in rows_]):,.0f} "
                  f"| {spread([x[0] for x in rows_], us)} | {spread([x[1] for x in rows_], us)} "
                  f"| {spread([x[2] for x in rows_], us)} |")
    p99 = max(x[1] for x in lending)
    md += ["", f"The 8 lends took {spread(lend_s, lambda v: f'{v:.1f} s')} from the Reserves to "
           "their answers; "
           f"{spread([x[10] for x in lend8], lambda v: f'{v:.0f}')} of them (median, range) were "
           "done within the bench's window. Single calls are slower than the p99: the max was "
           f"{spread([x[2] for x in lending], us)} while lending and "
           f"{spread([x[2] for x in idle], us)} idle (TCG's vCPU threads share the host's cores "
           "with QEMU and other jobs, so single calls are slow in the idle guest too).", "",
           "- " + verdict(p99 <= GOAL_P99_US,
                          f"on the patched kernel, root's Status p99 while the daemon lends 8 real "
                          f"chunks is {us(p99)} in the worst run (goal ≤ {GOAL_P99_US / 1000:.0f} ms)",
                          "a call waited on the lends"), ""]
    return md


def main():
    res, fragment, png = sys.argv[1:4]
    m = meta(os.path.join(res, "meta"))
    load = {" ".join(r[:-3]): " ".join(r[-3:]) for r in rows(os.path.join(res, "load"))}
    lat = [(int(r[0]), int(r[1]), *map(float, r[2:])) for r in rows(os.path.join(res, "latency.txt"))]
    idle = [tuple(map(int, r)) for r in rows(os.path.join(res, "idle.txt"))]
    lend = rows(os.path.join(res, "lend.txt"))
    guest = open(os.path.join(res, "guest")).read().split()
    with open(os.path.join(res, "commands")) as f:
        commands = list(dict.fromkeys(line.rstrip("\n") for line in f))
    runs = len(lat) // len(CLIENTS)
    calls = int(m["calls"])
    lend_runs = len({r[2] for r in lend})

    plot_latency(lat, png, runs)

    md = ["## Daemon", "",
          f"Measured by `bench/daemon.sh` on {m['date']} at commit {m['commit']}, in "
          f"{m['wall']} s: host {m['cpu']}, {m['cores']} cores, {m['memory']}, kernel {m['kernel']}, "
          f"{m['qemu']}. Other engineers' jobs (kernel builds, QEMU guests) may share the "
          "machine; the load average (1, 5, 15 min) is given for each part.", "",
          "### Status latency", "",
          "`gigapool-bench`: N clients connect at once and each sends its share of "
          f"{calls:,} `io.gigapool.Pool.Status` calls one after another on its own connection; "
          "the latencies of all calls of a run are sorted. "
          f"{runs} runs per client count, interleaved (1, 10, 100, 1, 10, 100, …); the table gives "
          "the median over the runs and their range. gigapoold runs on the build host with the "
          "shipped `config/policy.json` (host kernel without the pool: hugetlb-only mode, one NUMA "
          "node) and answers every client on one thread, so with N clients each keeping one call "
          "outstanding a call waits for the others' to be answered: N / throughput (last column) "
          "is what that alone predicts for p50. Load average "
          f"{load['latency start']} before, {load['latency end']} after.", ""]
    md += latency_table(lat, calls)
    md += ["", "![Status latency: p50 and p99 against concurrent clients](bench/daemon-latency.png)", ""]

    hostile = [tuple(map(float, r)) for r in rows(os.path.join(res, "hostile.txt"))]
    hmeta = meta(os.path.join(res, "hostile-meta"))
    md += ["### Status under hostile clients", "",
           "`bench/daemon/hostile.sh`: gigapoold with the shipped policy; two unprivileged uids "
           "hold 128 connections each (every slot they may take) with `daemon/build/hostile` "
           "(`tests/daemon/hostile.c`): half pipeline Status calls and never read a reply, a "
           "quarter hold a 64 KiB message short of its end, a quarter trickle a byte every "
           f"100 ms. Meanwhile root runs `gigapool-bench` with one client, {len(hostile)} runs of "
           f"2,000 calls. The daemon's peak RSS (VmHWM) over the whole run: "
           f"{int(hmeta['hwm']) / 1024:.1f} MiB. Load average {load['hostile start']} before, "
           f"{load['hostile end']} after.", "",
           "| root's Status | p50 median (range) | p99 median (range) | max median |",
           "| --- | --- | --- | --- |",
           f"| 1 client, 256 hostile connections | {spread([x[1] for x in hostile], us)} "
           f"| {spread([x[2] for x in hostile], us)} "
           f"| {us(statistics.median([x[3] for x in hostile]))} |", "",
           "The same client against the same daemon with no other client: the \"idle daemon\" "
           "row of the next table (10,000 calls a run there).", "",
           "- " + verdict(int(hmeta["hwm"]) / 1024 < GOAL_HWM_MIB
                          and max(x[2] for x in hostile) < GOAL_P99_US,
                          "256 hostile unprivileged connections leave the daemon at "
                          f"{int(hmeta['hwm']) / 1024:.1f} MiB peak RSS (goal < {GOAL_HWM_MIB} MiB) "
                          f"and root's Status p99 at {us(max(x[2] for x in hostile))} in the worst "
                          f"run (goal < {GOAL_P99_US / 1000:.0f} ms)",
                          "a hostile client got the daemon's memory or time"), ""]

    moving = rows(os.path.join(res, "moving.txt"))
    mmeta = meta(os.path.join(res, "moving-meta"))
    md += moving_section(moving, mmeta, load)

    per_min = [(r[1] + r[2]) * 60000 / r[3] for r in idle]
    md += ["### Wake-ups per idle minute", "",
           f"{len(idle)} gigapoold processes with the shipped `config/policy.json` "
           "(`interval_sec` 60), no client, no pool events; counted from 1 s after start, over "
           f"{idle[0][3] / 1000:.1f} s: voluntary + involuntary context switches of all the "
           "daemon's threads in `/proc/PID/task/*/status`. A voluntary switch is the daemon going "
           "to sleep, so each one is followed by one wake-up. The daemons ran while the guest "
           "below ran on the same CPUs; their wake-ups come from their own timers.", "",
           "| daemon | voluntary | involuntary | wake-ups per minute |", "| --- | --- | --- | --- |"]
    md += [f"| {r[0]} | {r[1]} | {r[2]} | {p:.1f} |" for r, p in zip(idle, per_min)]
    md += ["", f"Median {statistics.median(per_min):.1f} wake-ups per idle minute.", ""]

    md += ["### Low watermark to lend", "",
           f"The patched kernel ({guest[2].split('=')[1]}) in QEMU (TCG, 2 vCPUs, 20 GiB, "
           "`hugetlb_cma=12G numa=fake=2`: 6 GiB of CMA per node), gigapoold with "
           "`bench/daemon/policy.json`: a headroom band of exactly one free chunk, no cooldown, "
           "no timer cycle during the run, so only the pool's event makes it lend. "
           "`bench/daemon/lowwater.c` faults `memfd_secret` pages on node 0 until the next "
           "page takes the pool below its low watermark (one chunk of pages), reads "
           "CLOCK_MONOTONIC (TSC) just before faulting that page and again when node 0's "
           "`lends` counter has risen: the daemon woke from poll(), took a snapshot, planned and "
           "lent one chunk. For comparison, the same lend without the daemon: a timed write of "
           "`nr_chunks` in sysfs. Each with a free 1 GiB hugetlb page to lend, and without one "
           "(the chunk comes straight from the CMA area). "
           f"{lend_runs} runs, the four cases interleaved in each; median and range. Load average "
           f"{load['guest start']} before, {load['guest end']} after. TCG emulates every "
           "instruction: absolute times are inflated many times over; compare the rows and "
           "columns with each other.", "",
           "| lend from | low watermark → lend done, by gigapoold | lend by a sysfs write | daemon's share (difference of medians) |",
           "| --- | --- | --- | --- |"]
    for source, label in (("hugetlb", "a free 1 GiB hugetlb page"), ("cma", "CMA (no free hugetlb page)")):
        d = [float(r[3]) for r in lend if r[0] == source and r[1] == "daemon"]
        s = [float(r[3]) for r in lend if r[0] == source and r[1] == "sysfs"]
        md.append(f"| {label} | {spread(d, ms)} | {spread(s, ms)} "
                  f"| {ms(statistics.median(d) - statistics.median(s))} |")
    md += [""]
    md += lend8_section([tuple(map(float, r)) for r in rows(os.path.join(res, "lend8.txt"))], load)
    md += ["### Commands", "", "From the top of the tree, as `bench/daemon.sh` ran them:", "", "```"]
    md += commands
    md += ["```", ""]
    with open(fragment, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
