// Command provision registers one inventory device with AWS IoT Core, so
// that it (or the simulator standing in for it) can connect:
//
//	go run ./scripts/provision -device v-101 [-environment development] [-out .aws-iot/v-101]
//
// It creates the thing (named by the device id, of the stack's thing type,
// with the device's kind and asset as attributes; an existing thing is
// reused), a new certificate and key pair, attaches the stack's device
// policy and the thing to the certificate, and writes into -out what the
// simulator needs: the certificate, the private key (mode 0600) and a
// devices file for this one device. It prints the simulator's command
// line. The device must be in the inventory, which it reads from the table
// named by TABLE_NAME. The AWS credentials and region are the default
// chain's (AWS_PROFILE, AWS_REGION, ...). docs/DEPLOYMENT.md has the whole
// procedure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/lambda/config"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, awsIoT, openInventory)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

// Inventory finds a device of the inventory; a retired or unknown one is
// domain.ErrNotFound.
type Inventory interface {
	Device(ctx context.Context, id string) (domain.Device, error)
}

// openInventory is the deployment's table, named by TABLE_NAME, through
// the default AWS configuration, or through DYNAMODB_ENDPOINT for a local
// table (as scripts/deadletters).
func openInventory(ctx context.Context) (Inventory, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if cfg.DynamoDBEndpoint != "" {
		return store.New(store.NewClient(store.LocalConfig(), cfg.DynamoDBEndpoint), cfg.TableName, nil), nil
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	return store.New(store.NewClient(aws, ""), cfg.TableName, nil), nil
}

// awsIoT is the IoT client of the default AWS configuration.
func awsIoT(ctx context.Context) (IoTAPI, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION (the stack's region)")
	}
	return iot.NewFromConfig(cfg), nil
}

// The files written into -out, named as AWS IoT's console names them.
const (
	certFile    = "certificate.pem.crt"
	keyFile     = "private.pem.key"
	devicesFile = "devices.json"
	// rootCAFile is where the printed command expects Amazon Root CA 1;
	// provisioning cannot fetch it (see caHelp).
	rootCAFile = "AmazonRootCA1.pem"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer, client func(context.Context) (IoTAPI, error), inventory func(context.Context) (Inventory, error)) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	device := fs.String("device", "", "inventory device id to register, e.g. v-101 or A-North (required)")
	environment := fs.String("environment", "development", "the stack's environment: development or production; names the thing type and policy")
	policy := fs.String("policy", "", "IoT policy for the certificate; default the stack's (output DevicePolicyName)")
	thingType := fs.String("thing-type", "", "thing type; default the stack's (output ThingTypeName)")
	out := fs.String("out", "", "folder for the certificate, key and devices file; default .aws-iot/<device>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	if *environment != "development" && *environment != "production" {
		return fmt.Errorf("-environment %q: want development or production", *environment)
	}
	if *policy == "" {
		*policy = spec.DevicePolicyName(*environment)
	}
	if *thingType == "" {
		*thingType = spec.ThingTypeName(*environment)
	}
	// What IoT accepts as a thing type or policy name.
	iotName := regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	for flagName, v := range map[string]string{"-policy": *policy, "-thing-type": *thingType} {
		if !iotName.MatchString(v) {
			return fmt.Errorf("%s %q is not an IoT name (letters, digits, _ : -, at most 128)", flagName, v)
		}
	}
	if !domain.ValidID(*device) {
		return fmt.Errorf("-device %q: an inventory device id is required, e.g. v-101", *device)
	}
	inv, err := inventory(ctx)
	if err != nil {
		return err
	}
	dev, err := inv.Device(ctx, *device)
	if errors.Is(err, domain.ErrNotFound) {
		// Ingest refuses what an unknown device sends, and the admin
		// routes are where a device joins the inventory.
		return fmt.Errorf("-device %q is not in the inventory (or was retired): register it first with POST /valves or POST /pipeline/sections", *device)
	}
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if *out == "" {
		*out = filepath.Join(".aws-iot", dev.ID)
	}
	// The folder is made and tried before AWS is asked for anything: a
	// private key AWS hands out once must have somewhere to go.
	if err := writableDir(*out); err != nil {
		return err
	}

	c, err := client(ctx)
	if err != nil {
		return err
	}
	res, err := NewProvisioner(c).Provision(ctx, Request{Device: dev, ThingType: *thingType, Policy: *policy})
	if err != nil {
		return err
	}
	if err := writeFiles(*out, dev, res); err != nil {
		return fmt.Errorf("%w; certificate %s is active and attached but its key was not saved: revoke it with "+
			"aws iot update-certificate --certificate-id %s --new-status REVOKED and run this again", err, res.CertificateID, res.CertificateID)
	}
	report(stdout, *out, dev, *thingType, *policy, res)
	return nil
}

// writableDir makes dir (owner only: it will hold a private key) and
// checks that a file can be created in it.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	f, err := os.CreateTemp(dir, ".provision-check-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// simulatorDevices is the simulator's -devices file (scripts/simulator):
// the device without a token, since IoT Core takes the certificate.
type simulatorDevices struct {
	Devices []simulatorDevice `json:"devices"`
}

type simulatorDevice struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Asset string `json:"asset"`
}

func writeFiles(dir string, d domain.Device, res Result) error {
	devices, err := json.MarshalIndent(simulatorDevices{Devices: []simulatorDevice{{ID: d.ID, Kind: d.Kind, Asset: d.Asset}}}, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyFile, []byte(res.PrivateKeyPEM), 0o600},
		{certFile, []byte(res.CertificatePEM), 0o644},
		{devicesFile, append(devices, '\n'), 0o644},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes a temporary file beside path with mode and renames it
// over path, so a re-run replaces the old files whole or not at all; the
// key is never readable by others, not even before the rename.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// caHelp says where the broker's CA comes from: it is public, but this
// command does not download anything.
const caHelp = `Amazon Root CA 1 signs the iot:Data-ATS endpoint's certificate. Put it at %s:
  https://www.amazontrust.com/repository/AmazonRootCA1.pem (AWS IoT Core docs, "Server authentication"),
  or copy /etc/ssl/certs/Amazon_Root_CA_1.pem where the ca-certificates package is installed;
  or leave out -ca: the simulator then trusts the system's CAs, which include it on most systems.
`

func report(w io.Writer, dir string, d domain.Device, thingType, policy string, res Result) {
	if res.ThingCreated {
		fmt.Fprintf(w, "Thing %s created (type %s, kind %s, asset %s).\n", d.ID, thingType, d.Kind, d.Asset)
	} else {
		fmt.Fprintf(w, "Thing %s exists (type %s): reused.\n", d.ID, thingType)
	}
	fmt.Fprintf(w, "New certificate %s created, active, with policy %s, attached to %s.\n", res.CertificateID, policy, d.ID)
	if len(res.EarlierPrincipals) > 0 {
		fmt.Fprintf(w, "The thing's earlier certificates still work until revoked:\n")
		for _, p := range res.EarlierPrincipals {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintf(w, "Wrote %s, %s (mode 0600) and %s in %s.\n\n", certFile, keyFile, devicesFile, dir)
	fmt.Fprintf(w, caHelp, filepath.Join(dir, rootCAFile))
	fmt.Fprintf(w, "\nRun the simulator as this device:\n")
	fmt.Fprintf(w, "  go run ./scripts/simulator -url ssl://%s:8883 -devices %s -cert %s -key %s -ca %s\n",
		res.Endpoint, filepath.Join(dir, devicesFile), filepath.Join(dir, certFile), filepath.Join(dir, keyFile), filepath.Join(dir, rootCAFile))
}
