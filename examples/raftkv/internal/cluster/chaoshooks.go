package cluster

// Hooks for the chaos tests (examples/raftkv/chaos): process signals other
// than the kill and stop above, and noticing a node that exited by itself.

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

// Exited reports whether the node's process ended by itself (it still
// counts as running until Kill or Stop reaps it), and its exit error.
func (n *Node) Exited() (bool, error) {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false, nil
	}
	select {
	case <-done:
		return true, n.exitErr()
	default:
		return false, nil
	}
}
