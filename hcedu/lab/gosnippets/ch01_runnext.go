// Chapter 01: the order goroutines run in on one P (GOMAXPROCS=1), showing runnext.
//
// main starts N goroutines (argument 1, default 5) and blocks. Each `go` puts the new G in the P's
// runnext slot and bumps the previous one to the tail of the local run queue, so when main blocks
// the LAST goroutine runs first, then the others in FIFO order: [N-1 0 1 ... N-2].
//
// That holds while main keeps the P until it blocks. On a busy machine the OS can stall main's thread
// for more than 10 ms between two `go` statements; sysmon then preempts main, and the goroutine in
// runnext runs early (seen once on CI as [0 4 1 2 3]). Each goroutine therefore checks whether main had
// finished starting them all; a disturbed attempt is counted and repeated, up to 100 times.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// attempt runs the experiment once; disturbed is true when a goroutine ran before main blocked.
func attempt(n int) (ran []int, disturbed bool) {
	order := make(chan int, n)
	var started atomic.Int32 // how many `go` statements main has finished
	var early atomic.Bool    // some goroutine ran while main was still starting them
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if started.Load() < int32(n) {
				early.Store(true)
			}
			order <- i
		}()
		started.Add(1)
	}
	wg.Wait()
	close(order)
	for i := range order {
		ran = append(ran, i)
	}
	return ran, early.Load()
}

func main() {
	runtime.GOMAXPROCS(1)
	n := 5
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	var ran []int
	disturbed := 0
	for disturbed < 100 {
		order, early := attempt(n)
		ran = order
		if !early {
			break
		}
		disturbed++
	}
	out, _ := json.Marshal(map[string]any{"go": runtime.Version(), "order": ran, "disturbed": disturbed})
	fmt.Println(string(out))
}
