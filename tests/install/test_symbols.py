#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""usage: test_symbols.py LIBUMN_SO SOURCE_DIR

The exported symbols of libumn.so against the version script and the
headers (README "ABI"):
 - every exported umn_ symbol carries the version node of src/libumn.map
   that names it (an explicit name in a node wins over the umn_* glob);
 - every name listed explicitly in libumn.map is exported (ld does not
   complain about a listed name that does not exist);
 - every exported umn_ symbol is declared in a public header
   (include/umn/*.h): nothing private leaks through the glob;
 - every non-inline function declared in a public header is exported;
 - white-box test points (umn__test_*, builds with UMN_TEST_HOOKS only)
   and fault injection (umn__fault_*, builds with UMN_FAULT_INJECT only)
   are exempt from the two header checks: they are not part of the ABI;
 - nothing else is exported except the libc names the README documents
   (the interposition source), each with a glibc version;
 - pthread_create, if exported, is at both GLIBC_2.34 and GLIBC_2.2.5.
"""
import fnmatch, glob, os, re, subprocess, sys

lib, src = sys.argv[1], sys.argv[2]
# exported only by test builds, never part of the ABI
TEST_ONLY = ("umn__test_", "umn__fault_")
errors = []

out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                     capture_output=True, text=True).stdout
exported, versions = {}, {}
for line in out.splitlines():
    parts = line.split()
    if len(parts) != 3 or parts[1] == "A":
        continue                      # version definitions
    name, _, ver = parts[2].partition("@")
    exported[name] = ver.lstrip("@")
    versions.setdefault(name, set()).add(ver.lstrip("@"))

# pthread_create (the safety net's threads) at both of glibc's versions:
# GLIBC_2.34 for programs built against glibc >= 2.34, GLIBC_2.2.5 for
# older ones (interpose_thread.c).
if "pthread_create" in versions and \
        versions["pthread_create"] != {"GLIBC_2.34", "GLIBC_2.2.5"}:
    errors.append("pthread_create: exported at "
                  f"{sorted(versions['pthread_create'])}, not at both "
                  "GLIBC_2.34 and GLIBC_2.2.5")

# The version script: nodes, their explicit names and globs.
text = re.sub(r"/\*.*?\*/", "", open(os.path.join(src, "src/libumn.map")).read(),
              flags=re.S)
explicit, globs = {}, []
for node, body in re.findall(r"(\w[\w.]*)\s*\{(.*?)\}[^;]*;", text, flags=re.S):
    g = re.search(r"global:(.*?)(local:|$)", body, flags=re.S)
    for pat in re.findall(r"([\w*?]+)\s*;", g.group(1) if g else ""):
        if any(c in pat for c in "*?"):
            globs.append((node, pat))
        else:
            explicit[pat] = node

# Public declarations.
decl_all, decl_fn = set(), set()
for h in glob.glob(os.path.join(src, "include/umn/*.h")):
    t = re.sub(r"/\*.*?\*/", "", open(h).read(), flags=re.S)
    for m in re.finditer(r"\b(umn_\w+)\s*\(", t):
        decl_all.add(m.group(1))
    for m in re.finditer(r"extern\s+[\w\s*]+?\b(umn_\w+)\s*;", t):
        decl_all.add(m.group(1))
        decl_fn.add(m.group(1))
    # prototypes: statements at brace depth 0 (no function bodies, no
    # struct members) that end in ")" and are not static inline
    top, depth = [], 0
    for c in t:
        if c == "{":
            depth += 1
            top.append(";")
        elif c == "}":
            depth -= 1
        elif depth == 0:
            top.append(c)
    for stmt in re.split(r"[;]", "".join(top)):
        stmt = stmt.strip()
        if "static" in stmt or "#define" in stmt or "typedef" in stmt:
            continue
        m = re.search(r"\b(umn_\w+)\s*\([^()]*(\([^()]*\)[^()]*)*\)\s*$", stmt)
        if m and not re.search(r"\(\s*\*\s*" + m.group(1), stmt):
            decl_fn.add(m.group(1))

readme = open(os.path.join(src, "README.md")).read()
libc_ok = set(re.findall(r"`(\w+)@GLIBC_[\d.]+`", readme))

for name, ver in sorted(exported.items()):
    if name.startswith("umn_"):
        want = explicit.get(name)
        if want is None:
            want = next((n for n, p in globs if fnmatch.fnmatchcase(name, p)), None)
        if want is None:
            errors.append(f"{name}@{ver}: in no node of libumn.map")
        elif ver != want:
            errors.append(f"{name}: version {ver}, libumn.map puts it in {want}")
        if name not in decl_all and not name.startswith(TEST_ONLY):
            errors.append(f"{name}: exported but declared in no public header")
    elif name in libc_ok:
        if not ver.startswith("GLIBC_"):
            errors.append(f"{name}: libc name without a glibc version ({ver})")
    else:
        errors.append(f"{name}@{ver}: exported, neither umn_ nor a libc name "
                      "documented in README.md (`name@GLIBC_x`)")

for name, node in explicit.items():
    if name not in exported:
        errors.append(f"{name}: listed in libumn.map ({node}) but not exported")
for name in sorted(decl_fn):
    # white-box test points exist only in builds with UMN_TEST_HOOKS
    if name not in exported and not name.startswith(TEST_ONLY):
        errors.append(f"{name}: declared in a public header, not exported")

n_umn = sum(1 for n in exported if n.startswith("umn_"))
print(f"{n_umn} umn_ symbols, {len(exported) - n_umn} libc names "
      f"({', '.join(sorted(n for n in exported if not n.startswith('umn_')))}); "
      f"{len(decl_fn)} public declarations")
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
