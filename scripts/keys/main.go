// Command keys manages the API's keys (docs/API.md, "Keys"), in the local
// stack's key file or in the deployed stack's Secrets Manager secret:
//
//	go run ./scripts/keys create -scopes read,valves:actuate [-assets v-1*,A-North] [-id name]
//	go run ./scripts/keys list
//	go run ./scripts/keys revoke <id>
//
// Every command takes -file (default .localstack/keys.json) or -secret-id
// (the secret's name or ARN, with the default AWS credentials), not both.
// create prints the new key on stdout and nothing else, so it can be piped
// or captured; the key is stored only as a hash and cannot be shown again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/plainview/serverless/shared/adapters/secretstore"
	"github.com/plainview/serverless/shared/api/auth"
)

// defaultFile is the local stack's key file.
const defaultFile = ".localstack/keys.json"

const usage = `usage: go run ./scripts/keys <command> [-file path | -secret-id id] [flags]

commands:
  create -scopes s1,s2 [-assets a1,p*] [-id name]   make a key and print it, once
  list                                              show every key (never a key or its hash)
  revoke <id>                                       disable a key for good

scopes: read, valves:actuate, valves:override, incidents:write, alerts:write, admin
`

func main() {
	d := deps{now: time.Now, secrets: awsSecrets}
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, d); err != nil {
		fmt.Fprintln(os.Stderr, "keys:", err)
		os.Exit(1)
	}
}

// deps is what run takes from the outside world.
type deps struct {
	now func() time.Time
	// secrets gives the Secrets Manager client, built only when -secret-id
	// asks for it: the key file needs no AWS configuration.
	secrets func(ctx context.Context) (secretstore.API, error)
}

func awsSecrets(ctx context.Context) (secretstore.API, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	return secretsmanager.NewFromConfig(cfg), nil
}

// store is where the keyring is kept: auth.FileStore or secretstore.Store.
type store interface {
	Load(ctx context.Context) (auth.Keyring, error)
	Save(ctx context.Context, r auth.Keyring) error
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, d deps) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command: create, list or revoke")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	file := fs.String("file", defaultFile, "the key `file`")
	secretID := fs.String("secret-id", "", "the Secrets Manager `secret` holding the keys (name or ARN)")
	var scopes, assets, id *string
	switch cmd {
	case "create":
		scopes = fs.String("scopes", "", "comma-separated `scopes` of the new key (required)")
		assets = fs.String("assets", "", "comma-separated asset ids or prefixes (v-1*) the key is limited to; default every asset")
		id = fs.String("id", "", "the new key's `id`; default a generated one")
	case "list", "revoke":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		if strings.HasPrefix(cmd, "-") {
			return fmt.Errorf("unknown command %q: the command comes first, then its flags (keys list -file path)", cmd)
		}
		return fmt.Errorf("unknown command %q: want create, list or revoke", cmd)
	}
	operands, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	// Only create may start a key file: listing or revoking in a file
	// that is not there is a wrong path, not an empty keyring.
	st, err := openStore(ctx, fs, *file, *secretID, cmd != "create", d)
	if err != nil {
		return err
	}
	switch cmd {
	case "create":
		if len(operands) > 0 {
			return fmt.Errorf("create takes no arguments, got %q", operands)
		}
		return create(ctx, st, *id, list(*scopes), list(*assets), stdout, stderr, d.now())
	case "list":
		if len(operands) > 0 {
			return fmt.Errorf("list takes no arguments, got %q", operands)
		}
		return show(ctx, st, stdout)
	default: // revoke
		if len(operands) != 1 {
			return fmt.Errorf("revoke takes one key id, got %q", operands)
		}
		return revoke(ctx, st, operands[0], stderr, d.now())
	}
}

// parse parses flags wherever they stand among the operands ("revoke k-1
// -file x" as well as "revoke -file x k-1"), which package flag alone does
// not: it stops at the first operand.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return operands, nil
		}
		operands = append(operands, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func openStore(ctx context.Context, fs *flag.FlagSet, file, secretID string, mustExist bool, d deps) (store, error) {
	fileSet := false
	fs.Visit(func(f *flag.Flag) { fileSet = fileSet || f.Name == "file" })
	switch {
	case fileSet && secretID != "":
		return nil, errors.New("-file and -secret-id both given: use one, the key file or the secret")
	case secretID != "":
		client, err := d.secrets(ctx)
		if err != nil {
			return nil, err
		}
		return secretstore.New(client, secretID), nil
	case file == "":
		return nil, errors.New("-file is empty")
	case mustExist:
		if _, err := os.Stat(file); errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("no key file %s: `make run` makes .localstack/keys.json at its first start; "+
				"elsewhere pass -file, or -secret-id for the deployed stack's keys", file)
		} else if err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
		return auth.FileStore{Path: file}, nil
	default:
		return auth.FileStore{Path: file}, nil
	}
}

// list splits a comma-separated flag value, dropping blanks.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func create(ctx context.Context, st store, id string, scopes, assets []string, stdout, stderr io.Writer, now time.Time) error {
	if len(scopes) == 0 {
		return errors.New("create: -scopes is required (read, valves:actuate, valves:override, incidents:write, alerts:write, admin)")
	}
	ring, err := st.Load(ctx)
	if err != nil {
		return err
	}
	plaintext, k, err := auth.Generate(id, scopes, assets, now)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := ring.Add(k); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := st.Save(ctx, ring); err != nil {
		return err
	}
	// Only once it is stored: a printed key must work.
	fmt.Fprintln(stdout, plaintext)
	fmt.Fprintf(stderr, "Created key %s (scopes %s; assets %s).\n"+
		"The key above cannot be shown again: only its hash is stored. Keep it now.\n",
		k.ID, strings.Join(k.Scopes, ","), assetList(k.Assets))
	return nil
}

func show(ctx context.Context, st store, stdout io.Writer) error {
	ring, err := st.Load(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPES\tASSETS\tCREATED\tDISABLED")
	for _, k := range ring.Keys {
		disabled := "no"
		if k.Disabled {
			disabled = "yes"
			if k.DisabledAt != nil {
				disabled = k.DisabledAt.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, strings.Join(k.Scopes, ","), assetList(k.Assets),
			k.CreatedAt.UTC().Format(time.RFC3339), disabled)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	return nil
}

func assetList(assets []string) string {
	if len(assets) == 0 {
		return "all"
	}
	return strings.Join(assets, ",")
}

func revoke(ctx context.Context, st store, id string, stderr io.Writer, now time.Time) error {
	ring, err := st.Load(ctx)
	if err != nil {
		return err
	}
	if err := ring.Revoke(id, now); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if err := st.Save(ctx, ring); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Revoked key %s. Requests with it fail once the caches expire "+
		"(on AWS by default within 60 s of secret cache plus 60 s of authorizer cache).\n", id)
	return nil
}
