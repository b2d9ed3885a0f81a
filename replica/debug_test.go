package replica

import (
	"log/slog"
	"os"
)

// testLogger logs to stderr when REPLICA_LOG is set, for debugging.
func testLogger() *slog.Logger {
	if os.Getenv("REPLICA_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
