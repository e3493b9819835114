// Chapter 03: one object's life in a sync.Pool across garbage collections (Go 1.13+ victim cache),
// printed line for line as hcedu.lab.gocompare.pool_victim_mirror() prints it with hcedu.go.Pool.
//
// One P (the goroutine cannot migrate between Ps) and no background GC, as in Go's own pool test:
// an object survives exactly one runtime.GC() (moved to the victim) and is dropped by the second.
package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

func main() {
	runtime.GOMAXPROCS(1)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	made := 0
	p := sync.Pool{New: func() any { made++; return fmt.Sprintf("new-%d", made) }}

	p.Put("scratch-buffer")
	fmt.Println("Put(scratch-buffer); Get ->", p.Get(), "(local)")
	p.Put("scratch-buffer")
	runtime.GC()
	fmt.Println("Put; GC; Get ->", p.Get(), "(survived one GC in the victim)")
	p.Put("scratch-buffer")
	runtime.GC()
	runtime.GC()
	fmt.Println("Put; GC; GC; Get ->", p.Get(), "(dropped at the second GC: New ran)")
	fmt.Println("New calls:", made)
}
