package ledger

import (
	"strings"
	"testing"
)

func TestCheckTransport(t *testing.T) {
	t.Setenv("PGSSLMODE", "")
	t.Setenv("PGHOST", "")
	for _, tc := range []struct {
		dsn string
		ok  bool
	}{
		{"postgres://u@127.0.0.1/db?sslmode=disable", true},
		{"postgres://u@localhost/db", true},
		{"postgres://u@[::1]:5432/db?sslmode=disable", true},
		{"host=/var/run/postgresql dbname=db", true},
		{"postgres://u@ledger.internal/db?sslmode=verify-full", true},
		{"postgres://u@ledger.internal/db?sslmode=verify-ca", true},
		{"postgres://u@ledger.internal/db?sslmode=require", false},
		{"postgres://u@ledger.internal/db?sslmode=prefer", false},
		{"postgres://u@ledger.internal/db?sslmode=disable", false},
		{"postgres://u@ledger.internal/db", false},
		// every host of a list must qualify
		{"postgres://u@127.0.0.1,ledger.internal/db?sslmode=disable", false},
		{"postgres://u@ledger-a,ledger-b/db?sslmode=verify-full", true},
		// hostaddr is where the connection goes
		{"host=localhost hostaddr=10.1.2.3 dbname=db sslmode=disable", false},
	} {
		err := CheckTransport(tc.dsn)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.dsn, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "verify-full") {
			t.Errorf("%s: error does not say what to do: %v", tc.dsn, err)
		}
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv("PGHOST", "ledger.internal")
		if err := CheckTransport("dbname=db sslmode=require"); err == nil {
			t.Fatal("PGHOST to a remote host without verification accepted")
		}
		t.Setenv("PGSSLMODE", "verify-full")
		if err := CheckTransport("dbname=db"); err != nil {
			t.Fatalf("PGSSLMODE=verify-full: %v", err)
		}
	})
}
