//go:build chaosbugs

package main

// chaosbugs is set in the chaos tests' planted-bug build (-tags chaosbugs):
// $RAFTKV_PLANTED_BUG=ack-before-fsync then makes the wal's fsyncs return
// before the data is durable (see testhooks.go). Never ship this build.
const chaosbugs = true
