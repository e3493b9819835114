package main

import (
	"fmt"
)

// A receive from a full buffer with a parked sender takes the buffer's head and moves the
// sender's value into the freed slot: FIFO across the buffer and the send queue.
func main() {
	ch := make(chan string, 2)
	ch <- "a"
	ch <- "b"
	done := make(chan bool)
	go func() { ch <- "c"; done <- true }()
	waitParked(1, "chan send")
	fmt.Println(<-ch, "len", len(ch))
	<-done
	fmt.Println(<-ch, "len", len(ch))
	fmt.Println(<-ch, "len", len(ch))
}
