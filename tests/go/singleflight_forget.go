package main

import (
	"fmt"

	"golang.org/x/sync/singleflight"
)

func main() {
	var g singleflight.Group
	gate := make(chan struct{})
	entered := make(chan bool)
	first := g.DoChan("k", func() (any, error) {
		entered <- true
		<-gate
		return "first (stale)", nil
	})
	<-entered
	g.Forget("k")
	v, err, shared := g.Do("k", func() (any, error) { return "second (fresh)", nil })
	fmt.Println("after Forget a new call runs:", v, err, shared)
	close(gate)
	r := <-first
	fmt.Println("the forgotten call still delivers:", r.Val, r.Err, r.Shared)
	v, _, _ = g.Do("k", func() (any, error) { return "third", nil })
	fmt.Println("and its completion did not evict anything new:", v)

	ch := g.DoChan("solo", func() (any, error) { return 7, nil })
	res := <-ch
	fmt.Println("DoChan alone:", res.Val, res.Err, res.Shared)
	_, err, _ = g.Do("err", func() (any, error) { return nil, fmt.Errorf("db down") })
	fmt.Println("errors pass through:", err)
}
