package main

import (
	"fmt"
)

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
