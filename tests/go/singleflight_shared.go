package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// waitDups blocks until n goroutines wait inside Group.Do for an in-flight call.
func waitDups(n int) {
	buf := make([]byte, 1<<20)
	for i := 0; i < 10000; i++ {
		count := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "singleflight.(*Group).Do(") && !strings.Contains(g, "doCall") {
				count++
			}
		}
		if count >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	panic("timed out waiting for duplicate callers")
}

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
	waitDups(4)
	close(gate)
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
	fmt.Println("fetch ran", calls.Load(), "time for 5 callers")
	v, err, shared := g.Do("user:1", func() (any, error) { calls.Add(1); return "fresh", nil })
	fmt.Println("no caching afterwards:", v, err, shared, "calls", calls.Load())
}
