#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""md2scd.py IN.md OUT.scd: convert the Markdown view of a man page (the
subset doc/umn.1.md uses: ## sections, ``` blocks, * lists, | tables,
**bold**, *emphasis*, `code`) to scdoc.  Run at build time for umn(1), so
doc/umn.1.md stays the one text to edit."""
import re, sys

def esc(text):
    # scdoc formatting characters that must stay literal
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")

def inline(text):
    out, pos = [], 0
    for m in re.finditer(r"`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*", text):
        out.append(esc(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append("*" + esc(m.group(1)) + "*")
        elif m.group(2) is not None:
            out.append("*" + inline(m.group(2)).replace("\\*", "\\*") + "*")
        else:
            out.append("_" + esc(m.group(3)) + "_")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)

def line_start(s):
    # a line must not start like a list, table or heading by accident
    return "\\" + s if s and s[0] in "-[]|#" else s

src = open(sys.argv[1]).read().splitlines()
out, i, in_code = [], 0, False
for line in src:
    if line.startswith("<!--") or line.startswith("> "):
        continue                        # comments, notes about this file
    if line.startswith("```"):
        in_code = not in_code
        if in_code and out and out[-1] != "":
            out.append("")              # scdoc: a block starts a paragraph
        out.append("```")
        continue
    if in_code:
        out.append(line)
        continue
    m = re.match(r"# (\w[\w-]*)\((\d)\)\s*$", line)
    if m:
        out.append(f'{m.group(1)}({m.group(2)}) "umn" "umn manual"')
        continue
    if line.startswith("## "):
        if out and out[-1] != "":
            out.append("")
        out.append("# " + line[3:])
        out.append("")
        continue
    if line.startswith("|"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        if not hasattr(sys, "_umn_header_seen"):
            sys._umn_header_seen = True    # the header row of a table
            continue
        out.append("- " + inline(cells[0]) + ": " + inline(" | ".join(cells[1:])))
        continue
    if hasattr(sys, "_umn_header_seen") and not line.startswith("|"):
        del sys._umn_header_seen
        out.append("")
    if line.startswith("* "):
        out.append("- " + inline(line[2:]))
        continue
    if line.startswith("  ") and out and out[-1].startswith(("- ", "  ")):
        out.append("  " + inline(line.strip()))
        continue
    out.append(line_start(inline(line)))
open(sys.argv[2], "w").write("\n".join(out).rstrip("\n") + "\n")
