package main

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.SetLimit(2)
	gate := make(chan struct{})
	started := make(chan int, 2)
	for i := 0; i < 2; i++ {
		fmt.Println("TryGo", i, g.TryGo(func() error { started <- i; <-gate; return nil }))
	}
	<-started
	<-started
	fmt.Println("TryGo at the limit:", g.TryGo(func() error { return nil }))
	fmt.Println("SetLimit while active:", protect(func() { g.SetLimit(5) }))
	close(gate)
	fmt.Println("Wait:", g.Wait())

	g.SetLimit(0)
	fmt.Println("limit 0, TryGo:", g.TryGo(func() error { return nil }))
	g.SetLimit(1)
	var n, peak, active atomic.Int64
	for i := 0; i < 20; i++ {
		g.Go(func() error { // blocks here while the one slot is busy
			if a := active.Add(1); a > peak.Load() {
				peak.Store(a)
			}
			n.Add(1)
			active.Add(-1)
			return nil
		})
	}
	fmt.Println("limit 1, 20 Go calls:", g.Wait(), "ran", n.Load(), "peak concurrency", peak.Load())
}
