// Chapter 01: CPU-bound goroutines to watch with GODEBUG=schedtrace=<ms>.
//
// Starts W workers (argument 1, default 8) that each spin for D ms (argument 2, default 300); run it
// with GODEBUG=schedtrace=50 and the runtime prints one SCHED line per 50 ms on stderr: gomaxprocs,
// idle Ps, threads, the global run queue and each P's local run queue length.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

var sink int

func main() {
	w, d := 8, 300
	if len(os.Args) > 2 {
		w, _ = strconv.Atoi(os.Args[1])
		d, _ = strconv.Atoi(os.Args[2])
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, end := 0, time.Now().Add(time.Duration(d)*time.Millisecond)
			for time.Now().Before(end) {
				for j := 0; j < 1000; j++ {
					x += j
				}
			}
			mu.Lock()
			sink += x
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Println("workers done:", w)
}
