package main

import (
	"fmt"
)

func main() {
	ch := make(chan string)
	select {
	case ch <- "hello":
		fmt.Println("sent without a receiver?")
	default:
		fmt.Println("no receiver: unbuffered send would block")
	}
	got := make(chan string, 1)
	go func() { got <- <-ch }()
	waitParked(1, "chan receive")
	select {
	case ch <- "hello":
		fmt.Println("receiver parked: send hands off directly, len", len(ch))
	default:
		fmt.Println("send would block?")
	}
	fmt.Println("receiver got", <-got)
	done := make(chan bool)
	go func() { ch <- "from a parked sender"; done <- true }()
	waitParked(1, "chan send")
	fmt.Println("sender parked, len", len(ch), "cap", cap(ch))
	fmt.Println(<-ch)
	fmt.Println("sender released", <-done)
}
