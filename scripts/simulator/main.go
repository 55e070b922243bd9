// Command simulator runs Plainview's field devices against an MQTT broker:
// the local stack's, whose devices file (.localstack/devices.json, written
// by make run) holds every device's login, or AWS IoT Core with a client
// certificate (-url ssl://<endpoint>:8883 -cert -key -ca). Valves carry out
// the commands they are sent and report telemetry; gauges report pressure;
// now and then a device reports a leak. Ctrl-C (or -duration) stops it,
// and it prints what the devices sent.
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
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/local/simulator"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "tcp://127.0.0.1:1883", "MQTT broker: tcp://host:port, or ssl://<endpoint>:8883 for AWS IoT Core")
	devicesFile := fs.String("devices", ".localstack/devices.json", `devices to simulate: {"devices":[{"id","kind","asset","token"}]}`)
	certFile := fs.String("cert", "", "client certificate (PEM) for AWS IoT Core")
	keyFile := fs.String("key", "", "the client certificate's private key (PEM)")
	caFile := fs.String("ca", "", "CA certificates (PEM) to trust for the broker, e.g. AmazonRootCA1.pem; default: the system's")
	telemetryEvery := fs.Duration("telemetry-every", 5*time.Second, "how often each device reports")
	leakEvery := fs.Duration("leak-every", 10*time.Minute, "mean time between leaks over all devices; 0: none")
	rate := fs.Float64("rate", 0, "readings per second over all devices, instead of -telemetry-every (load tests)")
	duration := fs.Duration("duration", 0, "stop after this long; 0: at Ctrl-C")
	environment := fs.String("environment", topics.LocalEnvironment, "the environment whose telemetry rule valves send to through Basic Ingest (the CDK stack's -c environment; local: make run's)")
	basicIngest := fs.Bool("basic-ingest", true, "valves send telemetry through Basic Ingest ($aws/rules/plainview_<environment>_device_telemetry/...); false: on plainview/devices/<id>/telemetry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *duration < 0 {
		return errors.New("-duration must not be negative")
	}
	telemetryRule := ""
	if *basicIngest {
		if !validEnvironment(*environment) {
			return fmt.Errorf("-environment %q: letters, digits and _ only (it is part of an IoT rule name)", *environment)
		}
		telemetryRule = topics.RuleName(*environment, topics.TelemetryRule)
	}
	devices, err := loadDevices(*devicesFile)
	if err != nil {
		return err
	}
	tlsConfig, err := loadTLS(*certFile, *keyFile, *caFile)
	if err != nil {
		return err
	}
	sim, err := simulator.New(simulator.Options{
		URL: *url, Devices: devices, TLS: tlsConfig, TelemetryRule: telemetryRule,
		TelemetryEvery: *telemetryEvery, LeakEvery: *leakEvery, Rate: *rate,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintf(stdout, "Simulating %d devices from %s on %s; Ctrl-C stops.\n", len(devices), *devicesFile, *url)
	err = sim.Run(ctx)
	fmt.Fprintln(stdout, sim.Stats())
	return err
}

// validEnvironment: what an IoT rule name may hold, and not empty.
func validEnvironment(env string) bool {
	for _, c := range env {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return env != ""
}

// devicesFile is the local stack's list of devices and their logins.
type devicesFile struct {
	Devices []struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		Asset string `json:"asset"`
		Token string `json:"token"`
	} `json:"devices"`
}

func loadDevices(path string) ([]simulator.Device, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("devices file %s does not exist: start the local stack (make run) first, or pass -devices", path)
	}
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	var f devicesFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("devices file %s: %w", path, err)
	}
	if len(f.Devices) == 0 {
		return nil, fmt.Errorf("devices file %s lists no devices", path)
	}
	out := make([]simulator.Device, 0, len(f.Devices))
	for _, d := range f.Devices {
		out = append(out, simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset, Token: d.Token})
	}
	return out, nil
}

// loadTLS builds the TLS configuration for AWS IoT Core: the device's
// client certificate, and the CAs to trust for the broker (the system's
// when caFile is ""). It returns nil when no file is given: the local
// broker speaks plain MQTT.
func loadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
