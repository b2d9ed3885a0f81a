// Package transport carries raft messages and snapshots between the nodes of
// a cluster: a Transport interface the runtime codes against, an in-memory
// implementation with fault injection for tests (MemNetwork), and a TCP
// implementation (see TCP, added next).
package transport
