package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpPeers counts the established TCP connections of process pid to port
// on any address: its socket inodes (/proc/<pid>/fd) matched against the
// kernel's connection tables (/proc/<pid>/net/tcp and tcp6).
func tcpPeers(pid, port int) (int, error) {
	links, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return 0, err
	}
	mine := map[string]bool{}
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			mine[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return 0, err
		}
		n += countPeers(string(b), port, mine)
	}
	return n, nil
}

// countPeers counts the lines of a /proc/net/tcp table that are established
// connections to port whose inode is in inodes.
func countPeers(table string, port int, inodes map[string]bool) int {
	const established = "01"
	n := 0
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != established || !inodes[f[9]] {
			continue
		}
		_, hexPort, ok := strings.Cut(f[2], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
			n++
		}
	}
	return n
}
