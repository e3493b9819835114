package main

import "fmt"

func main() {
	var ch chan int
	fmt.Println("len", len(ch), "cap", cap(ch))
	select {
	case v := <-ch:
		fmt.Println("recv from nil?", v)
	case ch <- 1:
		fmt.Println("send to nil?")
	default:
		fmt.Println("nil channel is never ready: default")
	}
	ready := make(chan int, 1)
	ready <- 7
	select {
	case v := <-ch:
		fmt.Println("nil won?", v)
	case v := <-ready:
		fmt.Println("the only non-nil case runs:", v)
	}
	fmt.Println("close(nil):", protect(func() { close(ch) }))
}
