// Chapter 01: the order goroutines run in on one P (GOMAXPROCS=1), showing runnext.
//
// main starts N goroutines (argument 1, default 5) and blocks. Each `go` puts the new G in the P's
// runnext slot and bumps the previous one to the tail of the local run queue, so when main blocks
// the LAST goroutine runs first, then the others in FIFO order: [N-1 0 1 ... N-2].
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
)

func main() {
	runtime.GOMAXPROCS(1)
	n := 5
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order <- i
		}()
	}
	wg.Wait()
	close(order)
	ran := []int{}
	for i := range order {
		ran = append(ran, i)
	}
	out, _ := json.Marshal(map[string]any{"go": runtime.Version(), "order": ran})
	fmt.Println(string(out))
}
