package main

import "fmt"

func main() {
	ch := make(chan int, 3)
	for i := 1; i <= 3; i++ {
		ch <- i * 10
		fmt.Println("sent", i*10, "len", len(ch), "cap", cap(ch))
	}
	select {
	case ch <- 40:
		fmt.Println("fourth send went through")
	default:
		fmt.Println("full: fourth send would block")
	}
	for i := 0; i < 3; i++ {
		v, ok := <-ch
		fmt.Println("recv", v, ok, "len", len(ch))
	}
	select {
	case v := <-ch:
		fmt.Println("unexpected", v)
	default:
		fmt.Println("empty: receive would block")
	}
}
