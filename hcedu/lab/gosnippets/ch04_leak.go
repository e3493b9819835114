// Chapter 04: a leaking worker against a well-behaved one, counted with runtime.NumGoroutine().
//
// Each of N requests (argument 1, default 100) starts a worker and gives up waiting for it (the
// caller's timeout fired). The leaky worker sends its result on an unbuffered channel nobody reads
// any more, so it blocks forever; the fixed one sends on a buffered channel (or selects on
// ctx.Done()) and exits. JSON: goroutines alive after each batch.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

// The worker answers only after the caller has given up (`late` is closed once the caller's select
// returned), so the caller's deadline always wins: with both cases ready, select would pick at random
// and a leaky request would sometimes not leak.
func leaky(ctx context.Context) {
	res := make(chan int) // unbuffered: the send below blocks forever once the caller is gone
	late := make(chan struct{})
	go func() { <-late; res <- 42 }()
	select {
	case <-res:
	case <-ctx.Done():
	}
	close(late)
}

func fixed(ctx context.Context) {
	res := make(chan int, 1) // buffered: the worker can always finish
	late := make(chan struct{})
	go func() { <-late; res <- 42 }()
	select {
	case <-res:
	case <-ctx.Done():
	}
	close(late)
}

// settle waits (at most 10 s: a busy machine schedules late) until at most `floor` extra goroutines
// are alive, and returns how many are. Exiting workers need a moment after their send; leaked ones
// never leave, so for the leaky batch the floor is the number started.
func settle(base, floor int) int {
	for i := 0; i < 10000 && runtime.NumGoroutine()-base > floor; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	return runtime.NumGoroutine() - base
}

func batch(n int, f func(context.Context)) {
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the caller's deadline already passed: it will not read the result
		f(ctx)
	}
}

func main() {
	n := 100
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	base := runtime.NumGoroutine()
	batch(n, fixed)
	fixedLeft := settle(base, 0)
	batch(n, leaky)
	leakyLeft := settle(base, n)
	out, _ := json.Marshal(map[string]any{"go": runtime.Version(), "requests": n,
		"fixed_alive": fixedLeft, "leaky_alive": leakyLeft})
	fmt.Println(string(out))
}
