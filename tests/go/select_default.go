package main

import "fmt"

func try(ch chan int) string {
	select {
	case v, ok := <-ch:
		return fmt.Sprint("received ", v, " ", ok)
	default:
		return "default"
	}
}

func main() {
	ch := make(chan int, 1)
	fmt.Println("empty:", try(ch))
	ch <- 5
	fmt.Println("one value:", try(ch))
	fmt.Println("empty again:", try(ch))
	close(ch)
	fmt.Println("closed:", try(ch))
	fmt.Println("nil:", try(nil))
	select {
	default:
		fmt.Println("a select with only default runs it")
	}
}
