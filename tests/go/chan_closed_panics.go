package main

import "fmt"

func main() {
	ch := make(chan int, 1)
	close(ch)
	fmt.Println("send:", protect(func() { ch <- 1 }))
	fmt.Println("close again:", protect(func() { close(ch) }))
	fmt.Println("select send with default:", protect(func() {
		select {
		case ch <- 1:
		default:
		}
	}))
	n := -1
	fmt.Println("make(chan int, -1):", protect(func() { _ = make(chan int, n) }))
}
