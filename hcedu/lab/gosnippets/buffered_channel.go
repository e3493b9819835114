// The source's buffered channel (第一章, Channel的底层实现原理), corrected.
//
// The source's snippet starts a goroutine that receives and prints, then lets main return: main
// may exit before that goroutine ever runs, so "1" is not guaranteed to print. Here main waits for
// it, and the claim "a third send blocks until a receive frees a slot" is shown, not just stated:
// a non-blocking send (select with default) on the full channel fails.
package main

import (
	"fmt"
	"sync"
)

func main() {
	ch := make(chan int, 2)
	ch <- 1 // send: into the ring buffer, no receiver needed
	ch <- 2
	fmt.Printf("len=%d cap=%d\n", len(ch), cap(ch))

	select {
	case ch <- 3:
		fmt.Println("third send went through")
	default:
		fmt.Println("third send would block: the buffer is full")
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		val := <-ch // receive: the oldest element leaves (FIFO)
		fmt.Println("received", val)
	}()
	wg.Wait() // the source forgot this: without it main may return before the goroutine prints

	ch <- 3 // now there is room
	close(ch)
	for v := range ch {
		fmt.Println("drained", v)
	}
}
