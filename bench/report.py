#!/usr/bin/env python3
"""Print the bench/transform.sh table from its run folder.

  report.py RUN_DIR MANIFEST [--summary FILE]

RUN_DIR holds, for each label (duckdb, convert, lambda, transform), LABEL.out
(the program's stdout) and LABEL.time (GNU `time -v` output). The rows/s used
for the ratios are the programs' own figures (last `rows_in=...` line), as the
peers report them; whole-process wall and peak RSS come from `time -v`.
With --summary, one JSON line per pair is appended to FILE (bench/all.sh's table).
"""
import json
import os
import re
import sys

# (title, ours, peer, min rows/s ratio, max RSS ratio ours/peer, max own RSS MiB, figure name)
PAIRS = [
    ("convert (its default: all cores) vs DuckDB --threads 1", "convert", "duckdb", 3.0, 0.25, None,
     "transform: firelake convert vs DuckDB --threads 1"),
    ("transform handler vs Python Lambda", "transform", "lambda", 15.0, None, 64.0,
     "Firehose handler: firelake transform vs Python Lambda"),
]


def summary(run, label):
    """key=value pairs of the last `rows_in=` line the program printed."""
    lines = [l for l in open(os.path.join(run, label + ".out"), errors="replace") if l.startswith("rows_in=")]
    if not lines:
        sys.exit("%s: no rows_in=... line in %s.out" % (label, label))
    # key=value pairs; a value may be quoted with spaces inside (nulled_by="age out_of_range 3, ...")
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', lines[-1])}


def gnu_time(run, label):
    """(wall seconds, user+sys CPU seconds, peak RSS MiB) from `time -v`."""
    txt = open(os.path.join(run, label + ".time")).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", txt).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    cpu = sum(float(re.search(r"%s time \(seconds\): (\S+)" % k, txt).group(1)) for k in ("User", "System"))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt).group(1))
    return secs, cpu, rss_kb / 1024.0


def verdict(ok):
    return "met" if ok else "NOT met"


def main():
    run, manifest = sys.argv[1], sys.argv[2]
    summary_file = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--summary" else None
    man = json.load(open(manifest))
    want = (man["records"], man["expected_rows_out"], man["expected_rejected"])
    print("one run each on this machine (%d cores, load average %s), not a median"
          % (os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3])))
    print("expected from the generator: rows_in=%d rows_out=%d rejected=%d" % want)
    print()
    hdr = "%-12s %12s %10s %10s %10s %10s %-s"
    print(hdr % ("program", "rows/s", "seconds", "wall s", "CPU s", "RSS MiB", "rows_in/out/rejected"))
    figs = {}
    bad_counts = []
    for label in ("duckdb", "convert", "lambda", "transform"):
        s = summary(run, label)
        wall, cpu, rss = gnu_time(run, label)
        counts = (int(s["rows_in"]), int(s["rows_out"]), int(s["rejected"]))
        figs[label] = (float(s["rows_per_s"]), wall, cpu, rss)
        flag = "" if counts == want else "  <-- differs from the generator's expectation"
        if flag:
            bad_counts.append(label)
        print(hdr % (label, "{:,.0f}".format(float(s["rows_per_s"])), s["seconds"], "%.2f" % wall, "%.2f" % cpu, "%.1f" % rss,
                     "%d/%d/%d%s" % (counts + (flag,))))
    print()
    for title, ours, peer, want_speed, want_rss_ratio, want_rss, figure in PAIRS:
        (o_rps, o_wall, o_cpu, o_rss), (p_rps, p_wall, p_cpu, p_rss) = figs[ours], figs[peer]
        speed, rss_ratio = o_rps / p_rps, o_rss / p_rss
        if summary_file:
            with open(summary_file, "a") as f:
                f.write(json.dumps({"figure": figure, "unit": "rows/s", "ours": o_rps, "peer": p_rps,
                                    "ours_rss_mib": o_rss, "peer_rss_mib": p_rss,
                                    "goal": ">= %gx" % want_speed}) + "\n")
        print("%s:" % title)
        print("  rows/s (own figures)   ours %12s  peer %12s  ratio %6.2fx   goal >= %gx: %s"
              % ("{:,.0f}".format(o_rps), "{:,.0f}".format(p_rps), speed, want_speed, verdict(speed >= want_speed)))
        rss_goal = ""
        if want_rss_ratio is not None:
            rss_goal = "goal <= %.2f: %s" % (want_rss_ratio, verdict(rss_ratio <= want_rss_ratio))
        if want_rss is not None:
            rss_goal = "goal ours <= %g MiB: %s" % (want_rss, verdict(o_rss <= want_rss))
        print("  peak RSS MiB           ours %12.1f  peer %12.1f  ratio %6.3f    %s" % (o_rss, p_rss, rss_ratio, rss_goal))
        print("  whole-process wall s   ours %12.2f  peer %12.2f  peer/ours %5.2fx"
              % (o_wall, p_wall, p_wall / o_wall if o_wall else float("inf")))
        # CPU shows whether a speed-up comes from using more cores than the peer
        print("  whole-process CPU s    ours %12.2f  peer %12.2f  peer/ours %5.2fx"
              % (o_cpu, p_cpu, p_cpu / o_cpu if o_cpu else float("inf")))
    if bad_counts:
        print("\ncounts differ from the generator's expectation for: %s" % ", ".join(bad_counts))
        sys.exit(1)


if __name__ == "__main__":
    main()
