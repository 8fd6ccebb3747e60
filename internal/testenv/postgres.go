// Package testenv runs the real parts the tests, benchmarks and the demo need:
// a PostgreSQL server from the machine's own binaries and a kube-apiserver with
// etcd built from the Go module proxy (hack/test-tools.sh), both on loopback,
// both in temporary directories that are removed on Stop.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL server. It listens on 127.0.0.1 on a free
// port, trusts local connections and keeps its data in a temporary directory.
type Postgres struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// User is the database superuser.
	User string

	binDir string
	dir    string
	cred   *syscall.Credential
	args   []string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the server process ends.
	exited chan struct{}
}

// PostgresOptions tunes the server. The zero value is fine for tests.
type PostgresOptions struct {
	// Settings are extra `-c name=value` server settings.
	Settings map[string]string
}

// StartPostgres initialises a new cluster and starts it.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "orphans-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{binDir: binDir, dir: dir, User: "orphans"}
	ok := false
	defer func() {
		if !ok {
			p.Stop()
		}
	}()
	// PostgreSQL refuses to run as root; CI runs as root, so the server runs
	// as an unprivileged account that owns the data directory.
	if os.Geteuid() == 0 {
		cred, err := unprivilegedCredential()
		if err != nil {
			return nil, err
		}
		p.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p.Port = port

	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", p.dataDir(), "-U", p.User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": dir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         "200",
		"log_min_messages":        "warning",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable command line, easier to read in ps
	var args []string
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	p.args = append([]string{"-D", p.dataDir(), "-p", strconv.Itoa(p.Port)}, args...)
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// DSN returns a connection string for database db.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", p.User, p.Port, db)
}

// Start starts the server process (again, after Stop or Kill) and waits until it
// accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("postgres: already running")
	}
	logf, err := os.OpenFile(filepath.Join(p.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"), p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := StartProcess(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited

	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, p.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			p.cmd = nil
			return fmt.Errorf("postgres exited during start-up; log:\n%s", trimLines(p.Log(), 30))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres did not accept connections: %w; log:\n%s", err, trimLines(p.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Halt stops the server with a fast shutdown (open connections are closed) and
// keeps its data, so Start brings the same database back.
func (p *Postgres) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	p.cmd = nil
	return nil
}

// Stop halts the server and removes its data.
func (p *Postgres) Stop() {
	_ = p.Halt()
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}

// Log returns the server log so far.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "postgres.log"))
	return string(b)
}

// CreateDatabase creates an empty database and returns its DSN.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return p.DSN(name), nil
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }

// postgresBinDir finds the server binaries: $ORPHANS_PG_BINDIR, then the
// newest /usr/lib/postgresql/*/bin (Debian), then initdb on PATH.
func postgresBinDir() (string, error) {
	if d := os.Getenv("ORPHANS_PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries found: install the postgresql package (apt-get install postgresql) or set ORPHANS_PG_BINDIR")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func unprivilegedCredential() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody account exists to run PostgreSQL as")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// trimLines keeps the last n lines of s.
func trimLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StartStandby starts a streaming hot standby of p: a base backup taken with
// pg_basebackup, then a server of its own that replays p's WAL as it comes.
// settings add to p's.
func (p *Postgres) StartStandby(ctx context.Context, settings map[string]string) (*Postgres, error) {
	dir, err := os.MkdirTemp("", "orphans-pg-standby-")
	if err != nil {
		return nil, err
	}
	s := &Postgres{binDir: p.binDir, dir: dir, User: p.User, cred: p.cred}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if s.Port, err = FreePort(); err != nil {
		return nil, err
	}
	backup := exec.CommandContext(ctx, filepath.Join(p.binDir, "pg_basebackup"), "-D", s.dataDir(),
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", p.User, "-X", "stream", "--checkpoint=fast", "--write-recovery-conf", "--no-sync")
	backup.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := backup.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_basebackup: %w\n%s", err, out)
	}
	args := slices.Clone(p.args)
	for i := 0; i+1 < len(args); i++ {
		switch {
		case args[i] == "-D":
			args[i+1] = s.dataDir()
		case args[i] == "-p":
			args[i+1] = strconv.Itoa(s.Port)
		case strings.HasPrefix(args[i+1], "unix_socket_directories="):
			args[i+1] = "unix_socket_directories=" + dir
		}
	}
	for k, v := range settings {
		args = append(args, "-c", k+"="+v)
	}
	s.args = args
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}
