package main

import "fmt"

// Both cases are always ready: Go picks uniformly at random. Only "each was picked" is defined;
// the exact counts differ run to run, so they are not printed.
func main() {
	a := make(chan int, 1)
	b := make(chan int, 1)
	counts := [2]int{}
	for i := 0; i < 1000; i++ {
		a <- 1
		b <- 2
		select {
		case <-a:
			counts[0]++
			<-b
		case <-b:
			counts[1]++
			<-a
		}
	}
	fmt.Println("both picked:", counts[0] > 0 && counts[1] > 0, "total", counts[0]+counts[1])
}
