// The source's context.WithTimeout + fetchAPI (2.3 超时与取消), made whole.
//
// The source calls fetchAPI without defining it and says it "must keep listening on ctx.Done()".
// Here it does: the call races the backend's reply against ctx.Done() and returns ctx.Err() when
// the deadline wins; the reply channel is buffered so the abandoned backend goroutine never leaks.
// The source's one-case `select { case <-ctx.Done(): ... }` is just `<-ctx.Done()`. Several
// goroutines sharing one ctx are all released by one cancel.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// fetchAPI simulates a downstream call that takes `latency`; it honours ctx.
func fetchAPI(ctx context.Context, latency time.Duration) (string, error) {
	reply := make(chan string, 1) // buffered: the backend can finish even if nobody waits
	go func() {
		time.Sleep(latency)
		reply <- "200 OK"
	}()
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func call(name string, timeout, latency time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel() // releases the timer at once when the call returns early
	result, err := fetchAPI(ctx, latency)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Printf("%s backend: timed out (%v)\n", name, err)
	case err != nil:
		fmt.Printf("%s backend: error %v\n", name, err)
	default:
		fmt.Printf("%s backend: %s\n", name, result)
	}
}

func main() {
	timeout := 100 * time.Millisecond // the source's value; argument 1 overrides it (ms)
	if len(os.Args) > 1 {
		ms, _ := strconv.Atoi(os.Args[1])
		timeout = time.Duration(ms) * time.Millisecond
	}
	fmt.Println("timeout:", timeout)
	call("fast", timeout, 5*time.Millisecond)
	call("slow", timeout, 20*timeout)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			errs[i] = ctx.Err()
		}()
	}
	cancel() // one cancel releases every goroutine that shares ctx
	wg.Wait()
	fmt.Println("released:", errs)
}
