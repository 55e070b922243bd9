// Command localstack runs the whole Plainview system on this machine, with
// no AWS account and no Docker (make run). Ctrl-C stops it cleanly; its
// data stays in the data folder for the next start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/local/simulator"
	"github.com/plainview/serverless/shared/local/stack"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

// simDevices are the stack's device logins as the simulator takes them.
func simDevices(logins []stack.DeviceLogin) []simulator.Device {
	out := make([]simulator.Device, len(logins))
	for i, d := range logins {
		out[i] = simulator.Device{ID: d.ID, Kind: d.Kind, Asset: d.Asset, Token: d.Token}
	}
	return out
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("localstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg stack.Config
	fs.StringVar(&cfg.DynamoAddr, "dynamodb-addr", "127.0.0.1:8000", "address of DynamoDB Local (unused when DYNAMODB_ENDPOINT names another DynamoDB)")
	fs.StringVar(&cfg.MQTTAddr, "mqtt-addr", "127.0.0.1:1883", "address of the MQTT broker")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:3000", "address of the API gateway")
	fs.StringVar(&cfg.DataDir, "data", ".localstack", "folder for the data kept across restarts")
	noSim := fs.Bool("no-simulator", false, "do not run the device simulator")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the flags are printed, as asked
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	env, err := config.Load(getenv)
	if err != nil {
		return err
	}
	cfg.TableName, cfg.Version, cfg.DynamoEndpoint = env.TableName, env.Version, env.DynamoDBEndpoint
	if cfg.DynamoEndpoint != "" && !loopback(cfg.DynamoEndpoint) {
		// Another machine's DynamoDB (AWS itself, say): your credentials.
		aws, err := awsconfig.LoadDefaultConfig(context.Background())
		if err != nil {
			return fmt.Errorf("DYNAMODB_ENDPOINT %s: AWS configuration: %w", cfg.DynamoEndpoint, err)
		}
		cfg.DynamoAWS = &aws
	}
	cfg.RequireKeyForReads = env.RequireKeyForReads
	if cfg.CORS, err = cors.Parse(env.CORSOrigins); err != nil {
		return fmt.Errorf("CORS_ORIGINS: %w", err)
	}
	cfg.DevAPIKey = getenv("PLAINVIEW_DEV_API_KEY")
	for name, d := range map[string]*time.Duration{"KEY_CACHE_TTL": &cfg.KeyCacheTTL, "AUTHORIZER_CACHE_TTL": &cfg.AuthorizerCacheTTL} {
		if v := getenv(name); v != "" {
			if *d, err = time.ParseDuration(v); err != nil || *d < 0 {
				return fmt.Errorf("%s must be a duration such as 60s, not %q", name, v)
			}
		}
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: env.LogLevel}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Plainview local stack is up.
  API:      %s   (try: curl %s/valves)
  DynamoDB: %s   (DynamoDB Local: DYNAMODB_ENDPOINT, aws --endpoint-url; table %q)
  MQTT:     %s   (operator login: %s / %s)
  Keys:     %s   (go run ./scripts/keys list -file %s)
  Data:     %s
`, st.APIURL, st.APIURL, st.DynamoURL, cfg.TableName, st.MQTTURL, st.Operator.Username, st.Operator.Password,
		st.KeysFile, st.KeysFile, cfg.DataDir)
	if st.DevKey != "" {
		fmt.Fprintf(stdout, `
Development API key (shown this once; only its hash is kept):
  %s
  curl -H 'X-API-Key: %s' -X POST %s/valves/v-101/actuate -H 'Content-Type: application/json' -d '{"command":"OPEN"}'
`, st.DevKey, st.DevKey, st.APIURL)
	}
	waitSim := func() {}
	if !*noSim {
		sim, err := simulator.New(simulator.Options{
			URL: st.MQTTURL, Devices: simDevices(st.Devices), LeakEvery: 10 * time.Minute,
			TelemetryRule: topics.RuleName(stack.Environment, topics.TelemetryRule),
			Logger:        cfg.Logger.With("component", "simulator"),
		})
		if err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
		done := make(chan error, 1)
		go func() { done <- sim.Run(ctx) }()
		synced := make(chan struct{})
		go func() {
			defer close(synced)
			followInventory(ctx, st, sim, cfg.Logger)
		}()
		// The devices go first at Ctrl-C, so what they send is taken in
		// before the stack saves and stops.
		waitSim = func() {
			<-synced
			if err := <-done; err != nil {
				fmt.Fprintln(stderr, "simulator:", err)
			}
			fmt.Fprintln(stdout, "simulator:", sim.Stats())
		}
		fmt.Fprintf(stdout, "  Simulator: %d devices (telemetry every 5 s, a leak about every 10 min; -no-simulator turns it off)\n", len(st.Devices))
	}
	fmt.Fprintln(stdout, "Ctrl-C stops it.")
	<-ctx.Done()
	waitSim()
	fmt.Fprintln(stdout, "stopping: saving data")
	return st.Close()
}

// loopback says whether endpoint is on this machine, where a DynamoDB
// Local takes placeholder credentials.
func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// followInventory keeps the simulator's fleet the inventory's devices
// until ctx ends, from the stack's own periodic sync: a valve or section
// registered through the API has its device simulated within the sync's
// period (2 s), and a retired one stops.
func followInventory(ctx context.Context, st *stack.Stack, sim *simulator.Simulator, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case logins := <-st.DeviceSyncs():
			if _, _, err := sim.Sync(simDevices(logins)); err != nil && ctx.Err() == nil {
				log.Warn("simulator: following the inventory", "error", err)
			}
		}
	}
}
