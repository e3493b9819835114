package main

import (
	"fmt"

	"golang.org/x/sync/singleflight"
)

// DoChan callers join an in-flight call synchronously (under the group's lock), so no waiting is
// needed to know they shared it; every channel gets one Result and is never closed.
func main() {
	var g singleflight.Group
	gate := make(chan struct{})
	calls := 0
	fn := func() (any, error) {
		calls++
		<-gate
		return "value", nil
	}
	a := g.DoChan("k", fn)
	b := g.DoChan("k", fn)
	c := g.DoChan("k", fn)
	close(gate)
	for _, ch := range []<-chan singleflight.Result{a, b, c} {
		r := <-ch
		fmt.Println(r.Val, r.Err, r.Shared)
	}
	fmt.Println("fn ran", calls, "time")
	select {
	case r := <-a:
		fmt.Println("a second result?", r)
	default:
		fmt.Println("one result per channel")
	}
}
