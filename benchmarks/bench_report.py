"""Size and build time of a finished run's ``report.html``, and how long Chromium takes to check it.

    python benchmarks/bench_report.py runs/quickstart [--repeats 3] [--screenshot report.png]

Builds the report of RUN_DIR ``--repeats`` times in this process (the first build
pays for importing matplotlib and opening the study; the others are warm) and
prints, for each, the wall and CPU seconds, with the size of the page raw and
gzipped (an e-mail attachment is base64: about 4/3 of the raw size). Then, when
Chromium is installed, loads the page headless over its DevTools pipe
(tests/browser.py), reports errors, outside requests, broken pictures and empty
plots, the time taken, and saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

from autometa.search.report_html import write_html_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, help="where to save the browser's full-page screenshot")
    args = parser.parse_args()
    out = args.run_dir / "report.html"
    for attempt in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        write_html_report(args.run_dir, out=out)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        data = out.read_bytes()
        print(f"build {attempt + 1} ({'cold' if attempt == 0 else 'warm'}): {wall:.2f} s wall, {cpu:.2f} s CPU; "
              f"{len(data) / 1024:.0f} KiB, {len(gzip.compress(data, 9)) / 1024:.0f} KiB gzipped, "
              f"{data.count(b'<svg ')} inline SVGs, {data.count(b'<img ')} pictures, "
              f"{data.lower().count(b'<script')} scripts")

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from browser import check_page, find_chromium

    if find_chromium() is None:
        print("no Chromium: browser check skipped (apt-get install chromium)")
        return
    check = check_page(out)
    print(f"chromium: {check.seconds:.2f} s; errors {check.errors}; outside requests {check.requests}; "
          f"broken pictures {len(check.broken_images)}; empty plots {[f['id'] for f in check.empty_figures]}; "
          f"page {check.dom['width']}x{check.dom['height']} px")
    if args.screenshot:
        args.screenshot.write_bytes(check.screenshot)
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
