//go:build integration

package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// netns is a network namespace the test made, joined to the host by a veth
// pair on a private /30. The API server refuses to proxy to loopback, so the
// exporter behind the service proxy needs an address of its own; this is it.
// No traffic leaves the machine: the /30 exists only between the two ends.
type netns struct {
	name   string
	path   string
	hostIP string
	nsIP   string
}

// newNetns creates the namespace, or skips the test with the reason it cannot.
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("the service-proxy test needs root to create a network namespace (running as uid %d); list and reclaim are covered through --exporter-url", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the service-proxy test needs `ip` from iproute2 (make deps installs it); list and reclaim are covered through --exporter-url")
	}
	pid := os.Getpid()
	n := &netns{name: fmt.Sprintf("orphans-e2e-%d", pid)}
	n.path = "/var/run/netns/" + n.name
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("the service-proxy test needs network namespaces, and `ip netns add` failed here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })

	octet, err := freeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	n.hostIP, n.nsIP = fmt.Sprintf("10.213.%d.1", octet), fmt.Sprintf("10.213.%d.2", octet)
	hostIf, nsIf := fmt.Sprintf("oe%dh", pid%100000), fmt.Sprintf("oe%dn", pid%100000)
	if out, err := exec.Command("ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", n.name).CombinedOutput(); err != nil {
		t.Skipf("the service-proxy test needs a veth pair into its network namespace, and `ip link add … type veth` failed here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostIf).Run() })
	for _, args := range [][]string{
		{"addr", "add", n.hostIP + "/30", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", n.name, "addr", "add", n.nsIP + "/30", "dev", nsIf},
		{"-n", n.name, "link", "set", nsIf, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return n
}

// freeSubnet picks a 10.213.X.0/30 that no interface or route of this
// machine uses, so that parallel runs and other setups do not collide.
func freeSubnet() (int, error) {
	out, err := exec.Command("sh", "-c", "ip -4 -o addr show; ip -4 route show table all").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("list addresses: %v: %s", err, out)
	}
	for range 50 {
		x := 1 + rand.IntN(254)
		if !strings.Contains(string(out), fmt.Sprintf("10.213.%d.", x)) {
			return x, nil
		}
	}
	return 0, fmt.Errorf("no free 10.213.X.0/30 subnet")
}

// relay makes host-loopback port reachable at 127.0.0.1:port inside the
// namespace, so that a process there (the exporter) reaches the test bed's
// API server and PostgreSQL with the same kubeconfig and DSN as anywhere.
func (n *netns) relay(t *testing.T, port int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	l, err := listenIn(n.path, addr)
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, n.name, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// listenIn opens a listening socket inside the network namespace at path. A
// socket stays in the namespace it was made in, so only the making is done
// on a thread switched into it.
func listenIn(path, addr string) (net.Listener, error) {
	type res struct {
		l   net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// The thread is never unlocked: it leaves the host's namespace, so
		// the runtime must discard it when this goroutine ends.
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: fmt.Errorf("setns: %w", err)}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- res{l: l, err: err}
	}()
	r := <-ch
	return r.l, r.err
}
