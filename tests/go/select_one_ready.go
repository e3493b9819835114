package main

import "fmt"

func main() {
	a := make(chan int, 1)
	b := make(chan int, 1)
	counts := [2]int{}
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			a <- i
		} else {
			b <- i
		}
		select {
		case v := <-a:
			counts[0]++
			_ = v
		case v := <-b:
			counts[1]++
			_ = v
		}
	}
	fmt.Println("only the ready case ever runs:", counts)
	full := make(chan int, 1)
	full <- 1
	empty := make(chan int, 1)
	select {
	case full <- 2:
		fmt.Println("send to full?")
	case empty <- 3:
		fmt.Println("the send with room runs; len(empty) =", len(empty))
	}
}
