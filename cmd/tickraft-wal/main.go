// Command tickraft-wal inspects, verifies and repairs the write-ahead log
// of package wal, for operators.
//
//	tickraft-wal inspect [-json] DIR   segments, entries, hard state, snapshot, damage
//	tickraft-wal verify DIR            exit 1 if Open would refuse the log
//	tickraft-wal repair [-yes] DIR     cut the log at its first damage, keeping a copy
//
// inspect and verify only read: they take no lock and write nothing, so they
// may run beside a live node (whose tail may then be mid-write). A torn tail
// (the unfinished write of a crash) is reported but is not an error: Open
// cuts it by itself. Corruption is anything else Open refuses: verify exits
// 1 and names the file and offset.
//
// repair runs wal.Repair, which cuts the log at its first damage, torn or
// not, and moves what it cut into DIR/repair-<segment>-<offset>. Records
// after the damage are lost even though they were once acknowledged as
// durable: a Raft node repaired this way may have forgotten entries and votes
// it promised. Without -yes it only says what is wrong. It takes the
// directory's lock, so it refuses while a node has the log open.
//
// Exit status: 0 success (for verify: the log opens), 1 corruption found
// (verify) or an operation failed, 2 a usage error or a repair refused for
// want of -yes.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/tickraft/raft/wal"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	usageHeader = "usage: tickraft-wal inspect [-json] DIR | verify DIR | repair [-yes] DIR"
)

// action runs a subcommand on dir, results to out and errors to errs, and
// returns the exit status.
type action func(dir string, out, errs io.Writer) int

// commands define each subcommand's flags on fl and return its action.
var commands = map[string]func(fl *flag.FlagSet) action{
	"inspect": func(fl *flag.FlagSet) action {
		asJSON := fl.Bool("json", false, "print the inspection as JSON")
		return func(dir string, out, errs io.Writer) int { return inspect(dir, *asJSON, out, errs) }
	},
	"verify": func(*flag.FlagSet) action { return verify },
	"repair": func(fl *flag.FlagSet) action {
		yes := fl.Bool("yes", false, "really cut the log (without it, only report)")
		return func(dir string, out, errs io.Writer) int { return repair(dir, *yes, out, errs) }
	},
}

// run is the command line: args without the program name. Results go to
// stdout, errors to stderr; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usageHeader)
		return exitUsage
	}
	define, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tickraft-wal: unknown command %q\n%s\n", args[0], usageHeader)
		return exitUsage
	}
	fl := flag.NewFlagSet("tickraft-wal "+args[0], flag.ContinueOnError)
	fl.SetOutput(stderr)
	do := define(fl)
	if err := fl.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if fl.NArg() != 1 {
		fmt.Fprintf(stderr, "tickraft-wal %s: want one directory, got %d arguments\n%s\n", args[0], fl.NArg(), usageHeader)
		return exitUsage
	}
	return do(fl.Arg(0), stdout, stderr)
}

func inspect(dir string, asJSON bool, out, errs io.Writer) int {
	ins, err := wal.Inspect(dir, wal.Options{})
	if err != nil {
		fmt.Fprintf(errs, "tickraft-wal: %v\n", err)
		return exitFailed
	}
	if asJSON {
		b, _ := json.MarshalIndent(ins, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
		return exitOK
	}
	printInspection(out, ins)
	return exitOK
}

func printInspection(out io.Writer, ins *wal.Inspection) {
	fmt.Fprintf(out, "directory: %s\n", ins.Dir)
	if ins.InUse {
		fmt.Fprintln(out, "in use: a WAL has it open; its tail may be changing")
	}
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "segment\tsize\tused\trecords\tentries")
	for _, s := range ins.Segments {
		switch {
		case s.Unused:
			fmt.Fprintf(tw, "%s\t%d\t-\t-\tunused (prepared or torn at its start; Open removes it)\n", s.File, s.Size)
		case s.NotRead:
			fmt.Fprintf(tw, "%s\t%d\t-\t-\tnot read (after the corruption)\n", s.File, s.Size)
		default:
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d (seq %d-%d)\t%s\n", s.File, s.Size, s.Used, s.Records, s.FirstSeq, s.LastSeq, span(s.FirstIndex, s.LastIndex))
		}
	}
	tw.Flush()
	if ins.LastIndex >= ins.FirstIndex {
		fmt.Fprintf(out, "entries: %d-%d (%d)\n", ins.FirstIndex, ins.LastIndex, ins.LastIndex-ins.FirstIndex+1)
	} else {
		fmt.Fprintf(out, "entries: none (the log starts after %d)\n", ins.LastIndex)
	}
	hs := ins.HardState
	fmt.Fprintf(out, "hard state: term %d, vote %d, commit %d\n", hs.Term, hs.Vote, hs.Commit)
	if s := ins.Snapshot; s != nil {
		fmt.Fprintf(out, "snapshot: index %d, term %d, %d bytes of data, voters %v", s.Index, s.Term, s.DataBytes, s.Voters)
		if len(s.Learners) > 0 {
			fmt.Fprintf(out, ", learners %v", s.Learners)
		}
		if len(s.VotersOutgoing) > 0 {
			fmt.Fprintf(out, ", outgoing voters %v", s.VotersOutgoing)
		}
		fmt.Fprintf(out, " (%s)\n", s.File)
	} else {
		fmt.Fprintln(out, "snapshot: none")
	}
	if d := ins.TornTail; d != nil {
		fmt.Fprintf(out, "torn tail: %s at offset %d: %s (%d bytes; Open cuts them)\n", d.File, d.Offset, d.Reason, d.Bytes)
	}
	if d := ins.Corruption; d != nil {
		fmt.Fprintf(out, "CORRUPT: %s at offset %d: %s\n", d.File, d.Offset, d.Reason)
		fmt.Fprintln(out, "Open refuses this log; the state above is what the records before the damage hold.")
	}
}

func span(first, last uint64) string {
	if first == 0 {
		return "-"
	}
	return fmt.Sprintf("%d-%d", first, last)
}

func verify(dir string, out, errs io.Writer) int {
	ins, err := wal.Inspect(dir, wal.Options{})
	if err != nil {
		fmt.Fprintf(errs, "tickraft-wal: %v\n", err)
		return exitFailed
	}
	if d := ins.Corruption; d != nil {
		fmt.Fprintf(out, "%s: CORRUPT: %s at offset %d: %s\n", dir, d.File, d.Offset, d.Reason)
		return exitFailed
	}
	fmt.Fprintf(out, "%s: ok: %d segments, entries up to %d, term %d\n", dir, len(ins.Segments), ins.LastIndex, ins.HardState.Term)
	if d := ins.TornTail; d != nil {
		fmt.Fprintf(out, "%s: torn tail at %s offset %d (%s): Open cuts it\n", dir, d.File, d.Offset, d.Reason)
	}
	return exitOK
}

func repair(dir string, yes bool, out, errs io.Writer) int {
	if !yes {
		ins, err := wal.Inspect(dir, wal.Options{})
		if err != nil {
			fmt.Fprintf(errs, "tickraft-wal: %v\n", err)
			return exitFailed
		}
		switch {
		case ins.Corruption != nil:
			d := ins.Corruption
			fmt.Fprintf(out, "%s: CORRUPT: %s at offset %d: %s\n", dir, d.File, d.Offset, d.Reason)
		case ins.TornTail != nil:
			d := ins.TornTail
			fmt.Fprintf(out, "%s: torn tail at %s offset %d (%s); Open cuts it without repair\n", dir, d.File, d.Offset, d.Reason)
		default:
			fmt.Fprintf(out, "%s: no damage found\n", dir)
		}
		fmt.Fprintln(out, "repair cuts the log at its first damage, keeping a copy of what it cuts; records after it are lost")
		fmt.Fprintln(out, "although acknowledged as durable (see go doc github.com/tickraft/raft/wal.Repair).")
		fmt.Fprintln(errs, "tickraft-wal: refusing to repair without -yes")
		return exitUsage
	}
	rep, err := wal.Repair(dir, wal.Options{})
	if err != nil {
		fmt.Fprintf(errs, "tickraft-wal: repair of %s: %v\n", dir, err)
		if errors.Is(err, wal.ErrCorrupt) {
			fmt.Fprintln(errs, "tickraft-wal: a damaged snapshot file is not repaired: restore it from a copy")
		}
		return exitFailed
	}
	if rep.File == "" {
		fmt.Fprintf(out, "%s: no damage found; nothing cut\n", dir)
		return exitOK
	}
	fmt.Fprintf(out, "%s: cut at %s offset %d: %s\n", dir, rep.File, rep.Offset, rep.Reason)
	fmt.Fprintf(out, "%d bytes moved out of the log into %s\n", rep.BytesCut, rep.SavedTo)
	fmt.Fprintln(out, "entries and votes recorded after the cut are gone: if this node acknowledged them, remove it from")
	fmt.Fprintln(out, "the cluster and add it back empty, unless a majority still holds them.")
	return exitOK
}
