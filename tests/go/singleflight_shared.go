package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

func main() {
	var g singleflight.Group
	var calls atomic.Int64
	gate := make(chan struct{})
	fetch := func() (any, error) {
		calls.Add(1)
		<-gate
		return "row from the database", nil
	}
	var wg sync.WaitGroup
	results := make([]string, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, shared := g.Do("user:1", fetch)
			results[i] = fmt.Sprint(v, " ", err, " ", shared)
		}()
		if i == 0 {
			for calls.Load() == 0 { // the first caller is inside fetch: the others will join it
				time.Sleep(time.Millisecond)
			}
		}
	}
	// the 4 others wait inside Do for the call in flight (the originator's stack also holds doCall)
	waitStacks(4, func(g string) bool {
		return strings.Contains(g, "singleflight.(*Group).Do(") && !strings.Contains(g, "doCall")
	})
	close(gate)
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
	fmt.Println("fetch ran", calls.Load(), "time for 5 callers")
	v, err, shared := g.Do("user:1", func() (any, error) { calls.Add(1); return "fresh", nil })
	fmt.Println("no caching afterwards:", v, err, shared, "calls", calls.Load())
}
