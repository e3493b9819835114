package main

import (
	"fmt"
)

func main() {
	a := make(chan string)
	b := make(chan string)
	out := make(chan string, 1)
	go func() {
		select {
		case v := <-a:
			out <- "a: " + v
		case v := <-b:
			out <- "b: " + v
		}
	}()
	waitParked(1, "select")
	b <- "woken by the send on b"
	fmt.Println(<-out)
	select {
	case a <- "nobody":
		fmt.Println("?")
	default:
		fmt.Println("the select left no waiter behind on a")
	}
	go func() {
		select {
		case v, ok := <-a:
			out <- fmt.Sprint("a closed: ", v, " ", ok)
		case <-b:
			out <- "b?"
		}
	}()
	waitParked(1, "select")
	close(a)
	fmt.Println(<-out)
}
