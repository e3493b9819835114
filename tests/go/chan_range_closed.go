package main

import "fmt"

func main() {
	ch := make(chan int, 5)
	for i := 0; i < 4; i++ {
		ch <- i
	}
	close(ch)
	sum := 0
	for v := range ch {
		sum += v
		fmt.Println("range got", v)
	}
	fmt.Println("range ended after close and drain, sum", sum)

	jobs := make(chan int)
	go func() {
		defer close(jobs)
		for i := 1; i <= 3; i++ {
			jobs <- i * i
		}
	}()
	var got []int
	for v := range jobs {
		got = append(got, v)
	}
	fmt.Println("from a producer that closes:", got)
}
