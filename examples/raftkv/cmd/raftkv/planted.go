//go:build !chaosbugs

package main

// chaosbugs is set in the chaos tests' planted-bug build (-tags chaosbugs).
const chaosbugs = false
