# SPDX-License-Identifier: MIT
# An allocation-heavy Python script for the python3 audit test: only
# built-in types, so no extension module is loaded after start-up.
blocks = []
for r in range(6):
    for i in range(40):
        blocks.append(bytearray(200 * 1024 + i * 4096))   # mmapped blocks
    grown = bytearray(64 * 1024)
    for i in range(8):
        grown.extend(bytes(len(grown)))                   # realloc: mremap
    del grown
    d = {i: str(i) * 20 for i in range(60000)}            # the heap grows
    l = [list(range(20)) for _ in range(5000)]
    del d, l                                              # and shrinks
    blocks.clear()
print("alloc.py: done")
