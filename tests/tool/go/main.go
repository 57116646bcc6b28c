// SPDX-License-Identifier: MIT
// A cgo program whose runtime returns memory to the kernel with its own
// inline `syscall` instructions (runtime.madvise: MADV_DONTNEED), traced by
// tests/tool/audit_go.sh with `umn trace --audit`.
package main

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"runtime/debug"
)

func main() {
	var keep [][]byte
	total := 0
	for r := 0; r < 4; r++ {
		for i := 0; i < 64; i++ {
			b := make([]byte, 1<<20)
			b[0] = byte(i)
			keep = append(keep, b)
		}
		total += len(keep)
		keep = nil
		debug.FreeOSMemory()
	}
	p := C.malloc(1 << 20)
	C.free(p)
	fmt.Println("go: done", total)
}
