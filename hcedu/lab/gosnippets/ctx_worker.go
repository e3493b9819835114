// The source's worker with ctx.Done() (2.1 生命周期管理), corrected.
//
// The source polls: `select { case <-ctx.Done(): ...; default: time.Sleep(100ms) }`. While it
// sleeps it cannot see the cancel, so it stops up to 100 ms late, and it burns a wake-up every
// period even with nothing to do. The fix waits on both channels at once (a Ticker for the
// periodic work), stops the ticker, and main waits for the worker with a WaitGroup (the source
// only mentions it). runtime.NumGoroutine shows the worker gone after cancel.
package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

func worker(ctx context.Context, ticks chan<- int) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			fmt.Println("worker stopped:", ctx.Err())
			return
		case <-t.C:
			n++ // the business logic runs here, once per tick
			if n == 3 {
				ticks <- n
			}
		}
	}
}

func main() {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan int, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		worker(ctx, ticks)
	}()
	fmt.Println("worker did", <-ticks, "ticks of work")
	fmt.Println("goroutines while running:", runtime.NumGoroutine()-before, "extra")
	cancel()
	wg.Wait()
	// Done ran in the worker's defer; the goroutine itself exits a moment later (wait up to 10 s)
	for i := 0; i < 10000 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("goroutines after cancel:", runtime.NumGoroutine()-before, "extra")
}
