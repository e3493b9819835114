package main

import (
	"context"
	"fmt"
	"time"
)

func main() {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	pd, _ := parent.Deadline()
	later, cancelLater := context.WithTimeout(parent, 2*time.Hour)
	defer cancelLater()
	ld, _ := later.Deadline()
	fmt.Println("a later child deadline is capped at the parent's:", ld.Equal(pd))
	sooner, cancelSooner := context.WithTimeout(parent, time.Minute)
	defer cancelSooner()
	sd, _ := sooner.Deadline()
	fmt.Println("a sooner child deadline is its own:", sd.Before(pd))
	cancel()
	fmt.Println("parent cancel reaches both:", later.Err(), "|", sooner.Err())
	_, ok := context.Background().Deadline()
	fmt.Println("Background has a deadline:", ok)
}
