#!/usr/bin/python3
"""docs-images.py - the pictures in docs/images/, from real runs.

  docs-images.py terminal CAPTURE OUT.png [--rows A:B] [--title TEXT]
      renders a terminal capture (`tmux capture-pane -p -e`: text with SGR
      colour escapes) as the terminal showed it, light text on dark;
      --rows keeps lines A..B-1 of the capture (0-based), nothing else changed.
  docs-images.py trace TRACE.json OUT.png [--from MS] [--to MS]
      draws a Chrome Trace Event file (`socktrace timeline FILE --format
      chrome`) the way a trace viewer lays it out: a track per process, a row
      per thread with each call a slice, and each socket's lifetime (the async
      spans) as a bar below its process; --from/--to pick the window, in ms
      since the first event. Perfetto's UI (ui.perfetto.dev) needs the
      network, so this is what docs/ shows instead, and says so.

Needs Debian's python3-pil (hence /usr/bin/python3) and DejaVu Sans Mono
(fonts-dejavu-core). How the pictures in docs/images/ were made is in
docs/images/README.md.
"""
import argparse
import json
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
BACKGROUND = (30, 30, 30)
FOREGROUND = (212, 212, 212)
# xterm's 16 colours, a little softened.
PALETTE = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188),
           (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139),
           (245, 245, 67), (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255)]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def terminal(args):
    with open(args.capture, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if args.rows:
        first, last = (int(x) if x else None for x in args.rows.split(":"))
        lines = lines[first:last]
    while lines and not SGR.sub("", lines[-1]).strip():
        lines.pop()
    size = args.font_size
    font = ImageFont.truetype(FONT, size)
    bold = ImageFont.truetype(BOLD, size)
    cell_w = font.getlength("M")
    cell_h = int(size * 1.35)
    columns = max(len(SGR.sub("", line)) for line in lines)
    pad = 14
    top = pad + (cell_h + 10 if args.title else 0)
    image = Image.new("RGB", (int(columns * cell_w) + 2 * pad, top + len(lines) * cell_h + pad), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if args.title:
        draw.text((pad, pad), args.title, font=font, fill=(140, 140, 140))
        draw.line((pad, pad + cell_h + 3, image.width - pad, pad + cell_h + 3), fill=(70, 70, 70))
    for row, line in enumerate(lines):
        x, fg, is_bold = 0, FOREGROUND, False
        y = top + row * cell_h
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            match = SGR.fullmatch(part)
            if match:
                codes = [int(c) if c else 0 for c in match.group(1).split(";")]
                i = 0
                while i < len(codes):
                    c = codes[i]
                    if c == 0:
                        fg, is_bold = FOREGROUND, False
                    elif c == 1:
                        is_bold = True
                    elif 30 <= c <= 37:
                        fg = PALETTE[c - 30]
                    elif 90 <= c <= 97:
                        fg = PALETTE[c - 90 + 8]
                    elif c == 39:
                        fg = FOREGROUND
                    elif c == 38 and i + 2 < len(codes) and codes[i + 1] == 5:
                        fg = PALETTE[codes[i + 2]] if codes[i + 2] < 16 else FOREGROUND
                        i += 2
                    i += 1
                continue
            for ch in part:
                draw.text((pad + x * cell_w, y), ch, font=bold if is_bold else font, fill=fg)
                x += 1
    image = image.quantize(colors=64)
    image.save(args.out, optimize=True)


def slice_colour(event):
    if event.get("cname") == "terrible":
        return (204, 70, 70)
    name = event.get("name", "")
    if name.startswith(("socket", "accept", "socketpair")):
        return (66, 133, 210)
    return (120, 170, 90)


def trace(args):
    with open(args.trace, encoding="utf-8") as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    names, threads, order = {}, {}, {}
    for e in events:
        if e["ph"] == "M" and e["name"] == "process_name":
            names[e["pid"]] = e["args"]["name"]
        elif e["ph"] == "M" and e["name"] == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"]["name"]
        elif e["ph"] == "M" and e["name"] == "process_sort_index":
            order[e["pid"]] = e["args"]["sort_index"]
    timed = [e for e in events if "ts" in e]
    origin = min(e["ts"] for e in timed)
    start = origin + (args.start or 0) * 1000
    end = origin + args.end * 1000 if args.end is not None else max(e["ts"] + e.get("dur", 0) for e in timed)
    spans = {}
    for e in events:
        if e["ph"] in "be":
            spans.setdefault((e["pid"], e["id"]), {})[e["ph"]] = e
    font = ImageFont.truetype(FONT, 12)
    small = ImageFont.truetype(FONT, 11)
    width, label_w, row_h = 1400, 230, 20
    plot_w = width - label_w - 20

    def x_of(ts):
        return label_w + (ts - start) / (end - start) * plot_w

    rows = []  # (kind, pid, tid or span, label)
    for pid in sorted(names, key=lambda p: order.get(p, 0)):
        shown = [s for s in spans.values() if s.get("b", {}).get("pid") == pid and "b" in s
                 and s["b"]["ts"] < end and s.get("e", s["b"])["ts"] >= start]
        slices = [e for e in events if e["ph"] in "Xi" and e["pid"] == pid and start <= e["ts"] <= end]
        if not shown and not slices:
            continue
        rows.append(("process", pid, None, f"{names[pid]} {pid}"))
        for (p, tid), tname in sorted(threads.items()):
            if p == pid and any(e["tid"] == tid for e in slices):
                rows.append(("thread", pid, tid, f"  {tname} {tid}"))
        for s in sorted(shown, key=lambda s: s["b"]["ts"]):
            rows.append(("span", pid, s, "  " + s["b"]["name"]))
    caption = args.caption.split("\\n") if args.caption else []
    height = 40 + len(rows) * row_h + 12 + 16 * len(caption)
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    # The time axis.
    span_ms = (end - start) / 1000
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
                if span_ms / s <= 10)
    tick = (int((start - origin) / 1000 / step) + 1) * step
    while origin + tick * 1000 <= end:
        x = x_of(origin + tick * 1000)
        draw.line((x, 28, x, 40 + len(rows) * row_h), fill=(225, 225, 225))
        draw.text((x + 2, 12), f"{tick:g} ms", font=small, fill=(110, 110, 110))
        tick += step
    y = 40
    for kind, pid, what, label in rows:
        if kind == "process":
            draw.rectangle((0, y, width, y + row_h - 1), fill=(232, 236, 243))
            draw.text((6, y + 3), label, font=font, fill=(20, 20, 20))
        elif kind == "thread":
            draw.text((6, y + 3), label, font=small, fill=(60, 60, 60))
            for e in events:
                if e["pid"] != pid or e.get("tid") != what or not start <= e.get("ts", -1) <= end:
                    continue
                x0 = x_of(e["ts"])
                if e["ph"] == "X":
                    x1 = max(x_of(e["ts"] + e.get("dur", 0)), x0 + 3)
                    draw.rectangle((x0, y + 2, x1, y + row_h - 3), fill=slice_colour(e))
                    if x1 - x0 > small.getlength(e["name"]) + 6:
                        draw.text((x0 + 3, y + 3), e["name"], font=small, fill=(255, 255, 255))
                elif e["ph"] == "i":
                    # An instant: a small marker under the slices (exec, fork, exit, a connect's outcome).
                    colour = (204, 70, 70) if "failed" in e["name"] or "killed" in e["name"] else (90, 90, 90)
                    draw.polygon(((x0, y + row_h - 9), (x0 - 4, y + row_h - 2), (x0 + 4, y + row_h - 2)), fill=colour)
        else:
            b = what["b"]
            e = what.get("e")
            x0 = max(x_of(b["ts"]), label_w)
            x1 = min(x_of(e["ts"]) if e else label_w + plot_w, label_w + plot_w)
            draw.text((6, y + 3), label[:32], font=small, fill=(60, 60, 60))
            draw.rectangle((x0, y + 4, max(x1, x0 + 3), y + row_h - 5), fill=(150, 120, 200))
            text = b["name"]
            if x1 - x0 > font.getlength(text) + 8:
                draw.text((x0 + 4, y + 3), text, font=small, fill=(255, 255, 255))
        y += row_h
    for i, text in enumerate(caption):
        draw.text((6, 40 + len(rows) * row_h + 6 + 16 * i), text, font=small, fill=(110, 110, 110))
    image = image.quantize(colors=64)
    image.save(args.out, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("terminal")
    t.add_argument("capture")
    t.add_argument("out")
    t.add_argument("--rows", default="")
    t.add_argument("--title", default="")
    t.add_argument("--font-size", type=int, default=13)
    c = sub.add_parser("trace")
    c.add_argument("trace")
    c.add_argument("out")
    c.add_argument("--from", dest="start", type=float)
    c.add_argument("--to", dest="end", type=float)
    c.add_argument("--caption", default="")
    a = ap.parse_args()
    terminal(a) if a.what == "terminal" else trace(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
