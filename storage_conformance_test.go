package raft_test

import (
	"testing"

	"github.com/tickraft/raft"
	"github.com/tickraft/raft/storagetest"
)

// MemoryStorage keeps the storage contract, as storagetest checks it.
func TestMemoryStorageConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Harness{
		Open: func(testing.TB, string) (storagetest.Store, error) {
			return raft.NewMemoryStorage(), nil
		},
	})
}
