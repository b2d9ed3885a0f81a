// Command raftkv-cli calls every raftkv operation and admin call.
//
//	raftkv-cli [-endpoints host:port,...] [-client-addrs host:port,...] [-json] [-timeout 10s]
//	           [-tls-ca ca.pem -tls-cert cert.pem -tls-key key.pem] COMMAND ARGS
//
// Commands:
//
//	put KEY VALUE             get KEY [linearizable|lease|stale]
//	delete KEY                cas KEY VERSION VALUE
//	put-if-absent KEY VALUE   scan [-prefix P] [-start S] [-end E] [-limit N]
//	init                      add-learner ID RAFT_ADDR API_ADDR [-wait]
//	change-membership ID...   remove ID
//	transfer-leader ID        status [API_ADDR]
//
// init and status go to the first endpoint (or the address given); the
// rest find the leader. Errors print their code and exit with status 1.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// cli is one invocation.
type cli struct {
	c        *client.Client
	ctx      context.Context
	json     bool
	first    string
	out      io.Writer
	commands map[string]command
}

type command struct {
	usage string
	run   func(args []string) (any, error)
}

func run(argv []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("raftkv-cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoints := fs.String("endpoints", "127.0.0.1:8001", "comma-separated API addresses")
	clientAddrs := fs.String("client-addrs", "", "comma-separated binary client protocol addresses (the nodes' -client-addr): key operations use that protocol")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of the whole call, retries included")
	cert := fs.String("tls-cert", "", "client certificate (HTTPS with mutual TLS)")
	key := fs.String("tls-key", "", "client key")
	ca := fs.String("tls-ca", "", "CA that signed the nodes' certificates")
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	var opts client.Options
	if *ca != "" {
		t, err := loadTLS(*cert, *key, *ca)
		if err != nil {
			fmt.Fprintln(stderr, "raftkv-cli:", err)
			return 2
		}
		opts.TLS = t
	}
	if *clientAddrs != "" {
		opts.ClientAddrs = strings.Split(*clientAddrs, ",")
	}
	eps := strings.Split(*endpoints, ",")
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := &cli{c: client.New(eps, opts), ctx: ctx, json: *asJSON, first: eps[0], out: stdout}
	c.commands = c.table()
	args := fs.Args()
	if len(args) == 0 {
		c.usage(stderr)
		return 2
	}
	cmd, ok := c.commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "raftkv-cli: unknown command %q\n", args[0])
		c.usage(stderr)
		return 2
	}
	res, err := cmd.run(args[1:])
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "usage: raftkv-cli %s %s\n", args[0], cmd.usage)
		return 2
	case err != nil:
		c.printError(stderr, err)
		return 1
	}
	c.print(res)
	return 0
}

type usageError struct{}

func (usageError) Error() string { return "usage" }

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: raftkv-cli [-endpoints a,b,c] [-json] [-timeout d] COMMAND ARGS; commands:")
	for _, name := range []string{"put", "get", "delete", "cas", "put-if-absent", "scan", "init", "add-learner", "change-membership", "remove", "transfer-leader", "status"} {
		fmt.Fprintf(w, "  %s %s\n", name, c.commands[name].usage)
	}
}

func (c *cli) table() map[string]command {
	return map[string]command{
		"put":               {"KEY VALUE", c.put},
		"get":               {"KEY [linearizable|lease|stale]", c.get},
		"delete":            {"KEY", c.del},
		"cas":               {"KEY VERSION VALUE", c.cas},
		"put-if-absent":     {"KEY VALUE", c.putIfAbsent},
		"scan":              {"[-prefix P] [-start S] [-end E] [-limit N] [-consistency C]", c.scan},
		"init":              {"", c.init},
		"add-learner":       {"[-wait] ID RAFT_ADDR API_ADDR", c.addLearner},
		"change-membership": {"ID...", c.changeMembership},
		"remove":            {"ID", c.remove},
		"transfer-leader":   {"ID", c.transfer},
		"status":            {"[API_ADDR]", c.status},
	}
}

// Results that print themselves for people.
type (
	written struct {
		api.WriteResponse
	}
	got     struct{ api.GetResponse }
	scanned struct{ api.ScanResponse }
	status  struct{ api.Status }
)

func (c *cli) put(a []string) (any, error) {
	if len(a) != 2 {
		return nil, usageError{}
	}
	v, err := c.c.Put(c.ctx, a[0], a[1])
	return written{api.WriteResponse{Op: "put", Key: a[0], Version: v}}, err
}

func (c *cli) putIfAbsent(a []string) (any, error) {
	if len(a) != 2 {
		return nil, usageError{}
	}
	v, err := c.c.PutIfAbsent(c.ctx, a[0], a[1])
	return written{api.WriteResponse{Op: "put-if-absent", Key: a[0], Version: v}}, err
}

func (c *cli) cas(a []string) (any, error) {
	if len(a) != 3 {
		return nil, usageError{}
	}
	ver, err := strconv.ParseUint(a[1], 10, 64)
	if err != nil {
		return nil, usageError{}
	}
	v, err := c.c.CAS(c.ctx, a[0], a[2], ver)
	return written{api.WriteResponse{Op: "cas", Key: a[0], Version: v}}, err
}

func (c *cli) del(a []string) (any, error) {
	if len(a) != 1 {
		return nil, usageError{}
	}
	existed, err := c.c.Delete(c.ctx, a[0])
	return written{api.WriteResponse{Op: "delete", Key: a[0], Existed: existed}}, err
}

func (c *cli) get(a []string) (any, error) {
	if len(a) < 1 || len(a) > 2 {
		return nil, usageError{}
	}
	var cons client.Consistency
	if len(a) == 2 {
		cons = client.Consistency(a[1])
	}
	r, err := c.c.Get(c.ctx, a[0], cons)
	return got{r}, err
}

func (c *cli) scan(a []string) (any, error) {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o client.ScanOptions
	var cons string
	fs.StringVar(&o.Prefix, "prefix", "", "")
	fs.StringVar(&o.Start, "start", "", "")
	fs.StringVar(&o.End, "end", "", "")
	fs.IntVar(&o.Limit, "limit", 0, "")
	fs.StringVar(&cons, "consistency", "", "")
	if fs.Parse(a) != nil || fs.NArg() != 0 {
		return nil, usageError{}
	}
	o.Consistency = client.Consistency(cons)
	r, err := c.c.Scan(c.ctx, o)
	return scanned{r}, err
}

func (c *cli) init(a []string) (any, error) {
	if len(a) != 0 {
		return nil, usageError{}
	}
	s, err := c.c.Init(c.ctx, c.first)
	return status{s}, err
}

func (c *cli) addLearner(a []string) (any, error) {
	fs := flag.NewFlagSet("add-learner", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	wait := fs.Bool("wait", false, "")
	if fs.Parse(a) != nil || fs.NArg() != 3 {
		return nil, usageError{}
	}
	id, err := strconv.ParseUint(fs.Arg(0), 10, 64)
	if err != nil {
		return nil, usageError{}
	}
	s, err := c.c.AddLearner(c.ctx, id, fs.Arg(1), fs.Arg(2), *wait)
	return status{s}, err
}

func ids(a []string) ([]uint64, error) {
	var out []uint64
	for _, s := range a {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || id == 0 {
			return nil, usageError{}
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, usageError{}
	}
	return out, nil
}

func (c *cli) changeMembership(a []string) (any, error) {
	v, err := ids(a)
	if err != nil {
		return nil, err
	}
	s, err := c.c.ChangeMembership(c.ctx, v...)
	return status{s}, err
}

func (c *cli) remove(a []string) (any, error) {
	v, err := ids(a)
	if err != nil || len(v) != 1 {
		return nil, usageError{}
	}
	s, err := c.c.Remove(c.ctx, v[0])
	return status{s}, err
}

func (c *cli) transfer(a []string) (any, error) {
	v, err := ids(a)
	if err != nil || len(v) != 1 {
		return nil, usageError{}
	}
	s, err := c.c.TransferLeader(c.ctx, v[0])
	return status{s}, err
}

func (c *cli) status(a []string) (any, error) {
	if len(a) > 1 {
		return nil, usageError{}
	}
	node := c.first
	if len(a) == 1 {
		node = a[0]
	}
	s, err := c.c.Status(c.ctx, node)
	return status{s}, err
}

// print writes a result as JSON or for people.
func (c *cli) print(res any) {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		switch r := res.(type) {
		case written:
			enc.Encode(r.WriteResponse)
		case got:
			enc.Encode(r.GetResponse)
		case scanned:
			enc.Encode(r.ScanResponse)
		case status:
			enc.Encode(r.Status)
		}
		return
	}
	switch r := res.(type) {
	case written:
		if r.Op == "delete" {
			fmt.Fprintf(c.out, "deleted %s (existed: %v)\n", r.Key, r.Existed)
			return
		}
		fmt.Fprintf(c.out, "OK %s %s version %d\n", r.Op, r.Key, r.Version)
	case got:
		fmt.Fprintf(c.out, "%s\n(version %d, %s read at index %d)\n", r.Value, r.Version, r.Consistency, r.ReadIndex)
	case scanned:
		w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KEY\tVERSION\tVALUE")
		for _, kv := range r.KVs {
			fmt.Fprintf(w, "%s\t%d\t%s\n", kv.Key, kv.Version, kv.Value)
		}
		w.Flush()
		if r.More {
			fmt.Fprintln(c.out, "(more: raise -limit)")
		}
	case status:
		printStatus(c.out, r.Status)
	}
}

func printStatus(out io.Writer, s api.Status) {
	leader := "none"
	if s.Leader != nil {
		leader = fmt.Sprintf("node %d (%s)", s.Leader.ID, s.Leader.APIAddr)
	}
	fmt.Fprintf(out, "node %d (cluster %d): %s, term %d, leader %s\n", s.NodeID, s.ClusterID, s.Role, s.Term, leader)
	fmt.Fprintf(out, "indexes: commit %d, applied %d, snapshot %d, last %d\n", s.Commit, s.Applied, s.Snapshot, s.LastIndex)
	if s.Error != "" {
		fmt.Fprintf(out, "failed: %s\n", s.Error)
	}
	if len(s.Members) == 0 {
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tROLE\tRAFT\tAPI\tMATCH\tLAG\tSTATE")
	for _, m := range s.Members {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", m.ID, m.Role, m.RaftAddr, m.APIAddr, m.Match, m.Lag, m.State)
	}
	w.Flush()
}

func (c *cli) printError(w io.Writer, err error) {
	var e *client.Error
	if c.json && errors.As(err, &e) {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		enc.Encode(e)
		return
	}
	if errors.As(err, &e) {
		fmt.Fprintf(w, "error %s: %s\n", e.Code, e.Message)
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
}

func loadTLS(cert, key, ca string) (*tls.Config, error) {
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", ca)
	}
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
