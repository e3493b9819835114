package main

import (
	"context"
	"fmt"
)

func main() {
	ran := make(chan string, 3)
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, func() { ran <- "f ran after cancel" })
	cancel()
	fmt.Println(<-ran)
	fmt.Println("stop after f started:", stop())

	ctx2, cancel2 := context.WithCancel(context.Background())
	stop2 := context.AfterFunc(ctx2, func() { ran <- "f2 must not run" })
	fmt.Println("stop before cancel:", stop2())
	fmt.Println("stop again:", stop2())
	cancel2()

	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	context.AfterFunc(done, func() { ran <- "already done: f runs at once" })
	fmt.Println(<-ran)
	select {
	case s := <-ran:
		fmt.Println("unexpected:", s)
	default:
		fmt.Println("nothing else ran")
	}
}
