package redisbench

import (
	"errors"
	"runtime"
)

var errDenied = errors.New("redisbench: denied below the limit")

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
