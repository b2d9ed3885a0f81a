package cluster

// Hooks for the chaos tests (examples/raftkv/chaos): process signals other
// than kill and stop (pauses).

import "syscall"

// Signal sends sig to the node's process (SIGSTOP, SIGCONT); a node not
// running is left alone.
func (n *Node) Signal(sig syscall.Signal) error {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	return cmd.Process.Signal(sig)
}
