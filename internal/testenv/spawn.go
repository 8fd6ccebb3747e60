package testenv

import (
	"os/exec"
	"runtime"
	"sync"
)

// The kernel sends a child its Pdeathsig when the *thread* that forked it
// exits, not when the process does. Go ends threads now and then (a goroutine
// that locked its thread, to enter a network namespace say, takes the thread
// with it when it returns), which would kill a server mid-test. Children that
// must die with the test process are therefore forked from one locked thread
// that lives as long as the process.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// StartProcess starts cmd like cmd.Start, from a thread that outlives every
// test, so that a Pdeathsig in cmd.SysProcAttr fires only when this process ends.
func StartProcess(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread is the parent of every child
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}
