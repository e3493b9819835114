package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func main() {
	parent, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("shutdown"))
	child, cancelChild := context.WithTimeout(parent, time.Hour)
	defer cancelChild()
	fmt.Println("child of a canceled parent is born canceled:", child.Err(), "| cause:", context.Cause(child))

	t, cancelT := context.WithTimeoutCause(context.Background(), time.Hour, errors.New("slow"))
	cancelT()
	fmt.Println("canceled before its deadline:", t.Err(), "| cause:", context.Cause(t))

	ran := make(chan bool, 1)
	detached := context.WithoutCancel(parent)
	stop := context.AfterFunc(detached, func() { ran <- true })
	fmt.Println("AfterFunc on a never-canceled context: stop() =", stop(), "| ran:", len(ran))

	v := context.WithValue(parent, "k", "v")
	fmt.Println("a value context shares its parent's state:", v.Err(), "|", context.Cause(v))
}
