#!/usr/bin/python3
"""The "## Kernel" section of docs/BENCHMARKS.md and its plot, from the
"# figure kbench..." lines of the guest boots bench/kernel.sh ran
(tests/kernel/kbench.c says what each key measures).

    report.py FIGURES.txt META.txt FRAGMENT.md PLOT.png
"""
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (needs the backend chosen first)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from spread import spread, verdict  # noqa: E402 (bench/spread.py, shared by the reports)

PAGES_PER_GIB = 262144
# The goals of issue 6, checked below against the medians.
GOAL_TLB_PER_GIB = 2
GOAL_SECRET_RATIO = 1.2
# Issue 14: freeing a page costs at most this much more than on stock.
GOAL_FREE_RATIO = 1.01


def parse(path):
    """{kind: {"boot": [..], "round": [..], "lend": [..]}}, kind = stock,
    gigapool or hvo (the boot name is kbench-KIND-N)."""
    data = {}
    for line in open(path):
        words = line.split()
        if len(words) < 2:
            continue
        kind = words[0].split("-")[1]
        what = {"kbench-boot": "boot", "kbench": "round", "kbench-lend": "lend",
                "kbench-free": "free", "kbench-compact": "compact"}[words[1]]
        fields = dict(w.split("=", 1) for w in words[2:])
        values = {k: (v if k == "kernel" else int(v)) for k, v in fields.items()}
        data.setdefault(kind, {"boot": [], "round": [], "lend": [], "free": [],
                               "compact": []})[what].append(values)
    return data


def num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2g}" if v else "0"


def ratio(v):
    return f"{v:.2f}×"


def ms(ns):
    return f"{ns / 1e6:.1f} ms"


def col(rows, key, scale=1.0):
    return [r[key] * scale for r in rows]


def per_page_us(rows, key):
    return [r[key] / PAGES_PER_GIB / 1000 for r in rows]


def report(data, meta, plot_name):
    stock, gp = data["stock"], data["gigapool"]
    first = {k: [r for r in data[k]["round"] if r["round"] == 1] for k in ("stock", "gigapool")}
    later = {k: [r for r in data[k]["round"] if r["round"] > 1] for k in ("stock", "gigapool")}
    out = ["## Kernel: stock vs gigapool", ""]
    out += [f"{meta.get('boots')} fresh boots of each kernel, {meta.get('rounds')} rounds of "
            "1 GiB per boot (`tests/kernel/kbench.c`), the kernels booted in turn; "
            "median (min–max) over all boots or rounds. QEMU TCG: absolute times are "
            "inflated and noisy, ratios taken inside one round are what to compare.", ""]
    out += ["Command: `" + meta.get("command", "") + "`"
            + (f", run on {meta['when']}." if meta.get("when") else ""), ""]

    out += ["### Direct map and TLB shootdowns per GiB served", "",
            "Round 1 of each boot is the first GiB served after boot; later rounds "
            "serve another GiB each. Cross-CPU calls count over the whole life of the "
            "GiB (gigapool: lend a chunk, fault, free, reclaim the chunk) and per phase. "
            "The kernel sends its TLB shootdowns (`set_memory_*()`, "
            "`flush_tlb_kernel_range()`) as function-call IPIs, which "
            "`nr_tlb_remote_flush` does not count; the IPI count also holds other "
            "cross-CPU calls, so it is an upper bound. kbench runs pinned to one CPU, "
            "so its own unmaps flush only locally.", "",
            "| per GiB | stock | gigapool |", "| --- | --- | --- |"]
    rows = [("2 MiB splits, first GiB", first, "splits2", 1),
            ("1 GiB splits, first GiB", first, "splits3", 1),
            ("2 MiB splits, later GiB", later, "splits2", 1),
            ("1 GiB splits, later GiB", later, "splits3", 1)]
    for label, src, key, scale in rows:
        if src["stock"]:
            out.append(f"| {label} | {spread(col(src['stock'], key), num)} "
                       f"| {spread(col(src['gigapool'], key), num)} |")
    lost = {k: [(r["dm1g_before_kb"] - r["dm1g_after_kb"]) / 1048576 for r in first[k]]
            for k in first}
    out.append(f"| DirectMap1G lost, first GiB (GiB) | {spread(lost['stock'], num)} "
               f"| {spread(lost['gigapool'], num)} |")
    out.append(f"| function-call IPIs, whole life (CAL) | {spread(col(stock['round'], 'ipis'), num)} "
               f"| {spread(col(gp['round'], 'ipis'), num)} |")
    for key, label in (("ipis_lend", "… of which while lending the chunk"),
                       ("ipis_fault", "… while faulting the GiB"),
                       ("ipis_free", "… while freeing it and reclaiming the chunk")):
        out.append(f"| {label} | {spread(col(stock['round'], key), num)} "
                   f"| {spread(col(gp['round'], key), num)} |")
    out.append(f"| kernel TLB shootdowns the pool issued (sysfs `tlb_flushes`) | – "
               f"| {spread(col(gp['round'], 'pool_tlb_flushes'), num)} |")
    fallbacks = int(sum(col(gp["round"], "fallbacks")))
    out.append(f"| allocations that fell back outside the pool | – | {fallbacks} |")
    out.append("")
    # What the CAL count of the free phase is made of, traced once on the
    # debug kernel: the bench kernel has no event tracing.
    out += ["Where gigapool's IPIs while freeing come from is not in these counters: "
            "CAL counts every function-call IPI, and in this guest (2 vCPUs on 2 "
            "sockets, which share no cache) every wakeup of a task on the other CPU is "
            "one, sent through the scheduler's wake list (`ttwu_queue_wakelist()` → "
            "`sched_ttwu_pending()`). Traced with the `ipi` and `csd` tracepoints on the "
            "debug kernel (`make kernel-debug`, then `tests/kernel/run.sh --kernel "
            "build/kernel-debug/bzImage --mem 12G --append tsc=reliable ipitrace`, "
            "which runs kbench's memfd_secret steps and sums the trace per phase by "
            "the stack that sent each IPI), on 2026-11-28 at commit 1b711e2: of the 936 "
            "function-call IPIs of round 1 while the GiB was freed (929 in round 2), "
            "none was a TLB shootdown; 908 (911) woke RCU's grace-period kthread from "
            "`rcu_core()`, in the softirq of a timer tick that interrupted the free or "
            "the wipe worker, 25 (17) "
            "woke the pool's wipe worker from `queue_work_node()` in "
            "`__unmapped_pool_return_page()`, the rest other wakeups. The reclaim "
            "sent the pool's one shootdown (`set_memory_p()`), two from HugeTLB's "
            "vmemmap optimisation of the page given back, one for an expedited RCU "
            "grace period and 5 wakeups. The traced sends match the CAL counts read "
            "between the phases (936 and 929 while freeing; reclaim 9 and 9 against 9 "
            "and 8, the phase mark coming just after the count). The debug "
            "kernel (KASAN, lockdep) frees far slower, so its tick-driven count is "
            "larger than the bench kernel's; the shares in the bench kernel are not "
            "traced.", ""]

    out += ["### Fault throughput, 1 GiB in 4 KiB pages", "",
            "memfd_secret and plain memfd are faulted by touching every page; "
            "guest_memfd (a `KVM_X86_SW_PROTECTED_VM`; on gigapool with "
            "`GUEST_MEMFD_FLAG_UNMAPPED_POOL`) and plain memfd are allocated with "
            "`fallocate()`. The ratio is taken inside each round against the plain "
            "memfd of the same round. The pool clears a chunk when it lends it, so its "
            "faults skip the clearing a plain memfd fault does; the row with the lend "
            "counts that cost back in.", "",
            "| | stock | gigapool |", "| --- | --- | --- |"]
    ratios = {}
    for k in ("stock", "gigapool"):
        rs = data[k]["round"]
        ratios[k] = {"secret": [r["secret_ns"] / r["memfd_ns"] for r in rs],
                     "secret_lend": [(r["secret_ns"] + r["lend_ns"]) / r["memfd_ns"] for r in rs],
                     "gmem": [r["gmem_ns"] / r["gmem_memfd_ns"] for r in rs]}
    lines = [("memfd_secret fault, µs/page", lambda k: per_page_us(data[k]["round"], "secret_ns")),
             ("plain memfd fault, µs/page", lambda k: per_page_us(data[k]["round"], "memfd_ns")),
             ("**memfd_secret / memfd**", lambda k: ratios[k]["secret"]),
             ("**(memfd_secret + lending its chunk) / memfd**", lambda k: ratios[k]["secret_lend"]),
             ("guest_memfd fallocate, µs/page", lambda k: per_page_us(data[k]["round"], "gmem_ns")),
             ("plain memfd fallocate, µs/page", lambda k: per_page_us(data[k]["round"], "gmem_memfd_ns")),
             ("**guest_memfd / memfd**", lambda k: ratios[k]["gmem"])]
    for label, get in lines:
        fmt = ratio if label.startswith("**") else (lambda v: f"{v:.1f}")
        out.append(f"| {label} | {spread(get('stock'), fmt)} | {spread(get('gigapool'), fmt)} |")
    pps = {k: statistics.median([PAGES_PER_GIB / (r["secret_ns"] / 1e9) for r in data[k]["round"]])
           for k in ("stock", "gigapool")}
    out.append(f"| memfd_secret pages/s (median) | {pps['stock']:,.0f} | {pps['gigapool']:,.0f} |")
    out.append("")

    lend = gp["lend"]
    out += ["### Lending and reclaiming, per GiB (gigapool)", "",
            "Compared with clearing 1 GiB in the same guest: faulting a 1 GiB hugetlb "
            "page (the kernel clears it) and `memset()` of 1 GiB already mapped.", "",
            "| step | time per GiB | ÷ kernel clearing 1 GiB |", "| --- | --- | --- |"]
    clear = statistics.median(col(gp["round"], "clear_fault_ns"))
    steps = [("lend, from a free 1 GiB hugetlb page (round)", col(gp["round"], "lend_ns")),
             ("lend, from a free 1 GiB hugetlb page (2 at once)", col(lend, "lend_huge_ns_per_gib")),
             ("lend, from CMA (no free hugetlb page)", col(lend, "lend_cma_ns_per_gib")),
             ("reclaim, clean chunk", col(lend, "reclaim_clean_ns_per_gib")),
             ("reclaim, after 1 GiB of memfd_secret (wipes it)", col(gp["round"], "reclaim_dirty_ns")),
             ("kernel clears a 1 GiB hugetlb page (fault)", col(gp["round"], "clear_fault_ns")),
             ("memset() 1 GiB", col(gp["round"], "clear_memset_ns"))]
    for label, values in steps:
        out.append(f"| {label} | {spread(values, ms)} | {statistics.median(values) / clear:.2f} |")
    out.append("")

    hvo = data.get("hvo", {}).get("lend", [])
    out += ["### Memory the pool costs per chunk", "",
            "MemFree before and after lending two chunks (the chunk itself was "
            "hugetlb memory before and is pool memory after, in neither count), and "
            "the static size of the chunk's bookkeeping "
            "(`bench/sim` compiles `mm/unmapped_pool.h` and prints it).", "",
            "| | per 1 GiB chunk |", "| --- | --- |",
            f"| MemFree drop on lend, HugeTLB vmemmap optimisation off | "
            f"{spread(col(lend, 'memfree_kb_per_chunk'), lambda v: f'{v:,.0f} KiB')} |"]
    if hvo:
        out.append(f"| MemFree drop on lend, `hugetlb_free_vmemmap=on` (undone on lend) | "
                   f"{spread(col(hvo, 'memfree_kb_per_chunk'), lambda v: f'{v:,.0f} KiB')} |")
    if meta.get("chunk_bytes"):
        out.append(f"| struct unmapped_pool_chunk + its per-page bitmaps | "
                   f"{int(meta['chunk_bytes']) / 1024:,.1f} KiB "
                   f"({int(meta['chunk_bytes']) / 2**30 * 100:.4f}% of the chunk) |")
    out.append("")

    out += free_section(stock["free"], gp["free"])
    out += compact_section(gp["compact"])

    splits_gp = int(sum(col(gp["round"], "splits2")) + sum(col(gp["round"], "splits3")))
    splits_st = statistics.median(col(first["stock"], "splits2"))
    # The pool's own shootdowns, and an upper bound that adds every
    # cross-CPU call while the GiB was faulted.
    pool_gp = statistics.median(col(gp["round"], "pool_tlb_flushes"))
    tlb_gp = statistics.median([r["pool_tlb_flushes"] + r["ipis_fault"] for r in gp["round"]])
    sec_gp = statistics.median(ratios["gigapool"]["secret"])
    out += ["### Against the goals of issue 6", "",
            "- " + verdict(splits_gp == 0,
                           f"gigapool split the direct map {splits_gp} times in all rounds, "
                           f"stock {splits_st:.0f} 2 MiB splits for the first GiB (median)",
                           "gigapool should split nothing"),
            "- " + verdict(pool_gp <= GOAL_TLB_PER_GIB,
                           f"cross-CPU kernel TLB shootdowns per GiB on gigapool: {pool_gp:.0f} "
                           f"issued by the pool (lend and reclaim; goal ≤ {GOAL_TLB_PER_GIB}); "
                           f"counting every cross-CPU call of any kind while the GiB was "
                           f"faulted as one more, at most {tlb_gp:.0f} (stock: "
                           f"{statistics.median(col(stock['round'], 'ipis_fault')):,.0f} "
                           f"while faulting)",
                           f"over by {pool_gp - GOAL_TLB_PER_GIB:.0f}"),
            "- " + verdict(sec_gp <= GOAL_SECRET_RATIO,
                           f"memfd_secret fault time on gigapool is {sec_gp:.2f}× plain memfd "
                           f"(goal ≤ {GOAL_SECRET_RATIO}×; stock "
                           f"{statistics.median(ratios['stock']['secret']):.2f}×)",
                           f"over the goal by {(sec_gp / GOAL_SECRET_RATIO - 1) * 100:.0f}%"),
            "", f"![stock vs gigapool](bench/{plot_name})", ""]
    return out, first, ratios


def free_section(stock, gp):
    """The page allocator's free path: stock against gigapool with no chunk
    and with one chunk lent."""
    def ns(v):
        return f"{v:.1f} ns"

    def times(v):  # a 1 % goal needs three decimals
        return f"{v:.3f}×"

    def per_page(rows, key):
        return [r[key] / r["free_pages"] for r in rows]

    base = statistics.median(per_page(stock, "free_ns"))
    inboot = spread([r["free_lent_ns"] / r["free_ns"] for r in gp], times)
    rows = [("stock", per_page(stock, "free_ns"), "–"),
            ("gigapool, no chunk lent", per_page(gp, "free_ns"), "–"),
            ("gigapool, one chunk lent", per_page(gp, "free_lent_ns"), inboot)]
    out = ["### The page allocator's free path", "",
           "Freeing 64 MiB of faulted anonymous memory with `MADV_DONTNEED`, 4 KiB "
           "pages, median of 15 runs per boot; every page goes through "
           "`free_pages_prepare()`, where the pool's hook sits. The ratio is against "
           "the median of the stock boots; the last column compares the two figures "
           "of each gigapool boot, taken seconds apart.", "",
           "| kernel | time per page freed | ÷ stock | ÷ same boot, no chunk lent |",
           "| --- | --- | --- | --- |"]
    for label, values, same_boot in rows:
        out.append(f"| {label} | {spread(values, ns)} "
                   f"| {spread([v / base for v in values], times)} | {same_boot} |")
    lent = statistics.median(per_page(gp, "free_lent_ns")) / base
    out += ["", "- " + verdict(lent <= GOAL_FREE_RATIO,
                               f"with a chunk lent, freeing a page on gigapool takes {lent:.3f}× "
                               f"what it takes on stock (goal ≤ {GOAL_FREE_RATIO}×)",
                               "over the goal; under TCG compare it with the spread "
                               "between boots of the same kernel"), ""]
    return out


def compact_section(rows):
    """Giving a 1 GiB page back by compaction against faulting the pages it
    moved, each ratio inside one boot (kbench's compact_figures())."""
    if not rows:
        return []

    def per_s(pages, ns):
        return pages / (ns / 1e9)

    def mib_s(pages, ns):
        return per_s(pages, ns) * 4096 / 2**20

    # The lend's 1 GiB clear, the share of it that the faulted pages took.
    for r in rows:
        r["giveback_ns"] = r["compact_ns"] + r["reclaim_ns"]
        r["clear_share_ns"] = r["lend2_ns"] / 2 * r["moved"] / PAGES_PER_GIB
        r["fill_clear_ns"] = r["fill_ns"] + r["clear_share_ns"]
    steps = [("`compact` to one empty chunk", "compact_ns", "moved"),
             ("reclaim of the emptied chunk (a free 1 GiB hugetlb page back)", "reclaim_ns", None),
             ("**give back 1 GiB: compact + reclaim**", "giveback_ns", "moved"),
             ("fault as many fresh memfd_secret pages as were moved", "fill_ns", "moved"),
             ("… plus their share of the lend's 1 GiB clear", "fill_clear_ns", "moved"),
             ("first fill: the 40 owners faulted into the two fresh chunks", "frag_ns",
              "frag_pages")]
    out = ["### Giving a 1 GiB page back by compaction (gigapool)", "",
           "Two chunks lent from free 1 GiB hugetlb pages and fragmented as "
           "`tests/kernel/compacttest.c` fragments them (`frag_fault()` in "
           "`tests/lib/util.c`): 40 memfd_secret owners of 24 MiB faulted one after "
           "another, three in four freed and wiped, which leaves a chunk's worth of "
           "pages free but no chunk empty. Timed: `echo 1 > "
           "/sys/devices/system/node/node0/unmapped_pool/compact` (compaction to one "
           "empty chunk) and the reclaim that returns that chunk as a free 1 GiB "
           "hugetlb page. Pages moved and shootdowns are the pool's sysfs counters "
           "`compact_pages_moved` and `compact_shootdowns` over that compaction. "
           "The fill it is set against is the same number of pages, not a whole "
           "chunk: compaction moves only the pages in use of the chunk it empties, "
           "so in the same boot, right after the reclaim, kbench faults exactly as "
           "many fresh memfd_secret pages as were moved. Those land on pages the "
           "pool cleared when it lent the chunk, so the next row adds that clear's "
           "share back (the lend of this boot's two chunks ÷ 2 × pages ÷ 262,144). "
           "Each ratio is taken inside one boot; median (min–max) over the boots. "
           "TCG emulates every instruction, the copies and clears included: the times "
           "are many times a real machine's, the ratios are what to compare.", "",
           "| step | time | pages | pages/s | MiB/s | ÷ fault of as many fresh pages |",
           "| --- | --- | --- | --- | --- | --- |"]
    for label, key, pages in steps:
        same = ([r[key] / r["fill_ns"] for r in rows] if pages == "moved" or pages is None
                else None)
        cells = [spread(col(rows, key), ms)]
        if pages:
            cells += [spread(col(rows, pages), num),
                      spread([per_s(r[pages], r[key]) for r in rows], num),
                      spread([mib_s(r[pages], r[key]) for r in rows], lambda v: f"{v:.1f}")]
        else:
            cells += ["–", "–", "–"]
        cells.append(spread(same, ratio) if same else "–")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    giveback = statistics.median([r["giveback_ns"] / r["fill_ns"] for r in rows])
    with_clear = statistics.median([r["giveback_ns"] / r["fill_clear_ns"] for r in rows])
    move_us = statistics.median([r["compact_ns"] / r["moved"] / 1000 for r in rows])
    fault_us = statistics.median([r["fill_ns"] / r["moved"] / 1000 for r in rows])
    first_us = statistics.median([r["frag_ns"] / r["frag_pages"] / 1000 for r in rows])
    out += ["", f"Pages in use before compaction: {spread(col(rows, 'used_pages'), num)}; "
            f"moved (`compact_pages_moved`): {spread(col(rows, 'moved'), num)}; "
            f"user-mapping shootdowns (`compact_shootdowns`, folios mapped in a process "
            f"when moved: the survivors kept mapped): "
            f"{spread(col(rows, 'shootdowns'), num)}.", "",
            f"Reading: giving the GiB back took {giveback:.2f}× the time to fault its "
            f"moved pages fresh, {with_clear:.2f}× with their share of the clear at lend; "
            f"a page moved costs {move_us:.1f} µs against {fault_us:.1f} µs to fault one "
            f"where the pool had room ({first_us:.1f} µs in the first fill).", ""]
    return out


def plot(data, first, ratios, path):
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), dpi=110)
    kinds, colors = ("stock", "gigapool"), ("#c44e52", "#4c72b0")

    ax = axes[0]
    values = [statistics.median(col(first[k], "splits2")) for k in kinds]
    ax.bar(kinds, values, color=colors)
    ax.set_title("2 MiB direct-map splits\n(first GiB of memfd_secret)")
    for i, v in enumerate(values):
        ax.annotate(f"{v:.0f}", (i, v), ha="center", va="bottom")

    ax = axes[1]
    counts = [statistics.median(col(data[k]["round"], "ipis")) for k in kinds]
    values = [max(v, 0.5) for v in counts]
    ax.bar(kinds, values, color=colors)
    ax.set_yscale("log")
    ax.set_title("cross-CPU IPIs per GiB served\n(lend to reclaim; log scale)")
    for i, v in enumerate(counts):
        ax.annotate(f"{v:,.0f}", (i, values[i]), ha="center", va="bottom")

    ax = axes[2]
    width = 0.38
    for i, k in enumerate(kinds):
        vals = [statistics.median(ratios[k]["secret"]), statistics.median(ratios[k]["gmem"])]
        xs = [j + (i - 0.5) * width for j in range(2)]
        ax.bar(xs, vals, width, color=colors[i], label=k)
        for x, v in zip(xs, vals):
            ax.annotate(f"{v:.2f}×", (x, v), ha="center", va="bottom")
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.axhline(GOAL_SECRET_RATIO, color="green", lw=1, ls=":", label="goal 1.2×")
    ax.set_xticks(range(2), ["memfd_secret\nfault", "guest_memfd\nfallocate"])
    ax.set_title("time ÷ plain memfd\n(1.0 = what unmapped memory should cost)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main():
    figures, meta_path, fragment, plot_path = sys.argv[1:5]
    data = parse(figures)
    meta = dict(line.rstrip("\n").split("=", 1) for line in open(meta_path) if "=" in line)
    for k in ("stock", "gigapool"):
        if not data.get(k, {}).get("round"):
            sys.exit(f"report.py: no {k} rounds in {figures}")
    out, first, ratios = report(data, meta, plot_path.rsplit("/", 1)[-1])
    plot(data, first, ratios, plot_path)
    with open(fragment, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
