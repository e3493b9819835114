package main

import (
	"context"
	"fmt"
)

func state(name string, ctx context.Context) {
	select {
	case <-ctx.Done():
		fmt.Println(name, "done:", ctx.Err())
	default:
		fmt.Println(name, "live:", ctx.Err())
	}
}

func main() {
	root, cancelRoot := context.WithCancel(context.Background())
	child, cancelChild := context.WithCancel(root)
	grandchild, cancelGrand := context.WithCancel(child)
	defer cancelGrand()
	sibling, cancelSibling := context.WithCancel(root)
	defer cancelSibling()
	fmt.Println(grandchild)

	cancelChild()
	fmt.Println("-- cancel child")
	state("root", root)
	state("child", child)
	state("grandchild", grandchild)
	state("sibling", sibling)

	cancelRoot()
	cancelRoot() // idempotent
	fmt.Println("-- cancel root")
	state("root", root)
	state("sibling", sibling)

	late, cancelLate := context.WithCancel(root)
	defer cancelLate()
	fmt.Println("-- child of a canceled parent")
	state("late", late)
	fmt.Println("Background:", context.Background(), context.Background().Done() == nil, context.Background().Err())
}
