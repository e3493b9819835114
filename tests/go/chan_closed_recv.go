package main

import "fmt"

func main() {
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	close(ch)
	fmt.Println("closed with len", len(ch))
	for i := 0; i < 4; i++ {
		v, ok := <-ch
		fmt.Println(v, ok, len(ch))
	}
	u := make(chan string)
	close(u)
	s, ok := <-u
	fmt.Printf("%q %v\n", s, ok)
}
