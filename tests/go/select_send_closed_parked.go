package main

import (
	"fmt"
)

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
