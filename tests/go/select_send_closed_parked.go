package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

func waitParked(n int, state string) {
	buf := make([]byte, 1<<20)
	for i := 0; i < 10000; i++ {
		if strings.Count(string(buf[:runtime.Stack(buf, true)]), "["+state) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	panic("timed out waiting for parked goroutines")
}

// A select parked with a send case panics when that channel is closed under it, even though
// another case (a receive on a live channel) could still fire later.
func main() {
	ch := make(chan int)
	other := make(chan int)
	out := make(chan string)
	go func() {
		defer func() { out <- fmt.Sprint("select recovered: ", recover()) }()
		select {
		case ch <- 1:
		case <-other:
		}
	}()
	waitParked(1, "select")
	close(ch)
	fmt.Println(<-out)
	select {
	case other <- 1:
		fmt.Println("a waiter was left on other?")
	default:
		fmt.Println("no waiter left on the other channel")
	}
}
