#!/usr/bin/python3
"""Turn the runs of bench/sim.sh into build/bench/sim.md and docs/bench/sim-*.png.

Each run left RUNS/<label>.out: a "command:" line, then the simulator's
output ("workload source:", "workload:", one "result key=value ..." line);
placement runs also left RUNS/<label>.csv (hours, stranded, live owners,
used chunks, chunks after every create, destroy and fault step).  Labels
say what a run is: place.*, nosecrets.*, policy.<name>[.reserve], react.<MiB>,
split.<ordinary GiB>, compact[.pinned<share>].
"""
import argparse
import glob
import json
import os
import platform
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PLACEMENTS = ["first-fit", "fullest-first", "owner-affine"]
COLOURS = {"first-fit": "#d62728", "fullest-first": "#ff7f0e", "owner-affine": "#2ca02c"}
POLICY_NAMES = {
    "shipped": "config/policy.json (shipped)",
    "host-1.5t": "bench/sim/policies/host-1.5t.json",
    "wide-band": "bench/sim/policies/wide-band.json",
}


def read_runs(runs_dir):
    runs = {}
    for path in sorted(glob.glob(os.path.join(runs_dir, "*.out"))):
        run = {"csv": path[:-4] + ".csv"}
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("command: "):
                    run["command"] = line[len("command: "):]
                elif line.startswith("workload source: "):
                    run["source"] = line[len("workload source: "):]
                elif line.startswith("workload: "):
                    run["workload"] = line[len("workload: "):]
                elif line.startswith("result "):
                    run.update(kv.split("=", 1) for kv in line.split()[1:])
        if "label" not in run:
            raise SystemExit(f"report.py: {path} has no result line")
        runs[run["label"]] = run
    return runs


def pct(part, whole):
    return 100.0 * int(part) / int(whole) if int(whole) else 0.0


def weekly(csv_path, column):
    """Time-weighted mean of a column per simulated week, at the week's middle day."""
    data = np.loadtxt(csv_path, delimiter=",", ndmin=2)
    t, y = data[:, 0], data[:, column]
    dt = np.diff(t)
    week = np.floor(t[:-1] / (7 * 24)).astype(int)
    weight = np.bincount(week, weights=dt)
    total = np.bincount(week, weights=y[:-1] * dt)
    keep = weight > 0
    return np.nonzero(keep)[0] * 7 + 3.5, total[keep] / weight[keep]


def plot_stranded(runs, path):
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    owners_days, owners = weekly(runs["place.owner-affine"]["csv"], 2)
    ax.plot(owners_days, owners, color="0.6", linestyle="--", linewidth=1,
            label="live owners (bound: one stranded chunk per owner)")
    for p in PLACEMENTS:
        r = runs[f"place.{p}"]
        days, mean = weekly(r["csv"], 1)
        ax.plot(days, mean, color=COLOURS[p], linewidth=1.8,
                label=f"{p}: mean {float(r['stranded_mean']):.1f}, peak {r['stranded_peak']}")
    r = runs["place.owner-affine"]
    ax.set_title(f"Stranded pool chunks on a {r['host_gib']} GiB host, "
                 f"{int(r['vm_events']):,} VM creates and destroys (weekly means)")
    ax.set_xlabel("simulated days")
    ax.set_ylabel("stranded chunks (1 GiB each)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def policy_runs(runs):
    for name in POLICY_NAMES:
        for reserve in (False, True):
            label = f"policy.{name}" + (".reserve" if reserve else "")
            if label in runs:
                yield name, reserve, runs[label]


def plot_planner(runs, path):
    rows = list(policy_runs(runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, sharey=True)
    names = [f"{n}\n{'reserve before start' if res else 'no reservation'}" for n, res, _ in rows]
    y = np.arange(len(rows))
    for ax, kind, title in ((axes[0], "ordinary", "ordinary VMs without their 1 GiB pages"),
                            (axes[1], "confidential", "confidential VMs without pool memory")):
        values = [pct(r[f"{kind}_failed"], r[kind]) for _, _, r in rows]
        colours = ["#1f77b4" if not res else "#9467bd" for _, res, _ in rows]
        ax.barh(y, [max(v, 1e-3) for v in values], color=colours)
        for yi, v in zip(y, values):
            ax.text(max(v, 1e-3) * 1.15, yi, f"{v:.2f} %", va="center", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(1e-3, 300)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("% of those VMs (log scale; 0 drawn at the left edge)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("gigapoold's planner moving chunks: VMs that could not get memory, per policy",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def best_split(runs):
    """The static split with the fewest VMs failed, chosen in hindsight, and all of them."""
    splits = sorted((int(label.split(".", 1)[1]), r) for label, r in runs.items()
                    if label.startswith("split."))
    if not splits:
        return (None, None), []
    best = min(splits, key=lambda nr: (int(nr[1]["ordinary_failed"]) +
                                       int(nr[1]["confidential_failed"]), nr[0]))
    return best, splits


def compaction_rows(runs):
    """(strategy, run) in the order of the table and the plot."""
    rows = []
    (n, best), _ = best_split(runs)
    if best:
        rows.append((f"static split, best in hindsight: {n} x 1 GiB for ordinary VMs", best))
    if "policy.host-1.5t" in runs:
        rows.append(("daemon, no reservation: ordinary VMs take what is free",
                     runs["policy.host-1.5t"]))
    if "policy.host-1.5t.reserve" in runs:
        rows.append(("daemon, VMs reserve before start, no compaction",
                     runs["policy.host-1.5t.reserve"]))
    if "compact" in runs:
        rows.append(("daemon, VMs reserve before start, compaction", runs["compact"]))
    for label in sorted(label for label in runs if label.startswith("compact.pinned")):
        share = float(label[len("compact.pinned"):])
        rows.append((f"the same, {share:.0%} of confidential VMs pinned (SEV-SNP)", runs[label]))
    return rows


def mib_per_gib(r):
    returned = int(r.get("compact_returned", 0))
    return int(r.get("compact_pages_moved", 0)) / 256 / returned if returned else 0.0


def compaction_table(runs):
    out = ["| strategy | ordinary VMs failed | of them while free hugetlb + pool pages covered "
           "them | confidential VMs failed | stranded chunks (mean) | GiB given back by "
           "compaction | pages moved | pages moved per hour | MiB moved per GiB given back |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in compaction_rows(runs):
        moved = int(r.get("compact_pages_moved", 0))
        covered = r.get("ordinary_failed_covered", "–")
        out.append(f"| {name} | {r['ordinary_failed']} of {int(r['ordinary']):,} "
                   f"({pct(r['ordinary_failed'], r['ordinary']):.2f} %) | {covered} "
                   f"| {r['confidential_failed']} of {int(r['confidential']):,} "
                   f"| {float(r['stranded_mean']):.1f} "
                   f"| {int(r.get('compact_returned', 0)):,} | {moved:,} "
                   f"| {moved / float(r['sim_hours']):,.0f} | {mib_per_gib(r):,.0f} |")
    return out


def split_table(runs):
    (n_best, _), splits = best_split(runs)
    out = ["| 1 GiB pages for ordinary VMs | ordinary VMs failed | confidential VMs failed "
           "| VMs failed |", "| ---: | ---: | ---: | ---: |"]
    for n, r in splits:
        total = int(r["ordinary_failed"]) + int(r["confidential_failed"])
        mark = "**" if n == n_best else ""
        out.append(f"| {mark}{n}{mark} | {r['ordinary_failed']} | {r['confidential_failed']} "
                   f"| {mark}{total}{mark} |")
    return out


def plot_compaction(runs, path):
    rows = compaction_rows(runs)
    fig, ax = plt.subplots(figsize=(11, 4.4), dpi=110)
    y = np.arange(len(rows))
    ordinary = [int(r["ordinary_failed"]) for _, r in rows]
    confidential = [int(r["confidential_failed"]) for _, r in rows]
    ax.barh(y - 0.2, ordinary, height=0.4, color="#1f77b4", label="ordinary VMs failed")
    ax.barh(y + 0.2, confidential, height=0.4, color="#9467bd", label="confidential VMs failed")
    for yi, o, c in zip(y, ordinary, confidential):
        ax.text(o + 2, yi - 0.2, str(o), va="center", fontsize=8)
        ax.text(c + 2, yi + 0.2, str(c), va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([name for name, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("VMs that could not get memory")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    r = rows[-1][1]
    ax.set_title(f"Giving 1 GiB pages back to ordinary VMs: {r['host_gib']} GiB host, "
                 f"{int(r['vm_events']):,} VM creates and destroys", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def compaction_reading(runs):
    (n_best, best), _ = best_split(runs)
    none, comp = runs.get("policy.host-1.5t.reserve"), runs.get("compact")
    if not (best and none and comp):
        return []
    hours = float(comp["sim_hours"])
    text = (f"Reading: the best static split ({n_best} x 1 GiB pages for ordinary VMs, chosen "
            f"after the fact) still failed {best['ordinary_failed']} ordinary and "
            f"{best['confidential_failed']} confidential VMs: a fixed line is wrong whenever the "
            f"mix moves. With the daemon moving chunks and each VM reserving before it starts "
            f"(an ordinary VM's reservation holds its 1 GiB pages), {none['ordinary_failed']} "
            f"ordinary VMs failed without compaction, "
            f"{none['ordinary_failed_covered']} of them while free hugetlb and pool pages covered "
            f"their request: the pool's free pages sat in chunks that other pages kept in use. "
            f"With compaction (at most {int(comp['compact_pages']):,} pages moved per cycle, "
            f"the policy's `max_compact_pages_per_cycle`) "
            f"{comp['ordinary_failed']} failed, {comp['ordinary_failed_covered']} of them while "
            f"the host had the memory, and {comp['confidential_failed']} confidential VMs failed. "
            f"The cost: {int(comp['compactions']):,} compactions moved "
            f"{int(comp['compact_pages_moved']):,} pages "
            f"({int(comp['compact_pages_moved']) / 262144:,.0f} GiB) in {hours:,.0f} simulated "
            f"hours, {int(comp['compact_pages_moved']) / hours:,.0f} pages "
            f"({int(comp['compact_pages_moved']) / hours / 256:,.1f} MiB) per hour, and gave back "
            f"{int(comp['compact_returned']):,} chunks: {mib_per_gib(comp):,.0f} MiB moved per GiB "
            f"given back.")
    out = [text]
    pinned = [(label, r) for label, r in sorted(runs.items())
              if label.startswith("compact.pinned")]
    if pinned:
        out += ["", "Pages of SEV-SNP guests are bound to their physical address and never move, "
                    "and a chunk holding one is no compaction source. With " +
                "; with ".join(f"{float(label[len('compact.pinned'):]):.0%} of confidential VMs "
                          f"pinned, {r['ordinary_failed']} ordinary VMs failed "
                          f"({r['ordinary_failed_covered']} while covered), and "
                          f"{int(r['compactions']):,} compactions gave back "
                          f"{int(r['compact_returned']):,} chunks, moving "
                          f"{mib_per_gib(r):,.0f} MiB per GiB"
                          for label, r in pinned) +
                "; compaction helps only as far as the pool's chunks hold movable pages."]
    return out + [""]


def tool_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def placement_table(runs, prefix):
    out = ["| placement | VM events | stranded: final | peak | mean (time-weighted) "
           "| max stranded per live owner | moments above 1 per owner | ordinary VMs failed "
           "| wall time |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in PLACEMENTS:
        r = runs[f"{prefix}.{p}"]
        out.append(f"| {p} | {int(r['vm_events']):,} | {r['stranded_final']} | {r['stranded_peak']} "
                   f"| {float(r['stranded_mean']):.1f} | {float(r['max_stranded_per_owner']):.1f} "
                   f"| {pct(r['over_bound_samples'], r['samples']):.1f} % "
                   f"| {r['ordinary_failed']} of {int(r['ordinary']):,} | {float(r['wall_s']):.1f} s |")
    return out


def policy_table(runs):
    out = ["| policy | reservation | ordinary VMs failed | of them with empty chunks in the pool "
           "| confidential VMs failed | of them with no free 1 GiB page | lends | reclaims "
           "| daemon cycles | of them a reclaim finding too few empty chunks | wall time |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, reserve, r in policy_runs(runs):
        out.append(f"| {POLICY_NAMES[name]} | {'reserve before start' if reserve else 'none'} "
                   f"| {r['ordinary_failed']} of {int(r['ordinary']):,} "
                   f"({pct(r['ordinary_failed'], r['ordinary']):.2f} %) "
                   f"| {r['ordinary_failed_pool_idle']} "
                   f"| {r['confidential_failed']} of {int(r['confidential']):,} "
                   f"({pct(r['confidential_failed'], r['confidential']):.2f} %) "
                   f"| {r['confidential_failed_host_full']} | {int(r['lends']):,} "
                   f"| {int(r['reclaims']):,} | {int(r['cycles']):,} "
                   f"| {int(r['reclaim_short_cycles']):,} "
                   f"| {float(r['wall_s']):.1f} s |")
    return out


def react_table(runs):
    rows = sorted((int(r["react_mib"]), r) for label, r in runs.items()
                  if label.startswith("react.") or label == "policy.host-1.5t")
    out = ["| daemon answers a pool event after the VMs fault | confidential VMs failed "
           "| ordinary VMs failed |", "| ---: | ---: | ---: |"]
    for mib, r in rows:
        out.append(f"| {mib} MiB | {r['confidential_failed']} "
                   f"({pct(r['confidential_failed'], r['confidential']):.2f} %) "
                   f"| {r['ordinary_failed']} |")
    return out


def placement_reading(runs):
    mean = {p: float(runs[f"place.{p}"]["stranded_mean"]) for p in PLACEMENTS}
    alone = {p: float(runs[f"nosecrets.{p}"]["stranded_mean"]) for p in PLACEMENTS}
    order = sorted(PLACEMENTS, key=mean.get)
    oa = runs["place.owner-affine"]
    text = (f"Reading: by time-weighted mean, {order[0]} strands the fewest chunks "
            f"({mean[order[0]]:.1f}), then {order[1]} ({mean[order[1]]:.1f}), then {order[2]} "
            f"({mean[order[2]]:.1f}). ")
    if int(oa["over_bound_samples"]):
        text += (f"The goal \"owner-affine placement strands at most one chunk per live owner\" is "
                 f"**not met**: owner-affine exceeded it at "
                 f"{pct(oa['over_bound_samples'], oa['samples']):.1f} % of the moments measured, "
                 f"worst {float(oa['max_stranded_per_owner']):.1f} chunks per live owner. ")
    else:
        text += "Owner-affine never stranded more than one chunk per live owner. "
    text += (f"The small owners add {mean['owner-affine'] - alone['owner-affine']:.1f} chunks to "
             f"owner-affine's mean, {mean['first-fit'] - alone['first-fit']:.1f} to first-fit's and "
             f"{mean['fullest-first'] - alone['fullest-first']:.1f} to fullest-first's: "
             f"owner-affine places an owner's first 16 MiB in blocks that small owners share, kept "
             f"together in one chunk, and first-fit packs all small owners' pages into the lowest "
             f"chunks, while fullest-first scatters them into the holes of the fullest chunks. "
             f"Without them the means lie between {min(alone.values()):.1f} and "
             f"{max(alone.values()):.1f}, and every placement exceeds one stranded chunk per live "
             f"owner at times: filling the holes that departing VMs leave spreads a large VM over "
             f"many chunks, which stay in use when its neighbours go; owner-affine sends an owner "
             f"that outgrew its chunk to the emptiest chunk to limit that. On a full host a stranded "
             f"chunk is a 1 GiB page that no ordinary VM can get; ordinary VM failures go with "
             f"the stranding: " +
             ", ".join(f"{p} {runs[f'place.{p}']['ordinary_failed']} "
                       f"({runs[f'nosecrets.{p}']['ordinary_failed']} without small owners)"
                       for p in order) + ".")
    return [text]


def policy_value(name, *keys):
    path = "config/policy.json" if name == "shipped" else f"bench/sim/policies/{name}.json"
    with open(path) as f:
        value = json.load(f)
    for key in keys:
        value = value[key]
    return value


def share_chunks(share, pages):
    """A policy size as the daemon resolves it on a node of pages 1 GiB pages."""
    if isinstance(share, int):
        return share
    thousandths = round(float(share.rstrip("%")) * 1000)
    return (pages * thousandths + 99999) // 100000


def planner_reading(runs):
    first = []
    shipped = runs.get("policy.shipped")
    every = list(policy_runs(runs))
    failed = sum(int(r["confidential_failed"]) for _, _, r in every)
    host_full = sum(int(r["confidential_failed_host_full"]) for _, _, r in every)
    if shipped:
        pages = 1536
        size = {key: policy_value("shipped", "defaults", key)
                for key in ("max_pool_chunks", "headroom_low", "headroom_high",
                            "keep_free_hugetlb")}
        first.append(f"Reading: the shipped policy gives every size of a node as a share of "
                     f"it, so that one file fits a test guest and this host: `max_pool_chunks` "
                     f"{size['max_pool_chunks']} (no cap), `headroom_low` "
                     f"{size['headroom_low']} and `headroom_high` {size['headroom_high']} "
                     f"({share_chunks(size['headroom_low'], pages)} and "
                     f"{share_chunks(size['headroom_high'], pages)} chunks of this host's "
                     f"{pages} pages), `keep_free_hugetlb` {size['keep_free_hugetlb']} "
                     f"({share_chunks(size['keep_free_hugetlb'], pages)} pages). Until commit "
                     f"d988998 it capped the pool at 64 chunks, and 6421 of the 15,054 "
                     f"confidential VMs (43 %) failed here.")
    if every and failed == 0:
        first.append(f"Under every policy ({', '.join(n for n in POLICY_NAMES)}) no "
                     f"confidential VM failed, with or without reservations.")
    elif every:
        first.append(f"Under these policies {failed} confidential VMs failed in all, {host_full} "
                     f"of them with no free 1 GiB page on the host; the others failed while the "
                     f"daemon could have lent one.")
    slow = runs.get("react.1024")
    if slow:
        first.append(f"That needs a daemon that answers before the VMs fault the headroom: "
                     f"with host-1.5t (`headroom_low`: "
                     f"{policy_value('host-1.5t', 'defaults', 'headroom_low')} x 1 GiB), "
                     f"answering only after 1024 MiB failed {slow['confidential_failed']} "
                     f"({pct(slow['confidential_failed'], slow['confidential']):.0f} %) of them.")
    out = [" ".join(first)] if first else []
    history = ["Two daemon behaviours, found by this simulator and fixed in 0a0bba9, made "
               "confidential VMs fail with 1 GiB pages free on the host: `cooldown_sec` held "
               "back the headroom lend right after a reclaim, and a cycle that the move budget "
               "(`max_moves`, `max_moves_per_cycle`) cut short was followed only at the next "
               "pool event or the safety timer, so a large reservation left the pool short and "
               "reserving before start failed more VMs than not reserving. Now no lend waits "
               "for the cooldown, and such a cycle is followed 100 ms later, at most 256 times "
               "in a row."]
    follow = [f"{name}{' with reservations' if reserve else ''} {int(r['more_cycles']):,}"
              for name, reserve, r in every if "more_cycles" in r]
    capped = sum(int(r.get("more_capped", 0)) for _, _, r in every)
    if follow:
        history.append(f"Cycles run for moves the budget had left: {', '.join(follow)}; "
                       f"{'none' if not capped else capped} of those chains reached the limit "
                       f"of 256.")
    out += ["", " ".join(history)]
    pairs = [(name, runs.get(f"policy.{name}"), runs.get(f"policy.{name}.reserve"))
             for name in POLICY_NAMES]
    pairs = [(n, a, b) for n, a, b in pairs if a and b]
    if pairs:
        out += ["", "Reserving before start costs chunk moves: the daemon lent " +
                ", ".join(f"{int(b['lends']):,} chunks instead of {int(a['lends']):,} ({n})"
                          for n, a, b in pairs) +
                ". A reservation holds the VM's whole size in free pool pages until the release, "
                "and the pages the VM faults meanwhile are used, no longer free, so the daemon "
                "lends again to keep the reservation whole. What is free above the band at the "
                "release (here up to three quarters of the VM, which faults a quarter at start) is "
                "reclaimed after `cooldown_sec` and lent again when the VM faults the rest."]
    placed = runs.get("place.owner-affine")
    if placed and every:
        lo = min(int(r["ordinary_failed"]) for _, _, r in every)
        hi = max(int(r["ordinary_failed"]) for _, _, r in every)
        idle = max(int(r["ordinary_failed_pool_idle"]) for _, _, r in every)
        out += ["", f"Ordinary VMs failed {lo} to {hi} times in these runs, about as often as "
                    f"owner-affine placement without the daemon ({placed['ordinary_failed']}), "
                    f"and at most {idle} times while empty pool chunks would have covered them: "
                    f"the 1 GiB pages they lack are in chunks that pool pages keep in use, "
                    f"stranded ones included, not in the daemon's headroom. Reserving their "
                    f"pages first (`--kind ordinary`, whose cycles reclaim empty chunks for them "
                    f"at once; the VM starts once the cycles its reservation needs have run) "
                    f"left {max(int(b['ordinary_failed_pool_idle']) for _, _, b in pairs)} of "
                    f"them failing while empty chunks would have covered them, but without "
                    f"compaction (below) cannot give them pages in chunks in use: ordinary VMs "
                    f"failed " +
                    ", ".join(f"{int(b['ordinary_failed'])} with reservations against "
                              f"{int(a['ordinary_failed'])} without ({n})" for n, a, b in pairs) +
                    "."]
    plain = runs.get("policy.host-1.5t")
    if plain:
        out += ["", f"Reclaims ask for empty chunks only: the kernel reports how many chunks "
                    f"have no page in use (`empty_chunks`) and the planner asks to reclaim no "
                    f"more, so free pages spread over chunks in use, stranded ones included, are "
                    f"not asked for. A reclaim that finds too few empty chunks falls short and is "
                    f"retried with backoff; with host-1.5t that happened in "
                    f"{int(plain['reclaim_short_cycles']):,} of {int(plain['cycles']):,} cycles. "
                    f"The daemon ran "
                    f"{int(plain['cycles']) / (float(plain['sim_days']) * 1440):.1f} cycles per "
                    f"simulated minute, where its timer alone (`interval_sec`: "
                    f"{policy_value('host-1.5t', 'interval_sec')} s) would run "
                    f"{60 / policy_value('host-1.5t', 'interval_sec'):.0f}."]
    return out + [""]


def fragment(runs, plots_rel, commands):
    oa = runs["place.owner-affine"]
    # Named by bench/sim.sh before this report rewrites the plots.
    commit = os.environ["BENCH_COMMIT"]
    lines = [
        "## Placement simulation",
        "",
        f"Generated by `bench/sim.sh` (commit {commit}, "
        f"{tool_version(['gcc', '--version'])}, {cpu_model()}).",
        "",
        f"`build/bench/sim/gigapool-sim` compiles the kernel's placement code "
        f"(`kernel/tree/mm/unmapped_pool_place.c`, unchanged, against shim headers in "
        f"`bench/sim/include/`) and the daemon's planner, cycle decisions and policy parser "
        f"(`daemon/planner.c`, `daemon/cycle.c`, `daemon/policy.c`), and replays VM creates and destroys on a model of one host with "
        f"{oa['host_gib']} x 1 GiB hugetlb pages (1.5 TiB, one NUMA node). A VM is ordinary "
        f"(whole 1 GiB hugetlb pages) or, with probability {oa['confidential_share']}, confidential "
        f"(pool memory, one owner); each VM start also brings, with probability "
        f"{oa['secrets_per_vm']}, a small memfd_secret-like owner (16 KiB to 16 MiB of 4 KiB pages). "
        f"A scheduler admits a VM when the GiB of the VMs it admitted fit the host "
        f"(offered load {oa['load']}). Stream: {oa['workload']}.",
        "",
        f"VM memory sizes and lifetimes: {oa['source']}. The buckets and the CDF are a transcribed "
        f"summary, not the raw trace; sizes inside a bucket and lifetimes beyond 100 h are "
        f"assumptions (see `bench/sim/workload.c`). Confidential VMs fault their memory in 2 MiB "
        f"blocks (order 9, the pool's unit of affinity; guest_memfd in 6.12 takes 4 KiB folios, "
        f"which at this scale would be 512 times the work), a quarter at start and a quarter each "
        f"5 min, 30 min and 2 h later (an assumption, so that owners fault interleaved); small "
        f"owners take 4 KiB pages the same way.",
        "",
        "### Stranded chunks by placement",
        "",
        "Stranded = chunks with a page in use minus ceil(pages in use / pages per chunk). In these "
        "runs the pool takes a free 1 GiB page whenever a request finds no room and gives every "
        "empty chunk back at once, so the pool is exactly as big as placement makes it.",
        "",
        "- **first-fit**: the 2023 RFC's buddy-like placement, lowest-address free range, no owners "
        "(implemented in `bench/sim/host.c` over the same chunk bookkeeping);",
        "- **fullest-first**: the kernel's `unmapped_pool_place()` with every request made without "
        "an owner, as `unmapped_pool_alloc_pages()` serves a request with a NULL owner: the shared "
        "block last used, then a shared or free block of its chunk, then of the fullest chunk, no "
        "affinity;",
        "- **owner-affine**: the kernel's code as it is, each VM and small owner its own "
        "`struct unmapped_pool_owner`: an owner's first 16 MiB go to blocks shared by small owners, "
        "kept in one chunk whose last 64 free blocks other owners leave to them; beyond that a new "
        "owner starts in the fullest chunk, an owner that filled a block of its own and finds no "
        "free block left in its chunk goes on in the emptiest one.",
        "",
        f"![stranded chunks over time per placement]({plots_rel}/sim-stranded.png)",
        "",
        *placement_table(runs, "place"),
        "",
        "Without the small memfd_secret-like owners (`--secrets 0`), VMs only:",
        "",
        *placement_table(runs, "nosecrets"),
        "",
        *placement_reading(runs),
        "",
        "### gigapoold's planner moving chunks",
        "",
        "Owner-affine placement, and instead of growing on demand the pool is moved by the "
        "daemon's own `planner_plan()` under each policy, cycling as gigapoold does: on every "
        "pool event (low watermark, failed allocation), on the safety timer, on retries with "
        "backoff after a shortfall, 100 ms after a cycle that the move budget cut short, and on "
        "Reserve/Release. A lend from CMA alone finds no room "
        "(the host's whole CMA area is hugetlb pages). A confidential VM fails when one of its "
        "blocks finds no room (guest_memfd has no fallback); an ordinary VM fails when too few "
        "1 GiB pages are free at its start. \"Reserve before start\" is the flow of "
        "`docs/daemon.md` for both kinds of VM: reserve the VM's size (a confidential VM's in "
        "free pool chunks, an ordinary VM's in free 1 GiB pages with `--kind ordinary`), start "
        "it, release once it runs. These runs model a kernel without compaction "
        "(`--no-feat-compact`: it does not announce `UNMAPPED_POOL_FEAT_COMPACT`, so the "
        "daemon never compacts, as gigapoold decides in `cycle_can_compact()`); the next "
        "section compacts. The daemon is "
        "taken to answer an event after the VMs fault 256 MiB more (the table after shows how "
        "much that choice matters); while a VM faults, the cycle after one cut short comes the "
        "same way, since the model's clock stands still within an event.",
        "",
        f"![VM failures per daemon policy]({plots_rel}/sim-planner.png)",
        "",
        *policy_table(runs),
        "",
        "With bench/sim/policies/host-1.5t.json and no reservation, by how far the VMs fault "
        "before the daemon answers an event:",
        "",
        *react_table(runs),
        "",
    ]
    lines += planner_reading(runs)
    if "compact" in runs:
        lines += [
            "### Compaction: 1 GiB pages back for ordinary VMs",
            "",
            "The kernel moves pool pages (docs/kernel.md, Compaction); this models its decisions "
            "with the same code, a migration costing its pages. Every VM "
            "reserves before start as above: an ordinary VM's reservation (`--kind ordinary`) "
            "holds its 1 GiB pages, its cycles reclaim empty chunks for them, and the VM takes "
            "its pages once the cycles the reservation needs have run. With compaction, when "
            "those pages must come from the pool and too few chunks are empty but the pool's "
            "free pages would make them, the daemon's "
            "`planner_compact()` (`daemon/planner.c`) asks to empty that many chunks more; the "
            "kernel's `unmapped_pool_compact_plan()` (`kernel/tree/mm/unmapped_pool_compact.c`, "
            "compiled unchanged) chooses the emptiest movable chunks and a destination block for "
            "each of their blocks, the model moves the pages (a migration costs its pages) and "
            "the daemon reclaims the chunks emptied. A static split lends the pool all but N "
            "1 GiB pages at start and never moves a chunk; N is chosen in hindsight as the one "
            "with the fewest VMs failed. The daemon rows are host-1.5t's runs above, and "
            "the compaction runs use that policy too, on a kernel that announces "
            "`UNMAPPED_POOL_FEAT_COMPACT`: each cycle moves at most the policy's "
            "`max_compact_pages_per_cycle` pages (host-1.5t.json leaves the default, 262,144).",
            "",
            f"![VM failures per strategy]({plots_rel}/sim-compaction.png)",
            "",
            *compaction_table(runs),
            "",
            "Static splits tried:",
            "",
            *split_table(runs),
            "",
        ]
        lines += compaction_reading(runs)
    lines += ["### Commands", "", "```", "bench/sim.sh", *commands, "```", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--plots", required=True, help="directory of the PNG files")
    ap.add_argument("--plots-rel", default="bench", help="that directory as the document links it")
    args = ap.parse_args()

    runs = read_runs(args.runs)
    os.makedirs(args.plots, exist_ok=True)
    plot_stranded(runs, os.path.join(args.plots, "sim-stranded.png"))
    plot_planner(runs, os.path.join(args.plots, "sim-planner.png"))
    if "compact" in runs:
        plot_compaction(runs, os.path.join(args.plots, "sim-compaction.png"))
    commands = [r["command"] for _, r in sorted(runs.items())]
    with open(args.md, "w") as f:
        f.write(fragment(runs, args.plots_rel, commands))


if __name__ == "__main__":
    main()
