// Chapter 03: sync.Pool against allocation: heap allocations, bytes and GC cycles per 10k requests
// that each need a 64 KiB scratch buffer, with and without a pool. JSON.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
)

var size = 64 << 10 // a variable, so make() cannot be moved to the stack by escape analysis

var pool = sync.Pool{New: func() any { b := make([]byte, size); return &b }}

var sink byte

func work(buf []byte, i int) {
	for j := 0; j < len(buf); j += 4096 {
		buf[j] = byte(i)
	}
	sink += buf[i%len(buf)]
}

func measure(requests int, usePool bool) map[string]any {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	for i := 0; i < requests; i++ {
		if usePool {
			p := pool.Get().(*[]byte)
			work(*p, i)
			pool.Put(p)
		} else {
			buf := make([]byte, size)
			work(buf, i)
		}
	}
	runtime.ReadMemStats(&b)
	return map[string]any{"pool": usePool, "requests": requests, "mallocs": b.Mallocs - a.Mallocs,
		"bytes": b.TotalAlloc - a.TotalAlloc, "gc_cycles": b.NumGC - a.NumGC}
}

func main() {
	n := 10000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	rows := []map[string]any{measure(n, false), measure(n, true)}
	out, _ := json.Marshal(map[string]any{"go": runtime.Version(), "rows": rows})
	fmt.Println(string(out))
}
