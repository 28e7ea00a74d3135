// Command dpop is the DPoP (RFC 9449) developer tool: it runs the end-to-end
// demo and a test server, gets and uses DPoP-bound tokens, and makes and
// checks keys and proofs.
//
// Usage:
//
//	dpop COMMAND [flags] [arguments]
//
// The commands are listed by "dpop help"; "dpop help COMMAND" or
// "dpop COMMAND -h" describes one. The tool is meant for scripts: the result
// goes to standard output and messages to standard error, and the exit
// status is 0 on success, 1 for a rejected proof or a failed operation and
// 2 for a usage error.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dpopkit/dpop"
)

// Exit statuses.
const (
	exitOK    = 0 // success
	exitFail  = 1 // a rejected proof or a failed operation
	exitUsage = 2 // a usage error
)

// maxInput caps what is read for one key, or for one proof line in the
// stdin mode of verify.
const maxInput = 64 << 10

// command is one subcommand of the tool.
type command struct {
	name    string
	summary string // one line, for the list printed by "dpop help"
	// run runs the subcommand with the arguments after its name and
	// returns the exit status. "-h" makes it print its help to stdout and
	// return exitOK.
	run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands is the table of subcommands, in the order "dpop help" lists
// them. "help" itself is built in (see run).
var commands = []command{
	{"keygen", "generate a signing key and print it as a private JWK", runKeygen},
	{"thumbprint", "print the RFC 7638 thumbprint of a public or private JWK", runThumbprint},
	{"proof", "create a DPoP proof for an HTTP request", runProof},
	{"verify", "verify DPoP proofs against the request they came with", runVerify},
	{"inspect", "decode a proof, a JWT, a session file, a JWK or a PEM key, and check a proof", runInspect},
	{"demo", "run a client against the test servers and show every DPoP exchange", runDemo},
	{"serve", "run the test authorization and resource servers (dpoptest)", runServe},
	{"token", "get a DPoP-bound access token from an authorization server", runToken},
	{"login", "log in to an AT Protocol (Bluesky) account and save the session", runLogin},
	{"curl", "call a resource with a saved session's DPoP-bound token", runCurl},
	{"version", "print the version of the tool and of Go", runVersion},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the tool with args (without the program name) and returns the
// exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx := context.Background()
	if len(args) == 0 {
		printCommands(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(ctx, rest, stdin, stdout, stderr)
	}
	if c := lookup(name); c != nil {
		return c.run(ctx, rest, stdin, stdout, stderr)
	}
	if strings.HasPrefix(name, "-") {
		fmt.Fprintf(stderr, "dpop: unknown flag %s (flags go after the command name)\n", quote(name))
	} else {
		fmt.Fprintf(stderr, "dpop: unknown command %s\n", quote(name))
	}
	fmt.Fprintln(stderr, "Run 'dpop help' for the list of commands.")
	return exitUsage
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// runHelp implements "dpop help [COMMAND]".
func runHelp(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0 || len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		printCommands(stdout)
		return exitOK
	case len(args) > 1:
		fmt.Fprintln(stderr, "dpop help: expected at most one command name")
		fmt.Fprintln(stderr, "Usage: dpop help [COMMAND]")
		return exitUsage
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "dpop help: unknown command %s\n", quote(args[0]))
		fmt.Fprintln(stderr, "Run 'dpop help' for the list of commands.")
		return exitUsage
	}
	return c.run(ctx, []string{"-h"}, stdin, stdout, stderr)
}

// printCommands prints the tool's usage and the list of subcommands.
func printCommands(w io.Writer) {
	width := len("help")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	var b strings.Builder
	b.WriteString("dpop runs a DPoP (RFC 9449) demo and test server, gets and uses DPoP-bound\ntokens, and makes and checks keys and proofs.\n\n")
	b.WriteString("Usage:\n  dpop COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, "help", "show the help of a command")
	b.WriteString("\nRun 'dpop help COMMAND' or 'dpop COMMAND -h' for its flags and examples.\n")
	b.WriteString("Results go to standard output, messages to standard error. Exit status:\n")
	b.WriteString("0 success, 1 rejected proof or failed operation, 2 usage error.\n")
	_, _ = io.WriteString(w, b.String())
}

// usage is the help text of a subcommand.
type usage struct {
	name     string // the subcommand's name
	synopsis string // one line: "dpop NAME [flags] ..."
	about    string // what the subcommand does, without a final newline
	examples string // indented example lines, without a final newline
}

// newFlagSet returns the flag set of a subcommand. Parse errors are
// reported on stderr; the usage text itself is printed by parseArgs.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dpop "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args with fs and returns the positional arguments. Flags
// may come before, between or after them; "--" ends the flags. When ok is
// false the caller returns code: exitOK after -h (the help went to stdout),
// exitUsage after a parse error (reported on stderr).
func parseArgs(fs *flag.FlagSet, u *usage, args []string, stdout, stderr io.Writer) (positional []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(stdout, fs, u)
				return nil, exitOK, false
			}
			printUsageHint(stderr, u)
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, 0, true
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), 0, true
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// printUsage prints the full help of a subcommand.
func printUsage(w io.Writer, fs *flag.FlagSet, u *usage) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Usage: %s\n\n%s\n\nFlags:\n", u.synopsis, u.about)
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	fmt.Fprintf(&b, "\nExamples:\n%s\n", u.examples)
	_, _ = w.Write(b.Bytes())
}

func printUsageHint(w io.Writer, u *usage) {
	fmt.Fprintf(w, "Usage: %s\nRun 'dpop %s -h' for details.\n", u.synopsis, u.name)
}

// usageError reports a usage error of a subcommand and returns exitUsage.
func usageError(stderr io.Writer, u *usage, format string, args ...any) int {
	fmt.Fprintf(stderr, "dpop %s: %s\n", u.name, fmt.Sprintf(format, args...))
	printUsageHint(stderr, u)
	return exitUsage
}

// failf reports a failed operation of a subcommand and returns exitFail.
func failf(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "dpop %s: %s\n", name, fmt.Sprintf(format, args...))
	return exitFail
}

// quote quotes s for a message, shortened if long.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

// writeOut writes a result to stdout, reporting a failure on stderr.
func writeOut(stdout, stderr io.Writer, name string, b []byte) int {
	if _, err := stdout.Write(b); err != nil {
		return failf(stderr, name, "writing the result: %v", err)
	}
	return exitOK
}

// readInput reads a key or another small document from the file path, or
// from stdin when path is "" or "-", and trims surrounding whitespace. More
// than maxInput bytes is an error.
func readInput(path string, stdin io.Reader) ([]byte, error) {
	r, what := stdin, "standard input"
	if path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, what = f, path
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s is larger than %d KiB", what, maxInput>>10)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%s is empty", what)
	}
	return data, nil
}

// algValue is a flag holding one supported algorithm.
type algValue dpop.Algorithm

func (a *algValue) String() string { return string(*a) }

func (a *algValue) Set(s string) error {
	alg := dpop.Algorithm(s)
	if !alg.Supported() {
		return fmt.Errorf("unsupported algorithm (supported: %s)", algNames())
	}
	*a = algValue(alg)
	return nil
}

// algsValue is a flag holding a non-empty list of supported algorithms.
type algsValue []dpop.Algorithm

func (l *algsValue) String() string {
	names := make([]string, len(*l))
	for i, a := range *l {
		names[i] = string(a)
	}
	return strings.Join(names, ",")
}

func (l *algsValue) Set(s string) error {
	algs, err := dpop.ParseAlgorithms(s)
	if err != nil {
		return fmt.Errorf("%s (supported: %s)", err, algNames())
	}
	if len(algs) == 0 {
		return errors.New("empty algorithm list")
	}
	*l = algs
	return nil
}

// algNames lists the supported algorithms for messages.
func algNames() string {
	l := algsValue(dpop.DefaultAlgorithms())
	return l.String()
}

// maxUnix is the largest time a -now or -iat flag accepts: the end of the
// year 9999, the largest iat a verifier accepts.
const maxUnix = 253402300799

// unixValue is a flag holding a time as whole seconds since the Unix epoch.
type unixValue struct {
	t   time.Time
	set bool
}

func (u *unixValue) String() string {
	if !u.set {
		return ""
	}
	return strconv.FormatInt(u.t.Unix(), 10)
}

func (u *unixValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxUnix {
		return errors.New("not a Unix time in seconds")
	}
	u.t, u.set = time.Unix(n, 0), true
	return nil
}

// checkRequest validates the -method, -url and -nonce flags shared by proof
// and verify. It returns a message for a usage error, or "".
func checkRequest(method, url, nonce string) string {
	switch {
	case method == "":
		return "-method is required"
	case !dpop.IsToken(method):
		return "-method is not an HTTP method token"
	case url == "":
		return "-url is required"
	}
	if _, err := dpop.NormalizeURL(url); err != nil {
		return "invalid -url: " + err.Error()
	}
	if nonce != "" && !dpop.IsValidNonce(nonce) {
		return "-nonce has characters a nonce cannot have (RFC 9449 §8.1)"
	}
	return ""
}

// commandContext bounds ctx by timeout and ends it on Ctrl-C or SIGTERM,
// for the commands that talk to servers.
func commandContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	return ctx, func() { stop(); cancel() }
}
