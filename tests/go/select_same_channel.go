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

// A select never matches its own send case with its own receive case; two goroutines doing the
// same select on one unbuffered channel do pair up (one sends, the other receives).
func main() {
	ch := make(chan int)
	select {
	case ch <- 1:
		fmt.Println("sent to itself?")
	case v := <-ch:
		fmt.Println("received from itself?", v)
	default:
		fmt.Println("alone: no partner, default")
	}
	out := make(chan string, 2)
	both := func(id int) {
		select {
		case ch <- id:
			out <- "sent"
		case <-ch:
			out <- "received"
		}
	}
	go both(1)
	waitParked(1, "select")
	go both(2)
	a, b := <-out, <-out
	fmt.Println("two selects pair up:", a != b)
}
